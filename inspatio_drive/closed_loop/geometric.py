"""Imagined camera observations at simulated poses: the geometric renderer, and the world model on top of it.

:class:`GeometricObserver` builds the coloured point cloud of the scene's real history **once**, in the
initial ego frame (``ego0``: the scene's current rear axle, x forward, y left, z up), from what a NAVSIM agent
sees (history LiDAR + camera images, no annotations: every point is static — moving agents stay where the
history left them). At every simulated pose it re-renders the chosen cameras (any subset, any size) and
re-expresses the history LiDAR (:class:`~inspatio_drive.closed_loop.observers.LidarWorldObserver`) there.

History: the agent input holds the last ``n`` frames the planner would have seen: real frames (resized to
the observer's image size) for times before the scene's current frame, imagined frames afterwards. By
default the first step sees the real current frame (``real_first``), so the first plan is exactly the
open-loop plan of ``evaluate``.

:class:`WorldModelObserver` (``generator=inspatio``) feeds, per camera, the previous observation as the source
frame and the geometric render along the 0.5 s step (9 poses) as the condition to InSpatio-World, and takes
the last generated frame as the new observation. Real use needs the 1.3B checkpoint and a GPU; tests run it
with tiny random weights on the CPU (the images are then noise, the plumbing is what is tested).

Observation drift (sandbox scenes): with an :class:`~inspatio_drive.sandbox.Oracle`, the true view at the same
pose and time is rendered and compared with what the planner saw: PSNR (dB, on the pixels the observation
covers) and coverage (fraction of covered pixels), written into the rollout's per-step records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from inspatio_drive.closed_loop.observers import LidarWorldObserver
from inspatio_drive.closed_loop.rollout import relative_pose
from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar, Scene
from inspatio_drive.geometry.intrinsics import NAVSIM_IMAGE_SIZE, resize_intrinsics
from inspatio_drive.render import (
    DYNAMIC_MODES,
    RenderCameras,
    build_point_cloud,
    object_motion,
    object_poses,
    render_candidates,
    tracks_from_scene,
)
from inspatio_drive.render.dynamic import move_points
from inspatio_drive.render.mono_depth import depth_from_config, wants_oracle_depth
from inspatio_drive.sandbox.oracle import WORLD_FILE, CameraModel, Oracle
from inspatio_drive.world_model.condition import check_image_size, check_num_frames

DRIVOR_CAMERAS = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")


def psnr_valid(pred: NDArray[np.uint8], target: NDArray[np.uint8], valid: NDArray[np.bool_]) -> float:
    """PSNR (dB, peak 255) of ``pred`` vs ``target`` (uint8 ``[..., H, W, 3]``) over the ``valid [..., H, W]``
    pixels; ``nan`` when no pixel is valid, ``inf`` for identical pixels."""
    if pred.shape != target.shape or pred.shape[:-1] != valid.shape:
        raise ValueError(f"psnr_valid: shapes {pred.shape}, {target.shape}, mask {valid.shape} do not match")
    if not valid.any():
        return float("nan")
    diff = pred[valid].astype(np.float64) - target[valid].astype(np.float64)
    mse = float((diff**2).mean())
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def resize_image(image: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """uint8 ``[H, W, 3]`` → ``[size[1], size[0], 3]`` (bilinear; unchanged when already that size)."""
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image

    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


@dataclass
class ObservedFrame:
    """One frame as the planner saw it: ``cameras`` (images at the observer's size, intrinsics for that size),
    ``lidar`` (ego frame of that frame), ``valid`` per camera ``[H, W]`` (covered pixels), ``imagined``."""

    cameras: dict[str, Camera]
    lidar: Lidar
    valid: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    imagined: bool = True


@dataclass
class StepView:
    """What one closed-loop step showed: the planner's images, the oracle's (if any), coverage masks."""

    step: int
    images: dict[str, NDArray[np.uint8]]
    valid: dict[str, NDArray[np.bool_]]
    oracle: dict[str, NDArray[np.uint8]] | None = None


class GeometricObserver:
    """Camera images rendered from the scene's coloured history point cloud at every simulated pose.

    Args:
        scene: the scene (its history frames must have LiDAR and camera images loaded).
        cameras: camera subset rendered (default DrivoR's four).
        image_size: ``(W, H)`` of the observation images (intrinsics are rescaled to it).
        sweeps, voxel_size: point-cloud knobs (:func:`inspatio_drive.render.build_point_cloud`).
        splat, hole_fill: splat side (pixels) and hole-filling iterations of the renderer.
        oracle: a sandbox :class:`~inspatio_drive.sandbox.Oracle` of the scene's world → drift metrics.
        real_first: the first step sees the real current frame (else an imagined one at the same pose).
        dynamic: ``static`` (honest: every point stays where the history left it), ``privileged`` (points inside
            the logged boxes move along the logged tracks — uses logged futures) or ``constant_velocity`` (they
            move at the boxes' last history velocity; the boxes are the logged ones, so the tracks are ground
            truth); with a moving mode the imagined LiDAR is the moved point cloud (x, y, z; other rows 0).
        device: where to render (``cuda`` for the GPU path).
        depth, mono: the cloud's geometry (``lidar`` | ``depth_anything`` | ``da3`` | ``oracle`` | ``lidar+mono``) and
            monocular depth node (:func:`~inspatio_drive.render.mono_depth.depth_from_config`); ``oracle`` = the
            sandbox oracle's true depth (needs ``oracle``). ``exposure_match``: match the cameras' exposures.
    """

    def __init__(self, scene: Scene, cameras: Sequence[str] = DRIVOR_CAMERAS, image_size: Sequence[int] = (160, 96),
                 sweeps: int = 4, voxel_size: float = 0.1, splat: int = 2, hole_fill: int = 1,
                 oracle: Any = None, real_first: bool = True, dynamic: str = "static", device: str = "cpu",
                 depth: str = "lidar", mono: dict[str, Any] | None = None, exposure_match: bool = False) -> None:
        self.image_size = (int(image_size[0]), int(image_size[1]))
        if min(self.image_size) < 2:
            raise ValueError(f"image_size must be (W, H) >= 2 pixels, got {tuple(image_size)}")
        current = scene.frames[scene.current_index]
        missing = [c for c in cameras if c not in current.cameras]
        if missing or not cameras:
            raise ValueError(f"scene {scene.scene_metadata.initial_token}: cameras {missing or list(cameras)} not "
                             f"in the current frame (has {sorted(current.cameras)})")
        self.camera_names = tuple(cameras)
        self.scene = scene
        self.origin = np.asarray(current.ego_status.ego_pose, np.float64)  # ego0 in the global frame
        self.start_us = int(current.timestamp)
        self.splat, self.hole_fill, self.device = int(splat), int(hole_fill), device
        self.real_first = bool(real_first)
        self.oracle = oracle
        # source size of the stored intrinsics: the loaded image's, else NAVSIM's 1920×1080
        self._src_size = {n: c.image_size for n, c in current.cameras.items()}
        self.rig = RenderCameras.from_cameras(
            {n: replace(current.cameras[n], intrinsics=self._scaled_k(current.cameras[n])) for n in self.camera_names},
            self.camera_names, self.image_size)
        if dynamic not in DYNAMIC_MODES or dynamic == "forecast":
            raise ValueError(f"dynamic must be static, privileged or constant_velocity, got {dynamic!r}")
        self.dynamic = dynamic
        tracks = tracks_from_scene(scene) if dynamic != "static" else None
        wants_oracle = wants_oracle_depth(depth, mono)
        if wants_oracle and oracle is None:
            raise ValueError(f"scene {scene.scene_metadata.initial_token}: depth=oracle needs a sandbox scene "
                             "(closed_loop.oracle=auto and a sandbox_world.json)")
        frames = int(dict(mono or {}).get("frames", 1))
        depth_kw = depth_from_config(depth, mono, oracle.history_depths(scene, frames=frames) if wants_oracle else None)
        self.points = build_point_cloud(scene.get_agent_input(), sweeps=sweeps, voxel_size=voxel_size,
                                        cameras=list(current.cameras), tracks=tracks, use_annotations=False,
                                        exposure_match=exposure_match, **depth_kw)
        self.lidar_world = LidarWorldObserver(scene)
        self._real = [self._real_frame(f) for f in scene.frames[: scene.current_index + 1]]
        self._history: list[ObservedFrame] = list(self._real)
        self.views: list[StepView] = []
        self.last_metrics: dict[str, float | None] = {}

    # -- helpers ---------------------------------------------------------------------------------------
    def _scaled_k(self, cam: Camera) -> NDArray[np.float64]:
        src = self._src_size.get(cam.name, NAVSIM_IMAGE_SIZE)
        return resize_intrinsics(np.asarray(cam.intrinsics, np.float64), src, self.image_size)

    def _camera(self, template: Camera, image: NDArray[np.uint8]) -> Camera:
        return Camera(template.name, image, self._scaled_k(template), template.sensor2ego_rotation,
                      template.sensor2ego_translation, template.distortion)

    def _real_frame(self, frame: Any) -> ObservedFrame:
        """A logged frame as the planner saw it (images resized; a history camera not loaded stays empty)."""
        is_current = frame is self.scene.frames[self.scene.current_index]
        cams, valid = {}, {}
        for n in self.camera_names:
            cam = frame.cameras.get(n)
            if cam is None or cam.image is None:
                if is_current:
                    raise ValueError(f"scene {self.scene.scene_metadata.initial_token}: the current frame has no "
                                     f"image for {n} (load the camera sensors)")
                template = self.scene.frames[self.scene.current_index].cameras[n]
                cams[n] = replace(self._camera(template, np.zeros((1, 1, 3), np.uint8)), image=None)
                valid[n] = np.zeros(self.image_size[::-1], bool)
                continue
            cams[n] = self._camera(cam, resize_image(np.asarray(cam.image), self.image_size))
            valid[n] = np.ones(self.image_size[::-1], bool)
        return ObservedFrame(cams, frame.lidar, valid, imagined=False)

    def pose_ego0(self, state: NDArray[np.float64]) -> NDArray[np.float64]:
        """Global ``(x, y, heading, ...)`` → ``[3]`` pose in ego0."""
        return relative_pose(self.origin, np.asarray(state[:3], np.float64))

    def render(self, poses_ego0: NDArray[np.float64], t_s: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Render the rig at ``poses_ego0 [T, 3]`` → (rgb uint8 ``[T, C, 3, H, W]``, valid bool ``[T, C, H, W]``)."""

        poses = torch.as_tensor(np.asarray(poses_ego0, np.float64)).reshape(1, -1, 3)
        times = None if t_s is None else torch.as_tensor(np.asarray(t_s, np.float64))
        if times is None:
            times = torch.arange(poses.shape[1], dtype=torch.float64) * 0.5  # static world: unused
        batch = render_candidates(self.points, poses, self.rig, times=times, splat=self.splat,
                                  hole_fill=self.hole_fill, dynamic_mode=self.dynamic, outputs=("rgb",),
                                  device=self.device)
        assert batch.rgb is not None
        return batch.rgb[0].cpu(), batch.valid[0].cpu()

    def imagine(self, state: NDArray[np.float64], t_us: int) -> ObservedFrame:
        """The imagined frame at global ``state``: rendered cameras + re-expressed history LiDAR."""
        rgb, valid = self.render(self.pose_ego0(state)[None], [(t_us - self.start_us) * 1e-6])
        template = self.scene.frames[self.scene.current_index].cameras
        cams = {n: self._camera(template[n], rgb[0, c].permute(1, 2, 0).numpy().copy())
                for c, n in enumerate(self.camera_names)}
        return ObservedFrame(cams, self.lidar_at(state, t_us), {n: valid[0, c].numpy() for c, n in
                                                                 enumerate(self.camera_names)})

    def lidar_at(self, state: NDArray[np.float64], t_us: int) -> Lidar:
        """Imagined LiDAR at global ``state``: the history sweeps re-expressed there (static world), or with a
        moving ``dynamic`` mode the point cloud with its objects moved to time ``t_us`` (float32 ``[6, N]``)."""
        if self.dynamic == "static" or self.points.tracks is None or not bool((self.points.instance >= 0).any()):
            return self.lidar_world.lidar_at(state)

        t = torch.tensor([(t_us - self.start_us) * 1e-6], dtype=torch.float64)
        motion = object_motion(self.points.tracks, object_poses(self.points.tracks, t, self.dynamic))[:, 0]
        xyz = move_points(self.points.xyz, self.points.instance, motion).double().numpy()  # [N, 3] ego0
        p = self.pose_ego0(state)
        c, s = np.cos(p[2]), np.sin(p[2])
        dx, dy = xyz[:, 0] - p[0], xyz[:, 1] - p[1]
        out = np.zeros((6, len(xyz)), np.float32)
        out[0], out[1], out[2] = c * dx + s * dy, -s * dx + c * dy, xyz[:, 2]
        return Lidar(out)

    def oracle_views(self, state: NDArray[np.float64], t_us: int) -> dict[str, NDArray[np.uint8]]:
        """The true images of the rig at global ``state`` and time ``t_us`` (needs an oracle)."""

        if self.oracle is None:
            raise RuntimeError("no oracle: drift metrics need a sandbox scene")
        w, h = self.image_size
        models = [CameraModel(self.rig.intrinsics[c].numpy(), self.rig.T_ego_cam[c].numpy(), w, h)
                  for c in range(len(self.camera_names))]
        t = (t_us - self.oracle.world.start_timestamp) * 1e-6
        views = self.oracle.render_many(models, np.asarray(state[:3], np.float64), t, frame="global")
        return {n: v.rgb for n, v in zip(self.camera_names, views, strict=True)}

    # -- the Observer protocol -------------------------------------------------------------------------
    def observe(self, ego_statuses: list[EgoStatus], current_state: NDArray[np.float64], step: int,
                t_us: int) -> AgentInput:
        n = len(ego_statuses)
        if step == 0:
            self._history = list(self._real)
            self.views = []
            if not self.real_first:
                self._history[-1] = self.imagine(current_state, t_us)
        else:
            self._history.append(self.imagine(current_state, t_us))
        frames = self._history[-n:]
        if len(frames) != n:
            raise ValueError(f"closed loop: {n} ego statuses but only {len(frames)} observed frames")
        now = frames[-1]
        images = {k: c.image for k, c in now.cameras.items() if c.image is not None}
        coverage = float(np.mean([v.mean() for v in now.valid.values()]))
        psnr = None
        oracle = None
        if self.oracle is not None:
            oracle = self.oracle_views(current_state, t_us)
            psnr = psnr_valid(np.stack([images[k] for k in self.camera_names]),
                              np.stack([oracle[k] for k in self.camera_names]),
                              np.stack([now.valid[k] for k in self.camera_names]))
        self.last_metrics = {"psnr_db": psnr, "coverage": coverage}
        self.views.append(StepView(step, images, dict(now.valid), oracle))
        return AgentInput(list(ego_statuses), [f.cameras for f in frames], [f.lidar for f in frames])


class WorldModelObserver(GeometricObserver):
    """InSpatio-World imagines each new observation from the previous one and the geometric render.

    Args:
        generator: an :class:`~inspatio_drive.world_model.generator.InSpatioGenerator` (or anything with its
            ``generate(source [1, 3, H, W], render [K, T, 3, H, W], mask [K, T, H, W])`` streaming API).
        frames: condition frames per 0.5 s step (``4·L − 3`` with ``L`` a multiple of 3: 9, 21…).
        seed: noise seed of the generator (step ``s`` uses ``seed + s``).
        (other arguments: :class:`GeometricObserver`; image sides must be multiples of 16.)
    """

    def __init__(self, scene: Scene, generator: Any, frames: int = 9, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(scene, **kwargs)

        check_image_size(self.image_size, "world-model observer: image_size")
        check_num_frames(int(frames))
        self.generator, self.frames, self.seed = generator, int(frames), int(seed)
        self._last_state: NDArray[np.float64] | None = None
        self._last_t_us = self.start_us

    def observe(self, ego_statuses: list[EgoStatus], current_state: NDArray[np.float64], step: int,
                t_us: int) -> AgentInput:
        if step == 0:
            self._last_state = np.asarray(current_state, np.float64).copy()
            self._last_t_us = t_us
        out = super().observe(ego_statuses, current_state, step, t_us)
        self._last_state, self._last_t_us = np.asarray(current_state, np.float64).copy(), t_us
        return out

    @torch.no_grad()
    def imagine(self, state: NDArray[np.float64], t_us: int) -> ObservedFrame:
        geo = super().imagine(state, t_us)
        if self._last_state is None:
            return geo
        p0, p1 = self.pose_ego0(self._last_state), self.pose_ego0(state)
        a = np.linspace(0.0, 1.0, self.frames)[:, None]
        dyaw = np.arctan2(np.sin(p1[2] - p0[2]), np.cos(p1[2] - p0[2]))
        path = np.concatenate([p0[:2] + a * (p1[:2] - p0[:2]), p0[2] + a * dyaw], axis=1)  # [T, 3]
        t0, t1 = (self._last_t_us - self.start_us) * 1e-6, (t_us - self.start_us) * 1e-6
        rgb, valid = self.render(path, np.linspace(t0, t1, self.frames))  # [T, C, 3, H, W], [T, C, H, W]
        previous = self._history[-1]
        cams = {}
        for c, n in enumerate(self.camera_names):
            source = torch.as_tensor(np.array(previous.cameras[n].image)).permute(2, 0, 1)[None].float() / 255.0
            render = rgb[:, c][None].float() / 255.0  # [1, T, 3, H, W]
            last = None
            for block in self.generator.generate(source, render, valid[:, c][None],
                                                 seed=self.seed + len(self.views)):
                last = block.frames
            if last is None:
                raise RuntimeError("world model returned no frames")
            image = (last[0, -1].float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            cams[n] = replace(geo.cameras[n], image=image)
        return ObservedFrame(cams, geo.lidar, {n: np.ones(self.image_size[::-1], bool) for n in self.camera_names})


def sandbox_oracle(blobs_root: str | Path, log_name: str) -> Any:
    """The oracle of a sandbox log (``sensor_blobs/<split>/<log>/sandbox_world.json``), or ``None`` for a
    scene that is not a sandbox scene."""
    folder = Path(blobs_root) / log_name

    if not (folder / WORLD_FILE).is_file():
        return None
    return Oracle(folder)
