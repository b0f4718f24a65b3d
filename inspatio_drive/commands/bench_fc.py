"""Benchmark of the FC features: ``inspatio-drive bench-fc [key=value ...]`` (config ``configs/scorer/bench_fc.yaml``).

Synthetic inputs of DrivoR size (64 candidates × 8 poses × 4 cameras); prints the median wall time and the median
CPU time (``time.process_time``: all threads of this process, so it is not inflated when other processes share the
cores) of each feature group and of the whole :func:`scorers.features.compute_features` call per scene, for each
of ``backends`` (``numba``: the compiled kernels; ``torch``: their reference twins, the code before issue 21
item 6), the share of each group, and the verdict against ``target_s`` (CPU s per scene on one core). With
``scenes.data_root``, also the render and the features of real scenes (e.g. ``inspatio-drive sandbox`` output)
along the shipped sandbox vocabulary's 64 candidates at GeometricFC's settings.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from inspatio_drive.assets import VOCAB_SANDBOX
from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.threads import limit_threads
from planners.vocabulary import VocabularyPlanner
from scorers.features import FeatureConfig, ScorerInputs, compute_features, scale_intrinsics
from scorers.free_space import free_space
from scorers.geometric import GeometricFC
from scorers.motion_recovery import motion_recovery
from scorers.observability import near_path_mask, observability, observed_near_path
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
    return torch.from_numpy(np.array(np.moveaxis(out, -1, 3), order="C"))


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
BACKENDS = ("numba", "torch")


def check_sizes(cfg: Any) -> None:
    """Sizes must be positive (``generated_candidates`` in ``0..num_candidates``), ``backends`` known, ``scenes.n``
    positive; a ``ValueError`` names the knob."""
    for key in _POSITIVE:
        if int(cfg[key]) < 1:
            raise ValueError(f"{key}: expected an integer >= 1, got {cfg[key]}")
    if not 0 <= int(cfg.generated_candidates) <= int(cfg.num_candidates):
        raise ValueError(f"generated_candidates: expected 0..num_candidates ({cfg.num_candidates}), "
                         f"got {cfg.generated_candidates}")
    bad = [c for c in cfg.motion_cameras if not 0 <= int(c) < int(cfg.num_cameras)]
    if bad:
        raise ValueError(f"motion_cameras: expected camera indices in 0..{int(cfg.num_cameras) - 1}, got {bad}")
    wrong = [b for b in cfg.backends if b not in BACKENDS]
    if wrong or not cfg.backends:
        raise ValueError(f"backends: expected a non-empty list of {list(BACKENDS)}, got {list(cfg.backends)}")
    if int(cfg.scenes.n) < 1:
        raise ValueError(f"scenes.n: expected an integer >= 1, got {cfg.scenes.n}")


def feature_rows(inp: ScorerInputs, fcfg: FeatureConfig, hw: tuple[int, int], generated: int) -> dict[str, Callable]:
    """``{row name: () -> result}`` of every feature group and of the whole :func:`compute_features` call, with the
    arguments :func:`compute_features` gives them (``fcfg.backend`` picks the implementation)."""
    rel = relative_camera_motion(camera_to_ego0(inp.candidates.double(), inp.T_ego_cam.double()))
    gh, gw = inp.generated_rgb.shape[-2:] if inp.generated_rgb is not None else hw
    intr_gen = scale_intrinsics(inp.intrinsics.double(), gw / hw[1], gh / hw[0])
    cand, intr, Tc = inp.candidates.double(), inp.intrinsics.double(), inp.T_ego_cam.double()
    near = dict(corridor_half_width=fcfg.corridor_half_width, max_range=fcfg.max_range, ground_z=fcfg.ground_z or 0.0,
                stride=fcfg.region_stride)

    def region() -> object:
        if fcfg.backend == "torch":
            return observability(inp.render_valid, near_path_mask(cand, intr, Tc, hw, **near))  # type: ignore[arg-type]
        return observed_near_path(inp.render_valid, cand, intr, Tc, **near)  # type: ignore[arg-type]

    rows: dict[str, Callable] = {
        "free space (grid)": lambda: free_space(
            cand, inp.points, footprint=fcfg.footprint, dt=fcfg.dt, substeps=fcfg.substeps, ground_z=fcfg.ground_z,
            height_band=fcfg.height_band, margin=fcfg.margin, max_clearance=fcfg.max_clearance,
            grid_resolution=fcfg.grid_resolution, exclude_ego_margin=fcfg.exclude_ego_margin, backend=fcfg.backend),
        "near-path region + observability": region,
        "view consistency": lambda: view_consistency(
            inp.render_depth, inp.render_valid, intr, rgb=inp.render_rgb, relative_motion=rel,
            depth_rel_tol=fcfg.depth_rel_tol, stride=fcfg.view_stride, backend=fcfg.backend),
    }  # fmt: skip
    if generated:
        rows[f"motion recovery ({generated} cand.)"] = lambda: motion_recovery(
            inp.generated_rgb, rel[:generated], intr_gen, cameras=fcfg.motion_cameras,
            min_translation_m=fcfg.min_translation_m, n_features=fcfg.orb_features, min_matches=fcfg.min_matches)
    rows["compute_features (all)"] = lambda: compute_features(inp, fcfg)
    return rows


def time_backends(
    make_rows: Callable[[FeatureConfig], dict[str, Callable]], fcfg: FeatureConfig, backends: list[str],
    repeats: int,
) -> dict[str, dict[str, tuple[float, float]]]:
    """``{row: {backend: (wall s, CPU s)}}``; one untimed call of every row per backend first (compiles or loads
    the numba kernels, warms caches)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for backend in backends:
        rows = make_rows(dataclasses.replace(fcfg, backend=backend))
        for name, fn in rows.items():
            fn()
            out.setdefault(name, {})[backend] = _time(fn, repeats)
    return out


def table(timings: dict[str, dict[str, tuple[float, float]]], backends: list[str], total: str) -> str:
    """Markdown table: per row, wall and CPU s of every backend, and the share of the last backend's CPU time."""
    head = "| feature | " + " | ".join(f"{b} wall s | {b} CPU s" for b in backends) + f" | share of {backends[-1]} CPU |"
    lines = [head, "|---" * (2 + 2 * len(backends)) + "|"]
    whole = timings[total][backends[-1]][1]
    for name, by in timings.items():
        cells = " | ".join(f"{by[b][0]:.3f} | {by[b][1]:.3f}" for b in backends)
        share = "" if name == total else f"{100 * by[backends[-1]][1] / max(whole, 1e-12):.0f} %"
        lines.append(f"| {name} | {cells} | {share} |")
    return "\n".join(lines)


def verdict(cpu_s: float, target_s: float, what: str) -> str:
    """One line: ``what`` took ``cpu_s`` CPU s per scene against the ``target_s`` target."""
    ok = "met" if cpu_s <= target_s else "NOT met"
    return f"{what}: {cpu_s:.3f} CPU s per scene; target <= {target_s:g} s on one core: {ok}"


def time_scenes(cfg: Any, backends: list[str], fcfg: FeatureConfig) -> None:
    """Geometric futures of real scenes (``scenes.data_root`` / ``scenes.split``, the first ``scenes.n``) along the
    shipped sandbox vocabulary's candidates, at GeometricFC's settings: CPU s of the render and of
    :func:`compute_features` per backend, medians over the scenes, and the largest feature difference between the
    backends."""
    root, split = Path(str(cfg.scenes.data_root)), str(cfg.scenes.split)
    logs = root / "navsim_logs" / split
    if not logs.is_dir():
        raise FileNotFoundError(f"scenes.data_root/scenes.split: no folder {logs}")
    loader = SceneLoader(logs, root / "sensor_blobs" / split, SceneFilter(), SensorConfig.build_all_sensors(),
                         show_progress=False)
    planner = VocabularyPlanner(str(cfg.scenes.vocabulary or VOCAB_SANDBOX))
    fc = GeometricFC()  # the yaml's render settings; the features are computed below with fcfg
    cpu: dict[str, list[float]] = {"render": [], **{b: [] for b in backends}}
    worst = 0.0
    for token in tqdm(loader.tokens[: int(cfg.scenes.n)], desc="bench-fc scenes", disable=not cfg.progress):
        agent_input = loader.get_agent_input_from_token(token)
        poses = planner.propose(agent_input).poses.detach().double()
        c0 = time.process_time()
        batch, cams = fc.render(agent_input, poses)
        cpu["render"].append(time.process_time() - c0)
        if batch is None:
            raise ValueError(f"scene {token}: the agent input has none of the cameras {list(fc.cameras)}")
        lidar = agent_input.lidars[-1].points if agent_input.lidars else None
        inp = ScorerInputs(
            candidates=poses, points=None if lidar is None else torch.as_tensor(np.asarray(lidar[:3].T)).float(),
            intrinsics=batch.intrinsics, T_ego_cam=cams.T_ego_cam, render_depth=batch.depth, render_valid=batch.valid,
            render_rgb=batch.rgb, render_poses=poses)  # fmt: skip
        values = {}
        for backend in backends:
            bcfg = dataclasses.replace(fcfg, backend=backend)
            compute_features(inp, bcfg)  # warm
            c0 = time.process_time()
            values[backend] = compute_features(inp, bcfg).values
            cpu[backend].append(time.process_time() - c0)
        worst = max([worst] + [float((v - values[backends[0]]).abs().max()) for v in values.values()])
    n = len(cpu["render"])
    print(f"\n{n} scenes of {logs}, K = {poses.shape[0]} candidates, {fc.image_size[0]}x{fc.image_size[1]} views: "
          "median CPU s per scene")
    print("| step | CPU s / scene |\n|---|---|")
    print(f"| render (GeometricFC.render, {fc.device}) | {np.median(cpu['render']):.3f} |")
    for backend in backends:
        print(f"| compute_features ({backend}) | {np.median(cpu[backend]):.3f} |")
    print(f"largest feature difference between backends: {worst:.2e}")
    print(verdict(float(np.median(cpu[backends[0]])), float(cfg.target_s), f"scene features ({backends[0]})"))


@handles_user_errors("bench-fc")
def main(overrides: list[str]) -> int:
    cfg = compose_command("bench-fc", "bench_fc", overrides)
    if cfg is None:
        return 2
    check_sizes(cfg)
    limit_threads(int(cfg.threads))
    inp = synthetic_inputs(
        cfg.num_candidates, cfg.num_poses, cfg.num_cameras, cfg.height, cfg.width, cfg.num_points,
        cfg.generated_candidates, cfg.generated_height, cfg.generated_width, cfg.seed,
    )  # fmt: skip
    fcfg = FeatureConfig(motion_cameras=list(cfg.motion_cameras))
    backends = [str(b) for b in cfg.backends]
    hw = (int(cfg.height), int(cfg.width))
    print(
        f"FC features, K={cfg.num_candidates} T={cfg.num_poses} C={cfg.num_cameras} {cfg.height}x{cfg.width}, "
        f"N={cfg.num_points} points, {cfg.generated_candidates} generated, threads={cfg.threads}: median of "
        f"{cfg.repeats} (CPU s = time.process_time of this process; torch = the reference twins)"
    )
    timings = time_backends(lambda f: feature_rows(inp, f, hw, int(cfg.generated_candidates)), fcfg, backends,
                            int(cfg.repeats))
    print(table(timings, backends, "compute_features (all)"))
    print(verdict(timings["compute_features (all)"][backends[0]][1], float(cfg.target_s),
                  f"compute_features ({backends[0]})"))
    if cfg.scenes.data_root is not None:
        time_scenes(cfg, backends, fcfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
