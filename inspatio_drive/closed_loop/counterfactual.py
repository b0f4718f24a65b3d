"""Counterfactual scenes: the same scene seen from a perturbed ego path, written as NAVSIM v2-style synthetic
scenes (``Scene.save_to_disk`` layout, reference §2.5) that :func:`inspatio_drive.data.synthetic_scenes.read_synthetic_scene`
(the format's one reader, re-exported here) loads back.

A :class:`Perturbation` moves the whole ego path rigidly about the current pose (``lateral_m`` to the left,
``heading_deg`` counter-clockwise) and re-times it (``speed_factor``: the ego is where the logged ego was at
``speed_factor · t``). Other agents keep their logged global boxes, re-expressed in the new ego frames; the
LiDAR points of each frame are re-expressed in the new ego frame (same sweep seen from elsewhere: no new
occlusions); camera images are novel views from ``render_fn`` (the geometric renderer, or generated frames).

On disk (``out_root``)::

    synthetic_scene_pickles/<scene_token>.pkl   # {scene_metadata, frames, extended_traffic_light_data, extended_detections_tracks}
    sensor_blobs/<log_name>/<CAM_xx>/<token>_<i>.jpg, MergedPointCloud/<token>_<i>.pcd

:func:`write_synthetic_scene` writes a :class:`Scene` as navsim's ``Scene.save_to_disk`` does: its frames, and its
``extended_detections`` / ``extended_traffic_lights`` as pickled nuplan ``DetectionsTracks`` /
``TrafficLightStatuses`` (:mod:`inspatio_drive.data.nuplan_records`: named by their nuplan module paths, so
navsim's own ``pickle.load`` builds real nuplan objects; nuplan is never imported here). A counterfactual scene
keeps its future frames (with their rendered views); the second-stage follow-ups are cut to navhard's layout first
(:func:`inspatio_drive.closed_loop.second_stage.follow_up_scenes`: history frames, the future as extended steps).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from inspatio_drive.closed_loop.geometric import resize_image
from inspatio_drive.data.nuplan_records import (
    detections_tracks_record,
    dump_with_nuplan_records,
    traffic_light_statuses_record,
)
from inspatio_drive.data.pcd import write_pcd
from inspatio_drive.data.synthetic_scenes import (
    read_synthetic_scene as read_synthetic_scene,  # the format's one reader
)
from inspatio_drive.data.types import Annotations, EgoStatus, Lidar, Scene
from inspatio_drive.data.writers import write_jpeg
from inspatio_drive.geometry.intrinsics import resize_intrinsics
from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2
from inspatio_drive.render import RenderCameras, build_point_cloud, render_candidates
from inspatio_drive.render.mono_depth import depth_from_config, wants_oracle_depth
from inspatio_drive.world_model.condition import check_image_size, check_num_frames

CAMERA_KEYS = ("cam_f0", "cam_l0", "cam_l1", "cam_l2", "cam_r0", "cam_r1", "cam_r2", "cam_b0")


@dataclass(frozen=True)
class RenderedView:
    """A novel view and the intrinsics ``[3, 3]`` (pixels of ``image``) it was rendered with."""

    image: NDArray[np.uint8]
    intrinsics: NDArray[np.float64]


RenderFn = Callable[[Scene, int, NDArray[np.float64]], Mapping[str, "NDArray[np.uint8] | RenderedView"]]
"""``render_fn(scene, frame_index, new_global_pose[3]) → {CAM_xx: uint8 [H, W, 3] | RenderedView}``; a bare
image keeps the camera's logged intrinsics (it must then have the logged image size)."""


@dataclass(frozen=True)
class Perturbation:
    """``lateral_m`` (left, m), ``heading_deg`` (counter-clockwise), ``speed_factor`` (> 0) about the current pose."""

    name: str
    lateral_m: float = 0.0
    heading_deg: float = 0.0
    speed_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed_factor > 0:
            raise ValueError(f"perturbation {self.name}: speed_factor must be > 0, got {self.speed_factor}")


def perturbed_poses(poses: NDArray[np.float64], times_s: NDArray[np.float64], current: int,
                    p: Perturbation) -> NDArray[np.float64]:
    """Global ego poses ``[N, 3]`` at ``times_s [N]`` → perturbed global poses ``[N, 3]``."""
    poses = np.asarray(poses, np.float64)
    t = np.asarray(times_s, np.float64) - times_s[current]
    # re-time: position along the logged path at speed_factor · t (linear interpolation, unwrapped heading)
    src_t = np.clip(t * p.speed_factor, t[0], t[-1])
    heading = np.unwrap(poses[:, 2])
    timed = np.stack([np.interp(src_t, t, poses[:, 0]), np.interp(src_t, t, poses[:, 1]),
                      np.interp(src_t, t, heading)], -1)
    # rigid offset about the current pose: into its frame, shift/rotate, back to global
    local = absolute_to_relative_se2(poses[current], timed)
    shifted = relative_to_absolute_se2(np.array([0.0, p.lateral_m, np.deg2rad(p.heading_deg)]), local)
    out = relative_to_absolute_se2(poses[current], shifted)
    out[:, 2] = np.arctan2(np.sin(out[:, 2]), np.cos(out[:, 2]))
    return out


def _reexpress_boxes(ann: Annotations | None, old: NDArray[np.float64], new: NDArray[np.float64]) -> Annotations | None:
    if ann is None or len(ann.boxes) == 0:
        return ann
    boxes = ann.boxes.copy()
    moved = absolute_to_relative_se2(new, relative_to_absolute_se2(old, ann.boxes[:, [0, 1, 6]]))
    boxes[:, [0, 1, 6]] = moved
    vel = ann.velocity_3d.copy()
    vel[:, :2] = _rotate(ann.velocity_3d[:, :2], old[2] - new[2])
    return replace(ann, boxes=boxes, velocity_3d=vel)


def _rotate(xy: NDArray[np.float64], angle: float) -> NDArray[np.float64]:
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * xy[:, 0] - s * xy[:, 1], s * xy[:, 0] + c * xy[:, 1]], -1)


def _reexpress_points(points: NDArray[np.float32] | None, old: NDArray[np.float64], new: NDArray[np.float64]) -> NDArray[np.float32] | None:
    if points is None or points.size == 0:
        return points
    xy0 = np.zeros((points.shape[1], 3))
    xy0[:, :2] = points[:2].T
    out = points.copy()
    out[:2] = absolute_to_relative_se2(new, relative_to_absolute_se2(old, xy0))[:, :2].T.astype(np.float32)
    return out


def synthetic_token(token: str, name: str, length: int = 16) -> str:
    """A deterministic token of ``length`` hex characters for frame ``token`` seen under ``name`` (navsim treats a
    17-character scene token as synthetic: the second-stage scenes use ``length=17``)."""
    return hashlib.sha1(f"{token}/{name}".encode()).hexdigest()[:length]


def counterfactual_scene(scene: Scene, p: Perturbation, render_fn: RenderFn | None = None,
                         token_length: int = 16) -> Scene:
    """The perturbed scene in memory (global ego statuses, re-expressed boxes and LiDAR, novel views); frame tokens
    of ``token_length`` characters."""
    poses = np.stack([f.ego_status.ego_pose for f in scene.frames]).astype(np.float64)
    times = np.array([f.timestamp for f in scene.frames], np.float64) * 1e-6
    new = perturbed_poses(poses, times, scene.current_index, p)
    frames = []
    for i, (f, old_pose, new_pose) in enumerate(zip(scene.frames, poses, new, strict=True)):
        status = EgoStatus(new_pose, (f.ego_status.ego_velocity * p.speed_factor).astype(np.float32),
                           (f.ego_status.ego_acceleration * p.speed_factor**2).astype(np.float32),
                           f.ego_status.driving_command, True)
        images = dict(render_fn(scene, i, new_pose)) if render_fn is not None else {}
        cams = {}
        for name, cam in f.cameras.items():
            view = images.get(name)
            if isinstance(view, RenderedView):
                cams[name] = replace(cam, image=view.image, intrinsics=np.asarray(view.intrinsics, np.float64),
                                     data_path=None)
            else:
                cams[name] = replace(cam, image=view, data_path=None)
        lidar = Lidar(_reexpress_points(f.lidar.points, old_pose, new_pose)) if f.lidar is not None else f.lidar
        frames.append(replace(f, token=synthetic_token(f.token, p.name, token_length), ego_status=status, cameras=cams,
                              lidar=lidar, annotations=_reexpress_boxes(f.annotations, old_pose, new_pose)))
    meta = replace(scene.scene_metadata, scene_token=synthetic_token(scene.scene_metadata.scene_token, p.name, token_length),
                   initial_token=frames[scene.current_index].token)
    return Scene(meta, frames)


def write_synthetic_scene(scene: Scene, original: Scene | None, out_root: str | Path,
                          corresponding: tuple[str, str] | None = None) -> Path:
    """Write a (counterfactual) scene in navsim v2's ``Scene.save_to_disk`` layout; returns the pickle path.

    ``frames``: the scene's frames (``camera_dict`` with all eight camera keys, as navsim's ``Cameras`` need;
    ``{}`` for a camera the frame lacks; a camera without image keeps its calibration with ``data_path`` None —
    navsim's writer would drop it to ``{}``; navsim loads either while the camera is not in its sensor config);
    ``extended_detections_tracks`` / ``extended_traffic_light_data``: the scene's
    ``extended_detections`` / ``extended_traffic_lights`` as pickled nuplan objects (``None`` when it has none).
    ``corresponding``: ``(corresponding_original_scene, corresponding_original_initial_token)`` — by default the
    ``scene_token`` / ``initial_token`` of ``original`` (a second-stage scene names the log frame it continues, the
    final frame of its stage-one scene, and that stage-one scene)."""
    out_root = Path(out_root)
    blobs = out_root / "sensor_blobs"
    token = scene.scene_metadata.initial_token
    log = scene.scene_metadata.log_name
    frames = []
    for i, f in enumerate(scene.frames):
        camera_dict: dict[str, Any] = {}
        for key in CAMERA_KEYS:
            cam = f.cameras.get(key.upper())
            if cam is None:
                camera_dict[key] = {}  # navsim's Cameras need all eight keys; {} = no camera
                continue
            rel = None
            if cam.image is not None:
                rel = f"{log}/{key.upper()}/{token}_{i}.jpg"
                write_jpeg(blobs / rel, cam.image)
            camera_dict[key] = {"data_path": rel, "sensor2lidar_rotation": cam.sensor2ego_rotation,
                                "sensor2lidar_translation": cam.sensor2ego_translation,
                                "cam_intrinsic": cam.intrinsics, "distortion": cam.distortion}
        lidar_rel = None
        if f.lidar is not None and f.lidar.points is not None and f.lidar.points.size:
            lidar_rel = f"{log}/MergedPointCloud/{token}_{i}.pcd"
            (blobs / lidar_rel).parent.mkdir(parents=True, exist_ok=True)
            write_pcd(blobs / lidar_rel, f.lidar.points)
        frames.append({
            "token": f.token, "timestamp": int(f.timestamp), "roadblock_ids": list(f.roadblock_ids),
            "traffic_lights": [(int(a), bool(b)) for a, b in f.traffic_lights],
            "annotations": None if f.annotations is None else asdict(f.annotations),
            "ego_status": {k: np.asarray(v) if not isinstance(v, bool) else v for k, v in asdict(f.ego_status).items()},
            "lidar_path": lidar_rel, "camera_dict": camera_dict,
        })
    meta = asdict(scene.scene_metadata)
    if corresponding is None:
        if original is None:
            raise ValueError("write_synthetic_scene: give the original scene or corresponding=(scene, initial token)")
        corresponding = (original.scene_metadata.scene_token, original.scene_metadata.initial_token)
    meta["corresponding_original_scene"], meta["corresponding_original_initial_token"] = corresponding
    lights, objects = scene.extended_traffic_lights, scene.extended_detections
    payload = {"scene_metadata": meta, "frames": frames,
               "extended_traffic_light_data": None if lights is None else [traffic_light_statuses_record(s) for s in lights],
               "extended_detections_tracks": None if objects is None else [detections_tracks_record(s) for s in objects]}
    path = out_root / "synthetic_scene_pickles" / f"{scene.scene_metadata.scene_token}.pkl"  # navsim v2 naming
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pkl.tmp")
    with open(tmp, "wb") as fh:
        dump_with_nuplan_records(payload, fh, protocol=4)
    tmp.replace(path)
    return path


class GeometricRenderFn:
    """:data:`RenderFn` of the geometric renderer: the coloured point cloud of the scene's real history (built
    once per scene, in the current ego frame; static world) rendered at each perturbed pose.

    Args:
        cameras: cameras rendered; image_size: ``(W, H)`` (intrinsics rescaled to it).
        frames: ``all`` | ``history`` (history + current frames only) | ``current`` — which frames get images.
        sweeps, voxel_size, splat, hole_fill, device: renderer knobs (:mod:`inspatio_drive.render`).
        depth, mono, exposure_match: the cloud's geometry (``lidar`` | ``depth_anything`` | ``da3`` | ``oracle`` |
            ``lidar+mono``), its monocular depth node and per-camera exposure matching
            (:func:`~inspatio_drive.render.mono_depth.depth_from_config`; camera-only futures, docs/camera_only.md).
        oracle_depths: ``(scene, frames) -> true depths per (frame, camera)`` (the sandbox oracle's
            ``history_depths``), needed by ``depth=oracle``.
    """

    def __init__(self, cameras: Sequence[str] = tuple(k.upper() for k in CAMERA_KEYS),
                 image_size: Sequence[int] = (480, 270), frames: str = "all", sweeps: int = 4,
                 voxel_size: float = 0.1, splat: int = 2, hole_fill: int = 1, device: str = "cpu",
                 depth: str = "lidar", mono: Mapping[str, Any] | None = None, exposure_match: bool = False,
                 oracle_depths: Callable[[Scene, int], Mapping] | None = None) -> None:
        if frames not in ("all", "history", "current"):
            raise ValueError(f"frames must be all, history or current, got {frames!r}")
        self.depth, self.mono, self.exposure_match = str(depth or "lidar"), dict(mono or {}), bool(exposure_match)
        self.oracle_depths = oracle_depths
        self._wants_oracle = wants_oracle_depth(self.depth, self.mono)
        if self._wants_oracle and oracle_depths is None:
            raise ValueError("depth=oracle needs the sandbox oracle's true depths (a sandbox data root)")
        # a monocular model is loaded once; the oracle's true depths are looked up per scene
        self._depth_kw = None if self._wants_oracle else depth_from_config(self.depth, self.mono)
        self.cameras, self.frames = tuple(cameras), frames
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.sweeps, self.voxel_size, self.splat, self.hole_fill = int(sweeps), float(voxel_size), int(splat), int(hole_fill)
        self.device = device
        self._key: str | None = None
        self._points: Any = None
        self._rig: Any = None

    def _prepare(self, scene: Scene) -> None:
        key = scene.scene_metadata.initial_token
        if key == self._key:
            return
        current = scene.frames[scene.current_index]
        names = [n for n in self.cameras if n in current.cameras]
        if not names:
            raise ValueError(f"scene {key}: none of the cameras {list(self.cameras)} in the current frame")
        cams = {}
        for n in names:
            c = current.cameras[n]
            src = c.image_size
            cams[n] = replace(c, intrinsics=resize_intrinsics(np.asarray(c.intrinsics, np.float64), src, self.image_size))
        self._rig = RenderCameras.from_cameras(cams, names, self.image_size)
        depth_kw: dict[str, Any] = {}
        if self.depth != "lidar" or self.exposure_match:  # camera-only / densified clouds use every loaded camera
            if self._wants_oracle:
                assert self.oracle_depths is not None
                truth = self.oracle_depths(scene, int(self.mono.get("frames", 1)))
                depth_kw = depth_from_config(self.depth, self.mono, truth)
            else:
                depth_kw = dict(self._depth_kw or {})
            depth_kw.update(cameras=list(current.cameras), exposure_match=self.exposure_match)
        self._points = build_point_cloud(scene.get_agent_input(), sweeps=self.sweeps, voxel_size=self.voxel_size,
                                         use_annotations=False, **depth_kw)
        self._key = key

    def wanted(self, scene: Scene, index: int) -> bool:
        """Whether frame ``index`` gets images under the ``frames`` rule."""
        cur = scene.current_index
        return not ((self.frames == "history" and index > cur) or (self.frames == "current" and index != cur))

    def to_ego0(self, scene: Scene, pose: NDArray[np.float64]) -> NDArray[np.float64]:
        """Global ``(x, y, heading)`` → ``[3]`` in the scene's current rear-axle frame."""
        origin = np.asarray(scene.frames[scene.current_index].ego_status.ego_pose, np.float64)
        return absolute_to_relative_se2(origin, np.asarray(pose, np.float64))

    def render_path(self, scene: Scene, poses_ego0: NDArray[np.float64]) -> tuple[Any, Any]:
        """Render the rig along ``poses_ego0 [T, 3]`` → (rgb uint8 ``[T, C, 3, H, W]``, valid bool ``[T, C, H, W]``)."""

        self._prepare(scene)
        poses = torch.as_tensor(np.asarray(poses_ego0, np.float64)).reshape(1, -1, 3)
        batch = render_candidates(self._points, poses, self._rig, times=torch.zeros(poses.shape[1], dtype=torch.float64),
                                  splat=self.splat, hole_fill=self.hole_fill, outputs=("rgb",), device=self.device)
        assert batch.rgb is not None
        return batch.rgb[0].cpu(), batch.valid[0].cpu()

    @property
    def names(self) -> tuple[str, ...]:
        """Rendered camera names (after the first scene is prepared)."""
        return tuple(self._rig.names) if self._rig is not None else ()

    @property
    def rig(self) -> Any:
        """The :class:`~inspatio_drive.render.RenderCameras` of the last prepared scene (intrinsics at ``image_size``)."""
        return self._rig

    def __call__(self, scene: Scene, index: int, pose: NDArray[np.float64]) -> dict[str, RenderedView]:
        if not self.wanted(scene, index):
            return {}
        rgb, _ = self.render_path(scene, self.to_ego0(scene, pose)[None])
        images = rgb[0].permute(0, 2, 3, 1).numpy()  # [C, H, W, 3]
        return {n: RenderedView(np.ascontiguousarray(images[c]), self._rig.intrinsics[c].numpy())
                for c, n in enumerate(self._rig.names)}


class GeneratedRenderFn:
    """:data:`RenderFn` of the world model: per camera, the logged image of the frame is the source and the
    geometric render along the straight path from the logged pose to the perturbed one (``frames`` poses) the
    condition; the last generated frame is the novel view. Real use needs the InSpatio-World checkpoint and a GPU.

    Args:
        geometric: the :class:`GeometricRenderFn` giving cameras, size, frames rule and the condition renders
            (image sides must be multiples of 16).
        generator: an :class:`~inspatio_drive.world_model.generator.InSpatioGenerator` (streaming ``generate``).
    """

    def __init__(self, geometric: GeometricRenderFn, generator: Any, frames: int = 9, seed: int = 0) -> None:
        check_image_size(geometric.image_size, "generated counterfactuals: image_size")
        check_num_frames(int(frames))
        self.geometric, self.generator, self.frames, self.seed = geometric, generator, int(frames), int(seed)

    def __call__(self, scene: Scene, index: int, pose: NDArray[np.float64]) -> dict[str, RenderedView]:
        g = self.geometric
        if not g.wanted(scene, index):
            return {}
        start = g.to_ego0(scene, scene.frames[index].ego_status.ego_pose)
        end = g.to_ego0(scene, pose)
        a = np.linspace(0.0, 1.0, self.frames)[:, None]
        dyaw = np.arctan2(np.sin(end[2] - start[2]), np.cos(end[2] - start[2]))
        path = np.concatenate([start[:2] + a * (end[:2] - start[:2]), start[2] + a * dyaw], axis=1)
        rgb, valid = g.render_path(scene, path)  # [T, C, 3, H, W], [T, C, H, W]
        out = {}
        for c, name in enumerate(g.names):
            cam = scene.frames[index].cameras.get(name)
            if cam is None or cam.image is None:
                cam = scene.frames[scene.current_index].cameras[name]
            if cam.image is None:
                raise ValueError(f"scene {scene.scene_metadata.initial_token}: no logged {name} image as the source")
            src = torch.as_tensor(np.array(resize_image(np.asarray(cam.image), g.image_size)))
            last = None
            with torch.no_grad():
                for block in self.generator.generate(src.permute(2, 0, 1)[None].float() / 255.0,
                                                     rgb[:, c][None].float() / 255.0, valid[:, c][None],
                                                     seed=self.seed + index):
                    last = block.frames
            if last is None:
                raise RuntimeError("world model returned no frames")
            image = (last[0, -1].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            out[name] = RenderedView(image, g.rig.intrinsics[c].numpy())
        return out


def export_counterfactuals(scenes: Sequence[Scene], perturbations: Sequence[Perturbation], out_root: str | Path,
                           render_fn: RenderFn | None = None, progress: bool = True) -> list[Path]:
    """Every scene × perturbation → synthetic scene pickles under ``out_root`` (tqdm progress)."""

    written = []
    with tqdm(total=len(scenes) * len(perturbations), desc="counterfactuals", unit="scene",
              disable=not progress) as bar:
        for scene in scenes:
            for p in perturbations:
                written.append(write_synthetic_scene(counterfactual_scene(scene, p, render_fn), scene, out_root))
                bar.update(1)
    return written
