"""``inspatio-drive bench-render``: throughput of the batched geometric renderer (``configs/bench_render.yaml``).

Workload (DrivoR): ``K = 64`` candidates × ``T = 8`` poses × ``C = 4`` cameras at 480×270 from a point
cloud of 4 LiDAR sweeps (procedural street, ~120k points per sweep, coloured from 4 cameras, voxel
0.1 m). Reports ms per scene and views/s of :func:`render_candidates`, and the same inputs rendered one
view at a time (``single_views`` views timed, extrapolated to ``K·T·C``).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.geometry.camera_poses import ego0_to_camera
from inspatio_drive.geometry.rig import nuplan_like_rig
from inspatio_drive.render.point_cloud import build_point_cloud
from inspatio_drive.render.renderer import render_candidates, render_views
from inspatio_drive.render.splat import unpack_keys
from inspatio_drive.render.synthetic import make_street, synthetic_agent_input
from inspatio_drive.render.types import ColoredPoints, RenderCameras
from inspatio_drive.threads import limit_threads

USER_ERRORS = (KeyError,)
"""User errors of this command besides the common ones (:data:`inspatio_drive.commands.base.USER_ERRORS`):
the ``KeyError`` of an unknown camera name."""


def fan_of_candidates(k: int, t: int, interval: float = 0.5) -> np.ndarray:
    """``[k, t, 3]`` constant-speed, constant-yaw-rate candidates (speeds 3–12 m/s, yaw rates ±0.35 rad/s)."""
    n_speed = max(1, round(float(np.sqrt(k / 2))))
    n_yaw = int(np.ceil(k / n_speed))
    speeds = np.linspace(3.0, 12.0, n_speed)
    yaws = np.linspace(-0.35, 0.35, n_yaw)
    out = []
    for v in speeds:
        for w in yaws:
            tt = np.arange(1, t + 1) * interval
            h = w * tt
            if abs(w) < 1e-9:
                x, y = v * tt, np.zeros_like(tt)
            else:
                x, y = v / w * np.sin(h), v / w * (1 - np.cos(h))
            out.append(np.stack([x, y, h], -1))
    return np.stack(out[:k])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_view_at_a_time(
    points: ColoredPoints,
    trajectories: np.ndarray,
    cameras: RenderCameras,
    image_size: tuple[int, int],
    splat: int,
    hole_fill: int,
    views: int,
    device: torch.device,
    backend: str = "auto",
) -> float:
    """Seconds per view when each view is z-buffered on its own (same code path, batch of one, the same
    outputs written); ``views`` views spread evenly over the workload."""
    cams = cameras.resized(image_size)
    w2c = ego0_to_camera(torch.as_tensor(trajectories), cams.T_ego_cam).reshape(-1, 4, 4)
    intr = cams.intrinsics.to(device=device, dtype=torch.float32)
    c_count = len(cams.names)
    xyz = points.xyz.to(device)
    colours = torch.cat([points.rgb.to(device), torch.zeros(1, 3, dtype=torch.uint8, device=device)])
    n = min(views, len(w2c))
    picks = np.linspace(0, len(w2c) - 1, n).round().astype(int)
    w, h = image_size
    depth = torch.empty((n, h, w), dtype=torch.float32, device=device)
    index = torch.empty((n, h, w), dtype=torch.int32, device=device)
    valid = torch.empty((n, h, w), dtype=torch.bool, device=device)
    rgb = torch.empty((n, h, w, 3), dtype=torch.uint8, device=device)
    _sync(device)
    start = time.perf_counter()
    for j, i in enumerate(picks):
        keys = render_views(
            xyz,
            w2c[i : i + 1].to(device),
            intr[i % c_count][None],
            image_size,
            splat,
            hole_fill,
            backend=backend,
        )
        d, idx, v = unpack_keys(keys)
        depth[j], index[j], valid[j] = d[0], idx[0], v[0]
        rgb[j] = colours[idx[0].long()]
    _sync(device)
    return (time.perf_counter() - start) / n


def run(cfg: Any) -> dict[str, Any]:
    if cfg.threads:
        limit_threads(int(cfg.threads))
    device = torch.device(str(cfg.device))
    size = (int(cfg.image_size[0]), int(cfg.image_size[1]))
    names = tuple(str(c) for c in cfg.cameras)
    t0 = time.perf_counter()
    street = make_street(float(cfg.scene.synthetic_step))
    agent_input, street = synthetic_agent_input(
        street,
        image_size=tuple(int(v) for v in cfg.scene.history_image_size),
        cameras=names,
        lidar_resolution=tuple(int(v) for v in cfg.scene.lidar_resolution),
    )
    t1 = time.perf_counter()
    pc = build_point_cloud(
        agent_input,
        sweeps=int(cfg.sweeps),
        voxel_size=float(cfg.voxel_size),
        tracks=street.tracks(np.arange(-3, 9) * 0.5),
    )
    t_cloud = time.perf_counter() - t1
    rig = RenderCameras.from_rig(nuplan_like_rig(1920, 1080, names), (1920, 1080))
    trajs = fan_of_candidates(int(cfg.candidates), int(cfg.poses))
    kw = {
        "splat": int(cfg.splat),
        "hole_fill": int(cfg.hole_fill),
        "dynamic_mode": str(cfg.dynamic_mode),
        "outputs": tuple(cfg.outputs),
        "device": device,
        "backend": str(cfg.backend),
    }
    pts = pc.to(device)
    for _ in range(int(cfg.warmup)):
        render_candidates(pts, trajs, rig, size, **kw)
    times = []
    for _ in range(int(cfg.repeats)):
        _sync(device)
        s = time.perf_counter()
        rb = render_candidates(pts, trajs, rig, size, **kw)
        _sync(device)
        times.append(time.perf_counter() - s)
    n_views = int(np.prod(rb.valid.shape[:3]))
    per_scene = statistics.median(times)
    single = one_view_at_a_time(
        pts,
        trajs,
        rig,
        size,
        int(cfg.splat),
        int(cfg.hole_fill),
        int(cfg.single_views),
        device,
        str(cfg.backend),
    )
    result = {
        "workload": f"{cfg.candidates} candidates × {cfg.poses} poses × {len(names)} cameras at {size[0]}×{size[1]}",
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "backend": rb.meta["backend"],
        "cpu": platform.processor() or platform.machine(),
        "points": len(pc),
        "lidar_points_before_voxel": pc.meta["lidar_points"],
        "views": n_views,
        "batched_ms_per_scene": 1e3 * per_scene,
        "batched_views_per_s": n_views / per_scene,
        "single_view_ms_per_view": 1e3 * single,
        "single_view_ms_per_scene": 1e3 * single * n_views,
        "single_view_views_per_s": 1.0 / single,
        "speedup": single * n_views / per_scene,
        "point_cloud_ms": 1e3 * t_cloud,
        "scene_setup_s": t1 - t0,
        "mean_coverage": float(rb.coverage().mean()),
        "repeats_s": times,
        "settings": {
            "splat": int(cfg.splat),
            "hole_fill": int(cfg.hole_fill),
            "voxel_size": float(cfg.voxel_size),
            "outputs": list(cfg.outputs),
            "dynamic_mode": str(cfg.dynamic_mode),
        },
    }
    return result


@handles_user_errors("bench-render", USER_ERRORS)
def main(overrides: list[str]) -> int:
    cfg = compose_command("bench-render", "bench_render", overrides)
    if cfg is None:
        return 2
    result = run(cfg)
    print(
        f"bench-render  {result['workload']}  on {result['device']} ({result['threads']} threads, "
        f"{result['backend']} backend)"
    )
    print(
        f"  points {result['points']:,} (from {result['lidar_points_before_voxel']:,} LiDAR points), "
        f"point cloud {result['point_cloud_ms']:.0f} ms, mean coverage {result['mean_coverage']:.2f}"
    )
    print(
        f"  batched       {result['batched_ms_per_scene']:9.1f} ms/scene  {result['batched_views_per_s']:9.0f} views/s"
    )
    print(
        f"  one at a time {result['single_view_ms_per_scene']:9.1f} ms/scene  {result['single_view_views_per_s']:9.0f} views/s"
        f"  (×{result['speedup']:.1f} for batching)"
    )
    if cfg.output_json:
        Path(str(cfg.output_json)).write_text(json.dumps(result, indent=1))
    return 0
