"""A synthetic OpenScene split (logs + sensor blobs) for tests and the data benchmark.

The ego drives a gentle S-curve at ~8 m/s; every frame has eight cameras (OpenCV axes, yawed around
the car like nuPlan's rig), a LiDAR PCD and a few annotated boxes. Layout:
``<root>/navsim_logs/<split>/<log>.pkl`` and ``<root>/sensor_blobs/<split>/<log>/{CAM_*,MergedPointCloud}/``.
Images are smooth gradients + noise written as JPEG (so decoding cost is realistic for the size).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from inspatio_drive.data.pcd import write_pcd
from inspatio_drive.data.types import CAMERA_NAMES
from inspatio_drive.data.writers import camera_dict, frame_dict, write_jpeg, write_log

# camera yaw (rad, CCW from the ego x axis) of nuPlan's eight cameras, approximately
_CAMERA_YAW = {
    "CAM_F0": 0.0,
    "CAM_L0": np.deg2rad(55),
    "CAM_L1": np.deg2rad(90),
    "CAM_L2": np.deg2rad(125),
    "CAM_R0": -np.deg2rad(55),
    "CAM_R1": -np.deg2rad(90),
    "CAM_R2": -np.deg2rad(125),
    "CAM_B0": np.pi,
}


@dataclass(frozen=True)
class SyntheticSplit:
    """Paths of a written split: ``data_path`` (logs), ``sensor_blobs_path``, log names, and all frame tokens."""

    root: Path
    data_path: Path
    sensor_blobs_path: Path
    log_names: list[str]
    tokens: list[list[str]]  # per log, per frame


def camera_to_ego_rotation(yaw: float) -> NDArray[np.float64]:
    """``[3, 3]`` rotation camera (OpenCV: x right, y down, z forward) → ego (x fwd, y left, z up) for a
    camera looking horizontally along ego yaw ``yaw``."""
    base = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns: cam x, y, z in ego
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz @ base


def _token(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:16]


def write_synthetic_split(
    root: str | os.PathLike[str],
    num_logs: int = 2,
    frames_per_log: int = 28,
    split: str = "synthetic",
    image_size: tuple[int, int] = (64, 36),
    lidar_points: int = 256,
    sensors: bool = True,
    route_every: int = 1,
    seed: int = 0,
    image_cameras: tuple[str, ...] = CAMERA_NAMES,
    progress: bool = False,
) -> SyntheticSplit:
    """Write a synthetic OpenScene split.

    Args:
        root: data root (``OPENSCENE_DATA_ROOT``-like); created.
        num_logs: number of log pickles.
        frames_per_log: 2 Hz frames per log (14 = exactly one non-overlapping scene).
        image_size: ``(W, H)`` of the JPEGs; intrinsics match this size.
        lidar_points: points per PCD.
        sensors: write JPEGs and PCDs (``False``: logs only, sensor paths dangle).
        route_every: frame ``i`` has a route iff ``i % route_every == 0`` (1 = always).
        seed: RNG seed.
        image_cameras: cameras whose JPEGs are written when ``sensors`` (others are listed in the log
            but their files are absent).
        progress: show a tqdm bar over logs.
    """

    rng = np.random.default_rng(seed)
    root = Path(root)
    data_path = root / "navsim_logs" / split
    blobs = root / "sensor_blobs" / split
    w, h = image_size
    f = 0.5 * w / np.tan(np.deg2rad(35))
    intrinsics = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    yy, xx = np.mgrid[:h, :w]
    log_names, all_tokens = [], []
    for li in tqdm(range(num_logs), desc="Writing synthetic logs", disable=not progress, leave=False):
        log_name = f"2021.06.0{1 + li % 9}.12.00.00_veh-{li:02d}_synthetic"
        tokens = [_token(seed, li, i) for i in range(frames_per_log)]
        origin = np.array([664000.0 + 50.0 * li, 3997000.0 + 30.0 * li])
        frames = []
        for i, token in enumerate(tokens):
            t = 0.5 * i
            yaw = 0.3 + 0.2 * np.sin(0.15 * t)
            x, y = origin + 8.0 * t * np.array([np.cos(0.3), np.sin(0.3)]) + [0.0, 2.0 * np.sin(0.15 * t)]
            cams = {}
            for name in CAMERA_NAMES:
                rel = f"{log_name}/{name}/{token}.jpg"
                cams[name] = camera_dict(rel, camera_to_ego_rotation(_CAMERA_YAW[name]), [1.5, 0.0, 1.6], intrinsics)
                if sensors and name in image_cameras:
                    base = (xx * 3 + yy * 5 + i * 7 + CAMERA_NAMES.index(name) * 40) % 256
                    img = np.stack([base, (base + 85) % 256, (base + 170) % 256], -1).astype(np.int32)
                    img = np.clip(img + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
                    write_jpeg(blobs / rel, img, quality=90)
            lidar_rel = f"{log_name}/MergedPointCloud/{token}.pcd"
            if sensors:
                pts = rng.normal(size=(6, lidar_points)).astype(np.float32) * [[20], [20], [1], [50], [16], [2]]
                pts[4:] = np.abs(np.round(pts[4:]))
                write_pcd(blobs / lidar_rel, pts)
            n_obj = 3
            boxes = np.column_stack([rng.uniform(-30, 30, (n_obj, 2)), np.zeros(n_obj), np.tile([4.5, 1.9, 1.6], (n_obj, 1)), rng.uniform(-np.pi, np.pi, n_obj)])
            anns = {
                "gt_boxes": boxes,
                "gt_names": np.array(["vehicle", "pedestrian", "bicycle"]),
                "gt_velocity_3d": np.zeros((n_obj, 3)),
                "instance_tokens": [_token("inst", li, i, k) for k in range(n_obj)],
                "track_tokens": [_token("track", li, k) for k in range(n_obj)],
            }
            frames.append(
                frame_dict(
                    token=token,
                    timestamp=1622548800_000000 + li * 10_000_000_000 + i * 500_000,
                    log_name=log_name,
                    map_location="us-nv-las-vegas-strip",
                    ego_pose=(x, y, yaw),
                    ego_dynamic_state=(8.0, 0.0, 0.1 * np.cos(t), 0.0),
                    roadblock_ids=["20001", "40003"] if i % route_every == 0 else [],
                    traffic_lights=[(50002, bool(i % 4 == 0))],
                    driving_command=(0, 1, 0, 0),
                    cams=cams,
                    lidar_path=lidar_rel,
                    anns=anns,
                    frame_idx=i,
                    scene_token=_token("scene", li, i // 40),
                    scene_name=f"{log_name}_scene",
                    log_token=_token("log", li),
                    vehicle_name=f"veh-{li:02d}",
                    sample_prev=tokens[i - 1] if i else None,
                    sample_next=tokens[i + 1] if i + 1 < frames_per_log else None,
                )
            )
        write_log(data_path / f"{log_name}.pkl", frames)
        log_names.append(log_name)
        all_tokens.append(tokens)
    return SyntheticSplit(root, data_path, blobs, log_names, all_tokens)
