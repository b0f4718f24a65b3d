"""``inspatio-drive bench-pdm``: milliseconds per scene to score 64 candidates (and to build the metric cache).

Candidates are the golden scene's own candidates plus seeded Gaussian noise, tiled to ``num_candidates``.
navsim v1.1's own figures on the same 2-core machine (golden README): 23 ms per candidate (one ``pdm_score``
call: PDM-Closed + candidate) → about 1.5 s for 64 candidates; 0.21 s per scene to build the metric cache
in-process. Knobs: ``configs/bench_pdm.yaml``.

``metric=epdms``: NAVSIM v2.2 EPDMS on the golden v2 scenes A, C, D (``tests/data/golden/epdms``): the metric cache
built from the logs + map (warm median), and ``score_epdms`` of ``num_candidates`` candidates per traffic policy,
beside navsim v2.2's own per-scene medians on the golden machine (``scene.json``: ``pdm_score`` per candidate with
log replay / reactive IDM, in-process ``compute_metric_cache``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.commands.pdm_score import _find_scene
from inspatio_drive.data import DataConfig
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.scorer import PDMScorerConfig, score_candidates, score_states
from inspatio_drive.pdm.simulation import candidate_states, reference_states, simulate
from inspatio_drive.pdm.v2.scorer import score_epdms

__all__ = ["NAVSIM_CACHE_S_PER_SCENE", "NAVSIM_MS_PER_CANDIDATE", "bench_scene", "main", "make_candidates"]

NAVSIM_MS_PER_CANDIDATE = 23.0
"""navsim v1.1 ``pdm_score`` per candidate on the golden machine (2 cores), median, ms."""
NAVSIM_CACHE_S_PER_SCENE = 0.21
"""navsim v1.1 ``MetricCacheProcessor.compute_metric_cache`` per scene, warm, in-process, s."""

GOLDEN_ROOT = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden" / "pdms"
GOLDEN_V2_ROOT = GOLDEN_ROOT.parent / "epdms"
NAVSIM_V2_KEYS = {
    "log_replay": "epdms_pdm_score_non_reactive_per_candidate_median_s",
    "reactive": "epdms_pdm_score_reactive_idm_per_candidate_median_s",
}


def make_candidates(poses: NDArray[np.float64], n: int, seed: int = 0) -> NDArray[np.float64]:
    """``[C, P, 3]`` seed candidates → ``[n, P, 3]``: tiled, noise N(0, 0.3 m) on x/y and N(0, 0.03 rad) on heading.

    The first ``C`` rows are kept exact so the batch always contains the original candidates.
    """
    rng = np.random.default_rng(seed)
    reps = int(np.ceil(n / len(poses)))
    out = np.tile(poses, (reps, 1, 1))[:n].copy()
    noise = rng.normal(size=out.shape) * np.array([0.3, 0.3, 0.03])
    noise[: len(poses)] = 0.0
    return out + noise


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[float]]:
    """Median wall ms of ``fn`` and the samples."""
    median, samples, _ = _timed(fn, repeats, warmup)
    return median, samples


def _timed(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[float], float]:
    """Median wall ms, wall samples and mean process CPU ms of ``fn`` (CPU time barely depends on machine load)."""
    for _ in range(warmup):
        fn()
    times = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / max(repeats, 1)
    return statistics.median(times), times, cpu_ms


def bench_scene(scene_dir: Path, num_candidates: int, repeats: int, warmup: int, seed: int) -> dict[str, Any]:
    """Time ``score_candidates`` (and its stages) on one golden-style scene folder."""

    scene = load_golden_scene(scene_dir)
    cache = scene.cache
    poses = make_candidates(scene.candidate_poses_local, num_candidates, seed)
    cfg = PDMScorerConfig()

    def stage_sim() -> NDArray[np.float64]:
        cand = candidate_states(cache.initial_state, cache.initial_time_us, poses)
        ref = reference_states(cache.trajectory_time_us, cache.trajectory_states, cache.initial_time_us)
        return simulate(np.concatenate([ref[None], cand]), cache.initial_state)

    states = stage_sim()
    total, samples, cpu_ms = _timed(lambda: score_candidates(cache, poses), repeats, warmup)
    sim_ms, _ = _median_ms(stage_sim, repeats, warmup)
    score_ms, _ = _median_ms(lambda: score_states(states, cache, cfg), repeats, warmup)
    navsim_ms = NAVSIM_MS_PER_CANDIDATE * num_candidates
    return {
        "scene": scene_dir.name,
        "token": cache.token,
        "num_candidates": num_candidates,
        "score_ms_median": total,
        "score_ms_samples": samples,
        "score_cpu_ms": cpu_ms,
        "interpolate_simulate_ms": sim_ms,
        "metrics_ms": score_ms,
        "navsim_ms_estimate": navsim_ms,
        "speedup_vs_navsim": navsim_ms / total,
    }


def bench_cache_build(data_root: Path, token: str, repeats: int, warmup: int) -> dict[str, Any] | None:
    """Time the metric-cache builder on a NAVSIM data root (``None`` when this build has no builder).

    The scene's log frames are read once; the map is opened once (cached, like navsim's warm in-process runs);
    the timed call is ``build_metric_cache(scene, map_api)``: route correction, drivable map, centerline,
    PDM-Closed and the ground-truth observation.
    """
    scene = _find_scene(DataConfig(data_root=str(data_root), split=None), token)
    t = time.perf_counter()
    map_api = load_map(data_root / "maps", scene.scene_metadata.map_name)
    build_metric_cache(scene, map_api)
    first_ms = (time.perf_counter() - t) * 1e3
    median, samples, cpu_ms = _timed(lambda: build_metric_cache(scene, map_api), repeats, warmup)
    return {
        "token": token,
        "first_call_ms": first_ms,
        "build_ms_median": median,
        "build_ms_samples": samples,
        "build_cpu_ms": cpu_ms,
        "navsim_ms": NAVSIM_CACHE_S_PER_SCENE * 1e3,
        "speedup_vs_navsim": NAVSIM_CACHE_S_PER_SCENE * 1e3 / median,
    }


def bench_epdms_scene(
    scene_dir: Path, num_candidates: int, repeats: int, warmup: int, seed: int, policies: Sequence[str]
) -> dict[str, Any]:
    """EPDMS on one golden v2 scene folder (``scene.json``, ``candidates.json``; logs + maps two levels up):
    cache build (warm median) and scoring per traffic policy, beside navsim v2.2's medians of that scene."""
    meta = json.loads((scene_dir / "scene.json").read_text())
    cand = json.loads((scene_dir / "candidates.json").read_text())
    navsim = meta["timings_this_machine"]
    root = scene_dir.parent
    scene = _find_scene(DataConfig(data_root=str(root), split=meta.get("split")), meta["token"])
    map_api = load_map(root / "maps", scene.scene_metadata.map_name)
    t = time.perf_counter()
    cache = build_epdms_cache(scene, map_api)
    first_ms = (time.perf_counter() - t) * 1e3
    build_ms, _, build_cpu = _timed(lambda: build_epdms_cache(scene, map_api), repeats, warmup)
    navsim_cache_ms = navsim["metric_cache_inprocess_warm_median_s"] * 1e3
    poses = make_candidates(np.array([c["poses_local_xyh"] for c in cand["candidates"]]), num_candidates, seed)
    row: dict[str, Any] = {
        "scene": scene_dir.name,
        "token": meta["token"],
        "num_candidates": num_candidates,
        "cache_first_call_ms": first_ms,
        "cache_ms_median": build_ms,
        "cache_cpu_ms": build_cpu,
        "navsim_cache_ms": navsim_cache_ms,
        "cache_speedup": navsim_cache_ms / build_ms,
        "scoring": {},
    }
    for policy in policies:
        navsim_ms = navsim[NAVSIM_V2_KEYS[policy]] * 1e3 * num_candidates
        try:
            median, samples, cpu_ms = _timed(
                lambda p=policy: score_epdms(cache, poses, traffic=p, map_api=map_api), repeats, warmup
            )
        except NotImplementedError as exc:
            row["scoring"][policy] = {"error": str(exc), "navsim_ms": navsim_ms}
            continue
        row["scoring"][policy] = {
            "ms_median": median,
            "ms_samples": samples,
            "cpu_ms": cpu_ms,
            "navsim_ms": navsim_ms,
            "speedup": navsim_ms / median,
        }
    return row


def _main_epdms(cfg: Any) -> int:
    scenes = [Path(s) for s in cfg.scenes] if cfg.scenes else [GOLDEN_V2_ROOT / f"scene_{x}" for x in "acd"]
    missing = [str(s) for s in scenes if not (s / "scene.json").is_file()]
    if missing:
        raise FileNotFoundError(f"scenes: metric=epdms scene folders without scene.json: {missing}")
    policies = [str(p) for p in cfg.traffic]
    bad = sorted(set(policies) - set(NAVSIM_V2_KEYS))
    if bad:
        raise ValueError(f"traffic: expected values among {sorted(NAVSIM_V2_KEYS)}, got {bad}")
    rows = [
        bench_epdms_scene(s, int(cfg.num_candidates), int(cfg.repeats), int(cfg.warmup), int(cfg.seed), policies)
        for s in scenes
    ]
    print(
        f"EPDMS (NAVSIM v2.2), {cfg.num_candidates} candidates per scene, median of {cfg.repeats} "
        f"(cpu_count={os.cpu_count()}); navsim = its per-scene median per candidate x K on the golden machine"
    )
    print("| scene | traffic | ours ms / scene (wall) | CPU ms | navsim v2.2 ms / scene | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for policy, v in r["scoring"].items():
            if "error" in v:
                print(f"| {r['scene']} | {policy} | not run: {v['error']} | | {v['navsim_ms']:.0f} | |")
            else:
                print(
                    f"| {r['scene']} | {policy} | {v['ms_median']:.1f} | {v['cpu_ms']:.1f} | {v['navsim_ms']:.0f} | "
                    f"{v['speedup']:.1f}x |"
                )
    print("| scene | cache ms (warm median) | CPU ms | first call ms | navsim v2.2 ms (warm, in-process) | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scene']} | {r['cache_ms_median']:.1f} | {r['cache_cpu_ms']:.1f} | {r['cache_first_call_ms']:.1f} | "
            f"{r['navsim_cache_ms']:.0f} | {r['cache_speedup']:.1f}x |"
        )
    if cfg.output:
        Path(cfg.output).write_text(json.dumps({"metric": "epdms", "scenes": rows}, indent=1))
    return 0


@handles_user_errors("bench-pdm")
def main(overrides: Sequence[str] = ()) -> int:
    """Entry point of ``inspatio-drive bench-pdm``."""

    cfg = compose_command("bench-pdm", "bench_pdm", overrides)
    if cfg is None:
        return 2
    if cfg.metric == "epdms":
        return _main_epdms(cfg)
    if cfg.metric != "pdms":
        raise ValueError(f"metric: expected pdms or epdms, got {cfg.metric!r}")
    scenes = (
        [Path(s) for s in cfg.scenes] if cfg.scenes else [GOLDEN_ROOT / "scene_a", GOLDEN_ROOT / "scene_c"]
    )
    missing = [str(s) for s in scenes if not (s / "metric_cache.json").is_file()]
    if missing:
        raise FileNotFoundError(f"scenes: folders without metric_cache.json: {missing}")
    rows = [
        bench_scene(s, int(cfg.num_candidates), int(cfg.repeats), int(cfg.warmup), int(cfg.seed))
        for s in scenes
    ]
    print(
        f"PDM scoring, {cfg.num_candidates} candidates per scene (median of {cfg.repeats}; cpu_count={os.cpu_count()})"
    )
    print(
        "| scene | ours: ms / scene (wall median) | CPU ms / scene | interp+sim ms | metrics ms "
        "| navsim v1.1 ms (23 ms x K) | speed-up (wall) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scene']} | {r['score_ms_median']:.1f} | {r['score_cpu_ms']:.1f} | "
            f"{r['interpolate_simulate_ms']:.1f} | {r['metrics_ms']:.1f} | {r['navsim_ms_estimate']:.0f} | "
            f"{r['speedup_vs_navsim']:.1f}x |"
        )
    builds = []
    if cfg.build_cache:
        for s in scenes:
            token = json.loads((s / "metric_cache.json").read_text())["token"]
            b = bench_cache_build(s.parent, token, int(cfg.repeats), int(cfg.warmup))
            if b is None:
                print("metric-cache building: builder not available in this build (inspatio_drive.pdm.cache)")
                break
            builds.append(b)
            print(
                f"metric cache {token}: {b['build_ms_median']:.1f} ms warm ({b['build_cpu_ms']:.1f} ms CPU), "
                f"{b['first_call_ms']:.1f} ms first call "
                f"(navsim v1.1: 210 ms warm; {b['speedup_vs_navsim']:.1f}x)"
            )
    if cfg.output:
        Path(cfg.output).write_text(json.dumps({"scoring": rows, "cache_build": builds}, indent=1))
    return 0
