"""The oracle: the TRUE view of a sandbox world from any ego pose at any time.

``Oracle(world_or_dir).render(camera, ego_pose, t) -> View(rgb, depth, instance)``

Conventions:
    * ``ego_pose`` = rear-axle pose ``(x, y, heading[, z, pitch, roll])`` in the **global** (UTM) frame of the
      logs by default (``frame="local"`` for world-local coordinates); metres / radians; heading about z
      (left positive), pitch about the ego y axis (nose down positive), roll about x; ``R = Rz·Ry·Rx``.
    * ``t`` = seconds since the first logged frame (frame ``i`` is at ``t = 0.5 · i``).
    * ``camera`` = a rig name (``CAM_F0`` …) of the world's nuPlan-like rig at its image size, or a
      :class:`CameraModel` (``K [3, 3]`` in pixels, ``T_ego_cam [4, 4]`` camera (OpenCV) → ego, width, height).
    * ``rgb`` uint8 ``[H, W, 3]``; ``depth`` float32 ``[H, W]`` metres along the optical axis (``inf`` for sky);
      ``instance`` int32 ``[H, W]`` (−1 sky, 0 ground, ``k + 1`` = ``world.actors[k]``).
    * LiDAR points: float32 ``[6, N]`` rows (x, y, z, intensity, ring, lidar_info) in the ego (rear-axle) frame.
"""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.geometry.rig import nuplan_like_rig
from inspatio_drive.sandbox.raycast import Raycaster
from inspatio_drive.sandbox.scenarios import generate_scene
from inspatio_drive.sandbox.world import World

WORLD_FILE = "sandbox_world.json"
RAY_CHUNK = 1 << 20  # rays shaded at once


class View(NamedTuple):
    rgb: NDArray[np.uint8]
    depth: NDArray[np.float32]
    instance: NDArray[np.int32]


@dataclass
class CameraModel:
    """A pinhole camera: ``K [3, 3]`` (pixels of a ``width × height`` image), ``T_ego_cam [4, 4]``."""

    K: NDArray[np.float64]
    T_ego_cam: NDArray[np.float64]
    width: int
    height: int


@dataclass
class LidarModel:
    """A spinning LiDAR at ``origin`` (ego frame, m): ``channels`` rings between ``elevation`` (deg) and
    ``azimuths`` columns over 360°, ``max_range`` metres."""

    channels: int = 32
    azimuths: int = 720
    elevation: tuple[float, float] = (-25.0, 10.0)
    origin: tuple[float, float, float] = (1.0, 0.0, 1.9)
    max_range: float = 80.0


@dataclass
class RenderConfig:
    """Sensor settings of a world: image size (intrinsics of the nuPlan-like rig scaled to it), LiDAR,
    ground-texture resolution and shadows; ``workers`` shading threads (results do not depend on it)."""

    width: int = 480
    height: int = 270
    lidar: LidarModel = field(default_factory=LidarModel)
    texture_res: float = 0.1
    shadows: bool = True
    workers: int = 0  # shading threads (0 = all cores); not part of the world's truth

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "texture_res": self.texture_res,
                "shadows": self.shadows, "lidar": {k: getattr(self.lidar, k) for k in
                                                   ("channels", "azimuths", "elevation", "origin", "max_range")}}

    @classmethod
    def from_dict(cls, d: dict) -> RenderConfig:
        lidar = d.get("lidar", {})
        return cls(int(d.get("width", 480)), int(d.get("height", 270)),
                   LidarModel(int(lidar.get("channels", 32)), int(lidar.get("azimuths", 720)),
                              tuple(lidar.get("elevation", (-25.0, 10.0))), tuple(lidar.get("origin", (1.0, 0.0, 1.9))),
                              float(lidar.get("max_range", 80.0))),
                   float(d.get("texture_res", 0.1)), bool(d.get("shadows", True)))


def ego_matrix(pose: ArrayLike) -> NDArray[np.float64]:
    """``[4, 4]`` ego → world for ``(x, y, heading[, z, pitch, roll])``."""
    p = np.zeros(6)
    v = np.asarray(pose, dtype=np.float64).ravel()
    if v.size not in (3, 6):
        raise ValueError(f"ego_pose must be (x, y, heading) or (x, y, heading, z, pitch, roll), got {v.size} values")
    p[: v.size] = v
    x, y, h, z, pitch, roll = p
    ch, sh, cp, sp, cr, sr = np.cos(h), np.sin(h), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rz = np.array([[ch, -sh, 0], [sh, ch, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    m = np.eye(4)
    m[:3, :3] = rz @ ry @ rx
    m[:3, 3] = [x, y, z]
    return m


def camera_rays(cam: CameraModel, T_world_ego: NDArray) -> tuple[NDArray, NDArray]:
    """Origins and directions ``[H·W, 3]`` (row-major pixels) in the world; directions have unit camera z."""
    u, v = np.meshgrid(np.arange(cam.width, dtype=np.float64), np.arange(cam.height, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=0)
    T = T_world_ego @ cam.T_ego_cam
    d_cam = np.linalg.inv(cam.K) @ pix  # [3, HW], z = 1 for a pinhole K
    dirs = (d_cam.T @ (T[:3, :3].T)) / d_cam[2][:, None]
    origins = np.broadcast_to(T[:3, 3], dirs.shape)
    return origins, dirs


class Oracle:
    """Ground-truth renderer of a sandbox world.

    Args:
        source: a :class:`World`, or a folder holding ``sandbox_world.json`` (written next to a log's sensor
            blobs by :func:`inspatio_drive.sandbox.writer.write_split`), that file, or the log pickle.
        config: sensor settings; default: those stored with the world (or :class:`RenderConfig` defaults).
    """

    def __init__(self, source: World | str | os.PathLike[str], config: RenderConfig | None = None):
        stored: RenderConfig | None = None
        if isinstance(source, World):
            world = source
        else:
            world, stored = load_world(source)
        self.world = world
        self.config = config or stored or RenderConfig()
        self._caster: Raycaster | None = None
        self.rig = {name: CameraModel(K, T, self.config.width, self.config.height)
                    for name, (K, T) in nuplan_like_rig(self.config.width, self.config.height).items()}

    def time_of(self, timestamp_us: int) -> float:
        """Oracle time ``t`` (s) of a log timestamp (µs, OpenScene ``timestamp`` / navsim ``Frame.timestamp``)."""
        return (int(timestamp_us) - self.world.start_timestamp) / 1e6

    @property
    def caster(self) -> Raycaster:
        if self._caster is None:
            self._caster = Raycaster(self.world, self.config.texture_res, self.config.shadows)
        return self._caster

    def _ego(self, ego_pose: ArrayLike | None, t: float, frame: str) -> NDArray[np.float64]:
        if ego_pose is None:
            return ego_matrix(self.world.ego.at(t)["pose"])
        p = np.array(ego_pose, dtype=np.float64).ravel()
        if frame == "global":
            p[:2] -= self.world.origin
        elif frame != "local":
            raise ValueError(f"frame must be 'global' or 'local', got {frame!r}")
        return ego_matrix(p)

    def _camera(self, camera: str | CameraModel) -> CameraModel:
        if isinstance(camera, CameraModel):
            return camera
        if camera not in self.rig:
            raise KeyError(f"unknown camera {camera!r}; expected one of {tuple(self.rig)} or a CameraModel")
        return self.rig[camera]

    def render(self, camera: str | CameraModel, ego_pose: ArrayLike | None, t: float, frame: str = "global") -> View:
        """True view of one camera; see the module docstring for conventions. ``ego_pose=None``: the
        logged ego pose at ``t``."""
        return self.render_many([camera], ego_pose, t, frame)[0]

    def render_many(self, cameras: list[str | CameraModel], ego_pose: ArrayLike | None, t: float,
                    frame: str = "global") -> list[View]:
        """True views of several cameras from one ego pose, cast in a single Embree call."""
        return self._render_poses([self._ego(ego_pose, t, frame)], [self._camera(c) for c in cameras], t)[0]

    def render_batch(self, cameras: list[str | CameraModel], ego_poses: ArrayLike, times: ArrayLike,
                     frame: str = "global") -> list[list[View]]:
        """True views for many ego poses (e.g. every pose of every candidate trajectory).

        Args:
            cameras: rig names or :class:`CameraModel` s, rendered for every pose.
            ego_poses: ``[N, 3]`` or ``[N, 6]`` rear-axle poses (see the module docstring).
            times: ``[N]`` seconds since the first logged frame (one per pose), or a scalar.

        Returns:
            ``views[i][j]``: pose ``i``, camera ``j``. Poses sharing a time are cast in one Embree call.
        """
        poses = np.asarray(ego_poses, dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] not in (3, 6):
            raise ValueError(f"ego_poses must be [N, 3] or [N, 6], got shape {poses.shape}")
        ts = np.broadcast_to(np.asarray(times, dtype=np.float64), (len(poses),))
        cams = [self._camera(c) for c in cameras]
        out: list[list[View]] = [[] for _ in range(len(poses))]
        for t in np.unique(ts):
            idx = np.flatnonzero(ts == t)
            views = self._render_poses([self._ego(poses[i], float(t), frame) for i in idx], cams, float(t))
            for i, v in zip(idx, views):
                out[i] = v
        return out

    def _render_poses(self, Ts: list[NDArray], cams: list[CameraModel], t: float) -> list[list[View]]:
        rays = [camera_rays(c, T) for T in Ts for c in cams]
        origins = np.concatenate([r[0] for r in rays])
        dirs = np.concatenate([r[1] for r in rays])
        del rays
        total = len(dirs)
        rgb = np.empty((total, 3), np.uint8)
        depth = np.empty(total, np.float32)
        inst = np.empty(total, np.int32)
        workers = self.config.workers or os.cpu_count() or 1
        chunk = max(min(RAY_CHUNK, -(-total // workers)), 1)  # bounded memory at 1920×1080

        def shade(a: int) -> None:
            out = self.caster.shade(origins[a:a + chunk], dirs[a:a + chunk], t)
            rgb[a:a + chunk] = (out["rgb"] * 255.0 + 0.5).astype(np.uint8)
            depth[a:a + chunk] = out["tfar"]
            inst[a:a + chunk] = out["instance"]

        self.caster.geometry(t)  # build the scene once, before the threads share it
        starts = range(0, total, chunk)
        if workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(min(workers, len(starts))) as pool:
                list(pool.map(shade, starts))
        else:
            for a in starts:
                shade(a)
        views: list[list[View]] = []
        k = 0
        for _ in Ts:
            per_pose = []
            for c in cams:
                n = c.width * c.height
                per_pose.append(View(rgb[k:k + n].reshape(c.height, c.width, 3),
                                     depth[k:k + n].reshape(c.height, c.width), inst[k:k + n].reshape(c.height, c.width)))
                k += n
            views.append(per_pose)
        return views

    def render_rig(self, ego_pose: ArrayLike | None, t: float, frame: str = "global") -> dict[str, View]:
        """All 8 cameras of the rig."""
        return dict(zip(self.rig, self.render_many(list(self.rig), ego_pose, t, frame)))

    def history_depths(self, scene: Any, cameras: list[str] | None = None,
                       frames: int | None = None) -> dict[tuple[int, str], NDArray[np.float32]]:
        """The true depth of every loaded history image of a navsim ``Scene`` of this world (privileged: a perfect
        monocular depth model): ``{(frame, camera): [H, W] metres (inf = sky)}``, ``frame`` = history index, each
        camera at its own intrinsics, extrinsics and image size, at the frame's logged global pose and time; only the
        last ``frames`` history frames (default all)."""
        out: dict[tuple[int, str], NDArray[np.float32]] = {}
        first = 0 if frames is None else max(0, scene.current_index + 1 - int(frames))
        for i, frame in enumerate(scene.frames[: scene.current_index + 1]):
            if i < first:
                continue
            cams = [c for n, c in frame.cameras.items() if c.image is not None and (cameras is None or n in cameras)]
            if not cams:
                continue
            models = [CameraModel(np.asarray(c.intrinsics, np.float64), np.asarray(c.T_ego_cam, np.float64),
                                  *c.image_size) for c in cams]
            views = self.render_many(models, np.asarray(frame.ego_status.ego_pose, np.float64),
                                     self.time_of(frame.timestamp))
            for c, view in zip(cams, views):
                out[(i, c.name)] = view.depth
        return out

    def lidar(self, ego_pose: ArrayLike | None, t: float, frame: str = "global") -> NDArray[np.float32]:
        """Merged point cloud ``[6, N]`` (x, y, z, intensity 0–255, ring, lidar_info = 0) in the ego frame."""
        lm = self.config.lidar
        T = self._ego(ego_pose, t, frame)
        el = np.deg2rad(np.linspace(lm.elevation[0], lm.elevation[1], lm.channels))
        az = np.arange(lm.azimuths) * (2 * np.pi / lm.azimuths)
        e, a = np.meshgrid(el, az, indexing="ij")
        d_ego = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
        ring = np.repeat(np.arange(lm.channels), lm.azimuths).astype(np.float32)
        o_ego = np.asarray(lm.origin, np.float64)
        origins = np.broadcast_to(T[:3, :3] @ o_ego + T[:3, 3], d_ego.shape)
        out = self.caster.shade(origins, d_ego @ T[:3, :3].T, t)
        keep = out["tfar"] < lm.max_range
        pts = o_ego + d_ego[keep] * out["tfar"][keep, None]
        intensity = np.clip(255.0 * out["reflectivity"][keep] * (0.3 + 0.7 * out["cos"][keep]), 0, 255)
        return np.stack([pts[:, 0], pts[:, 1], pts[:, 2], intensity, ring[keep], np.zeros(keep.sum())]).astype(
            np.float32)


def save_world_spec(path: str | os.PathLike[str], world: World, config: RenderConfig) -> Path:
    """Write what regenerates ``world`` (scenario, seed, generation parameters, the map location it was written
    under) and its sensor settings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {"scenario": world.scenario, "seed": world.seed, "params": world.params, "location": world.location,
            "render": config.to_dict()}
    path.write_text(json.dumps(spec, indent=1))
    return path


def load_world(path: str | os.PathLike[str]) -> tuple[World, RenderConfig]:
    """Regenerate a world from ``sandbox_world.json``, a folder holding it (``sensor_blobs/<split>/<log>``),
    or the log pickle ``navsim_logs/<split>/<log>.pkl`` of a written split."""

    p = Path(path)
    if p.suffix == ".pkl":  # navsim_logs/<split>/<log>.pkl -> sensor_blobs/<split>/<log>/
        p = p.resolve().parents[2] / "sensor_blobs" / p.parent.name / p.stem
    if p.is_dir():
        p = p / WORLD_FILE
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no sandbox world spec (expected {WORLD_FILE} written by write_split)")
    try:
        spec = json.loads(p.read_text())
        params = dict(spec["params"])
        params["origin"] = tuple(params["origin"])
        world = generate_scene(spec["scenario"], int(spec["seed"]), **params)
        if spec.get("location"):  # the map location of the written logs (a nuPlan name, see sandbox.gpkg)
            world = dataclasses.replace(world, location=str(spec["location"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: malformed sandbox world spec ({exc}); expected keys scenario, seed, params") from exc
    return world, RenderConfig.from_dict(spec.get("render", {}))
