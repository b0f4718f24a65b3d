"""Benchmark of the FC features: ``python -m inspatio_drive.commands.bench_fc [key=value ...]`` (config ``configs/scorer/bench_fc.yaml``).

Synthetic inputs of DrivoR size (64 candidates × 8 poses × 4 cameras); prints the median wall time and the median
CPU time (``time.process_time``: all threads of this process, so it is not inflated when other processes share the
cores) of each feature group and of the whole :func:`scorers.features.compute_features` call per scene.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from inspatio_drive.commands.base import compose_command, handles_user_errors
from scorers.features import FeatureConfig, ScorerInputs, compute_features
from scorers.free_space import free_space
from scorers.motion_recovery import motion_recovery
from scorers.observability import near_path_mask, observability
from scorers.poses import camera_to_ego0, relative_camera_motion
from scorers.view_consistency import view_consistency


def synthetic_inputs(
    K: int, T: int, C: int, H: int, W: int, N: int, G: int, GH: int, GW: int, seed: int = 0
) -> ScorerInputs:
    """Random but well-formed scene inputs (timing only; values carry no meaning)."""
    g = torch.Generator().manual_seed(seed)
    speed = torch.rand(K, 1, generator=g) * 12
    curv = (torch.rand(K, 1, generator=g) - 0.5) * 0.1
    t = torch.arange(1, T + 1).view(1, T) * 0.5
    heading = curv * speed * t
    cand = torch.stack([speed * t, 0.5 * curv * (speed * t) ** 2, heading], -1).double()
    pts = torch.cat([torch.randn(N, 2, generator=g) * 20, torch.rand(N, 1, generator=g) * 3 - 0.2], 1)
    f = W / 2 / np.tan(np.radians(35))
    intr = torch.tensor([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1.0]]).expand(C, 3, 3).clone()
    base = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    Tc = torch.eye(4).repeat(C, 1, 1)
    for c in range(C):
        yaw = 2 * np.pi * c / C
        rz = torch.tensor(
            [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]], dtype=torch.float32
        )
        Tc[c, :3, :3] = rz @ base
        Tc[c, :3, 3] = torch.tensor([1.5, 0, 1.6])
    depth = 2 + torch.rand(K, T, C, H, W, generator=g) * 30
    gen = textured_sequence(G, T, C, GH, GW, seed)
    valid = torch.rand(K, T, C, H, W, generator=g) > 0.3
    rgb = (torch.rand(K, T, C, 3, H, W, generator=g) * 255).to(torch.uint8)
    return ScorerInputs(
        candidates=cand, points=pts, intrinsics=intr, T_ego_cam=Tc, render_depth=depth, render_valid=valid,
        render_rgb=rgb, generated_rgb=gen, generated_index=torch.arange(G),
    )  # fmt: skip


def textured_sequence(G: int, T: int, C: int, H: int, W: int, seed: int = 0) -> torch.Tensor:
    """``[G, T, C, 3, H, W]`` uint8 frames: crops of one random mosaic sliding 6 px per frame (matchable)."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, size=(H // 8 + 8, (W + 6 * T) // 8 + 8, 3), dtype=np.uint8)
    mosaic = np.repeat(np.repeat(cells, 8, 0), 8, 1)
    frames = np.stack([mosaic[:H, 6 * t : 6 * t + W] for t in range(T)])  # [T, H, W, 3]
    out = np.broadcast_to(frames[None, :, None], (G, T, C, H, W, 3))
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(out, -1, 3)))


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median ``(wall s, CPU s)`` of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


_POSITIVE = ("num_candidates", "num_poses", "num_cameras", "height", "width", "num_points", "generated_height",
             "generated_width", "repeats", "threads")


def check_sizes(cfg: Any) -> None:
    """Sizes must be positive (``generated_candidates`` in ``0..num_candidates``); a ``ValueError`` names the knob."""
    for key in _POSITIVE:
        if int(cfg[key]) < 1:
            raise ValueError(f"{key}: expected an integer >= 1, got {cfg[key]}")
    if not 0 <= int(cfg.generated_candidates) <= int(cfg.num_candidates):
        raise ValueError(f"generated_candidates: expected 0..num_candidates ({cfg.num_candidates}), "
                         f"got {cfg.generated_candidates}")
    bad = [c for c in cfg.motion_cameras if not 0 <= int(c) < int(cfg.num_cameras)]
    if bad:
        raise ValueError(f"motion_cameras: expected camera indices in 0..{int(cfg.num_cameras) - 1}, got {bad}")


@handles_user_errors("bench-fc")
def main(overrides: list[str]) -> int:
    cfg = compose_command("bench-fc", "bench_fc", overrides)
    if cfg is None:
        return 2
    check_sizes(cfg)
    torch.set_num_threads(int(cfg.threads))
    inp = synthetic_inputs(
        cfg.num_candidates, cfg.num_poses, cfg.num_cameras, cfg.height, cfg.width, cfg.num_points,
        cfg.generated_candidates, cfg.generated_height, cfg.generated_width, cfg.seed,
    )  # fmt: skip
    fcfg = FeatureConfig(motion_cameras=list(cfg.motion_cameras))
    hw = (cfg.height, cfg.width)
    rel = relative_camera_motion(camera_to_ego0(inp.candidates, inp.T_ego_cam.double()))
    gh, gw = cfg.generated_height, cfg.generated_width
    intr_gen = inp.intrinsics.clone()
    intr_gen[:, 0] *= gw / cfg.width
    intr_gen[:, 1] *= gh / cfg.height
    rows = {
        "free_space (grid)": lambda: free_space(inp.candidates, inp.points),
        "near_path_mask + observability": lambda: observability(
            inp.render_valid,
            near_path_mask(inp.candidates, inp.intrinsics, inp.T_ego_cam, hw, stride=fcfg.region_stride),
        ),
        "view_consistency": lambda: view_consistency(
            inp.render_depth,
            inp.render_valid,
            inp.intrinsics,
            rgb=inp.render_rgb,
            relative_motion=rel,
            stride=fcfg.view_stride,
        ),
        f"motion_recovery ({cfg.generated_candidates} cand.)": lambda: motion_recovery(
            inp.generated_rgb, rel[: cfg.generated_candidates], intr_gen, cameras=list(cfg.motion_cameras)
        ),
        "compute_features (all)": lambda: compute_features(inp, fcfg),
    }
    print(
        f"FC features, K={cfg.num_candidates} T={cfg.num_poses} C={cfg.num_cameras} {cfg.height}x{cfg.width}, "
        f"N={cfg.num_points} points, threads={cfg.threads}: median of {cfg.repeats}"
    )
    print("| feature | wall s / scene | CPU s / scene |\n|---|---|---|")
    for name, fn in rows.items():
        wall, cpu = _time(fn, cfg.repeats)
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
