"""Writers for OpenScene-format data: log pickles, camera JPEGs, and frame dicts.

Used by tests, the synthetic benchmark split and the procedural sandbox to produce a data root
that both this package and navsim can read (layout: ``navsim_logs/<split>/<log>.pkl`` and
``sensor_blobs/<split>/<log>/{CAM_*,MergedPointCloud}/<token>.{jpg,pcd}``). LiDAR: see
:func:`inspatio_drive.data.pcd.write_pcd`.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image


def write_jpeg(path: str | os.PathLike[str], image: ArrayLike, quality: int = 90) -> Path:
    """Write a uint8 ``[H, W, 3]`` RGB image as JPEG (parent folders created)."""

    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be uint8 [H, W, 3] RGB, got {img.dtype} {img.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="JPEG", quality=quality)
    return path


class Numpy1Pickler(pickle._Pickler):
    """A pickler whose numpy references read under numpy 1.x and 2.x alike, as the published OpenScene logs (written
    under numpy 1.x) do: numpy 2 pickles arrays and scalars through ``numpy._core.multiarray._reconstruct`` /
    ``.scalar``, a module numpy 1.x lacks; this writes ``numpy.core.multiarray.*`` instead (numpy 2 keeps those names
    importable, without a warning, for old pickles). Everything else is pickled as :mod:`pickle` does (the
    pure-Python pickler, which lets :meth:`save_global` be overridden)."""

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = getattr(obj, "__module__", None) or ""
        if module == "numpy._core" or module.startswith("numpy._core."):
            legacy = "numpy.core" + module[len("numpy._core"):]
            self.save(legacy)
            self.save(name or obj.__qualname__)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_log(path: str | os.PathLike[str], frames: Sequence[Mapping[str, Any]]) -> Path:
    """Pickle a list of OpenScene frame dicts (protocol 4, like the published logs; numpy 1.x reads it:
    :class:`Numpy1Pickler`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        Numpy1Pickler(fh, protocol=4).dump([dict(f) for f in frames])
    return path


def yaw_to_quaternion(yaw: float) -> np.ndarray:
    """Quaternion ``(w, x, y, z)`` of a rotation by ``yaw`` rad about z (OpenScene ``ego2global_rotation``)."""
    return np.array([np.cos(yaw / 2.0), 0.0, 0.0, np.sin(yaw / 2.0)])


def camera_dict(
    data_path: str,
    sensor2lidar_rotation: ArrayLike,
    sensor2lidar_translation: ArrayLike,
    cam_intrinsic: ArrayLike,
    distortion: ArrayLike | None = None,
) -> dict[str, Any]:
    """One entry of a frame's ``cams`` dict (``sensor2lidar_*`` = camera → ego rear axle, OpenCV axes)."""
    return {
        "data_path": data_path,
        "sensor2lidar_rotation": np.asarray(sensor2lidar_rotation, dtype=np.float64).reshape(3, 3),
        "sensor2lidar_translation": np.asarray(sensor2lidar_translation, dtype=np.float64).reshape(3),
        "cam_intrinsic": np.asarray(cam_intrinsic, dtype=np.float64).reshape(3, 3),
        "distortion": np.zeros(5) if distortion is None else np.asarray(distortion, dtype=np.float64).reshape(5),
    }


def frame_dict(
    *,
    token: str,
    timestamp: int,
    log_name: str,
    map_location: str,
    ego_pose: ArrayLike,
    ego_dynamic_state: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    roadblock_ids: Sequence[str] = (),
    traffic_lights: Sequence[tuple[int, bool]] = (),
    driving_command: Sequence[int] = (0, 1, 0, 0),
    cams: Mapping[str, Mapping[str, Any]] | None = None,
    lidar_path: str = "",
    anns: Mapping[str, Any] | None = None,
    frame_idx: int = 0,
    scene_token: str = "",
    scene_name: str = "",
    log_token: str = "",
    vehicle_name: str = "",
    sample_prev: str | None = None,
    sample_next: str | None = None,
) -> dict[str, Any]:
    """Build one OpenScene frame dict (schema of ``create_openscene_metadata.py``) from a planar ego pose.

    Args:
        ego_pose: global rear-axle ``(x, y, heading)`` (UTM m, rad); z = 0, pitch = roll = 0.
        ego_dynamic_state: ``[vx, vy, ax, ay]`` in the ego frame.
        cams: ``CAM_*`` → :func:`camera_dict`; readers require all eight of ``CAMERA_NAMES``.
        anns: ``gt_boxes [N,7]`` (ego frame), ``gt_names``, ``gt_velocity_3d``, ``instance_tokens``,
            ``track_tokens``; default: no objects.
    """
    x, y, yaw = (float(v) for v in np.asarray(ego_pose, dtype=np.float64).reshape(3))
    q = yaw_to_quaternion(yaw)
    c, s = np.cos(yaw), np.sin(yaw)
    ego2global = np.eye(4)
    ego2global[:2, :2] = [[c, -s], [s, c]]
    ego2global[:3, 3] = [x, y, 0.0]
    vx, vy, ax, ay = (float(v) for v in ego_dynamic_state)
    can_bus = np.zeros(18)
    can_bus[0:3] = [x, y, 0.0]
    can_bus[3:7] = q
    can_bus[7:9] = [ax, ay]
    can_bus[10:12] = [vx, vy]
    if anns is None:
        anns = {
            "gt_boxes": np.zeros((0, 7)),
            "gt_names": np.zeros((0,), dtype="<U12"),
            "gt_velocity_3d": np.zeros((0, 3)),
            "instance_tokens": [],
            "track_tokens": [],
        }
    return {
        "token": token,
        "frame_idx": frame_idx,
        "timestamp": int(timestamp),
        "log_name": log_name,
        "log_token": log_token,
        "scene_name": scene_name,
        "scene_token": scene_token,
        "map_location": map_location,
        "roadblock_ids": [str(r) for r in roadblock_ids],
        "vehicle_name": vehicle_name,
        "can_bus": can_bus,
        "lidar_path": lidar_path,
        "lidar2ego_translation": np.zeros(3),
        "lidar2ego_rotation": np.array([1.0, 0.0, 0.0, 0.0]),
        "ego2global_translation": np.array([x, y, 0.0]),
        "ego2global_rotation": q,
        "ego2global": ego2global,
        "lidar2ego": np.eye(4),
        "lidar2global": ego2global.copy(),
        "ego_dynamic_state": [vx, vy, ax, ay],
        "traffic_lights": [(int(i), bool(r)) for i, r in traffic_lights],
        "driving_command": np.asarray(driving_command, dtype=np.int64),
        "cams": {name: dict(cam) for name, cam in (cams or {}).items()},
        "sample_prev": sample_prev,
        "sample_next": sample_next,
        "anns": dict(anns),
    }
