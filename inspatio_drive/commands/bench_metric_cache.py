"""Benchmark of metric-cache building: ms per scene (warm, map loaded), split by stage.

``python -m inspatio_drive.commands.bench_metric_cache [data.data_root=... data.split=... data.maps_root=... repeats=5 backend=auto]`` —
defaults to the golden NAVSIM scenes shipped in ``tests/data/golden/pdms`` (navsim v1.1 itself: 0.21–0.22 s per
scene warm on a 2-core machine, golden README). Prints a JSON report. ``backend=numpy`` times the reference
paths instead of the compiled (numba) kernels. The timed builds are warm: the first build (map loading, numba
compilation or loading of its on-disk cache) is reported separately as ``cold_first_scene_ms``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data import DataConfig, SceneLoader
from inspatio_drive.data.types import Scene
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.config import MetricCacheConfig

__all__ = ["bench_cache_build", "main"]

_GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden" / "pdms"


def bench_cache_build(
    scenes: Sequence[Scene], maps_root: str | Path, repeats: int = 5, config: MetricCacheConfig | None = None
) -> dict[str, Any]:
    """Build every scene's cache ``repeats`` times after one warm-up; returns median ms per scene, the cold
    first build (incl. map loading), process CPU ms per scene (less sensitive to a busy machine) and mean
    CPU ms per stage."""
    if not scenes:
        raise ValueError("bench: no scenes")
    t = time.perf_counter()
    maps = {s.scene_metadata.map_name: load_map(maps_root, s.scene_metadata.map_name) for s in scenes}
    build_metric_cache(scenes[0], maps[scenes[0].scene_metadata.map_name], config)
    cold_ms = 1e3 * (time.perf_counter() - t)
    for s in scenes[1:]:
        build_metric_cache(s, maps[s.scene_metadata.map_name], config)
    per_scene: list[float] = []
    stages: dict[str, float] = {}
    cpu0 = time.process_time()
    for _ in range(repeats):
        for s in scenes:
            t = time.perf_counter()
            build_metric_cache(s, maps[s.scene_metadata.map_name], config, timings=stages)
            per_scene.append(1e3 * (time.perf_counter() - t))
    n = len(per_scene)
    cpu_ms = 1e3 * (time.process_time() - cpu0) / n
    return {
        "scenes": len(scenes),
        "repeats": repeats,
        "cold_first_scene_ms": round(cold_ms, 1),
        "median_ms_per_scene": round(float(np.median(per_scene)), 2),
        "mean_ms_per_scene": round(float(np.mean(per_scene)), 2),
        "cpu_ms_per_scene": round(cpu_ms, 2),
        "stage_cpu_ms": {k: round(1e3 * v / n, 2) for k, v in sorted(stages.items())},
        "navsim_v1.1_ms_per_scene_golden_readme": 210.0,
    }


@handles_user_errors("bench-metric-cache")
def main(overrides: Sequence[str] = ()) -> int:
    """``inspatio-drive bench-metric-cache [data.data_root=… data.split=… data.maps_root=… repeats=5 backend=auto]``
    (configs/bench_metric_cache.yaml; no data root: the bundled golden scenes)."""

    cfg = compose_command("bench-metric-cache", "bench_metric_cache", overrides)
    if cfg is None:
        return 2
    node = dict(OmegaConf.to_container(cfg.data, resolve=True))  # type: ignore[arg-type]
    if node.get("data_root") in (None, "", "null"):
        node["data_root"] = str(_GOLDEN)
    data = DataConfig.from_node(node)
    root, maps_root = data.root(), data.maps_dir()  # maps: data.maps_root, null = <data_root>/maps
    logs = root / "navsim_logs"
    if not logs.is_dir():
        raise FileNotFoundError(f"data.data_root: {logs} not found (expected <data_root>/navsim_logs/<split>/*.pkl)")
    splits = [str(data.split)] if data.split else sorted(p.name for p in logs.iterdir() if p.is_dir())
    scenes: list[Scene] = []
    for split in splits:
        loader = SceneLoader(logs / split, None, show_progress=False)
        scenes += [loader.get_scene_from_token(t) for t in loader.tokens]
    config = MetricCacheConfig(backend=str(cfg.backend))
    report = bench_cache_build(scenes, maps_root, int(cfg.repeats), config)
    report["backend"] = config.backend
    print(json.dumps(report, indent=1))
    return 0
