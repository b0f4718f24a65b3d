"""``inspatio-drive bench-data``: how fast agent inputs are built over a split, and at what memory.

Writes a synthetic OpenScene split (:mod:`inspatio_drive.data.synthetic`, via ``data/writers.py``)
to a temporary folder, then measures, each in a fresh subprocess (so peak RSS is per phase):

1. **metadata**: ``SceneLoader`` index + ``get_agent_input_from_token`` for every scene with no sensors
   (and **metadata_full_scenes**: ``get_scene_from_token``, 14 frames with annotations, as a PDM
   metric-cache builder reads them);
2. **drivor_cameras**: the same with DrivoR's sensor config (``CAM_F0/L0/R0/B0`` of the current frame
   decoded at full size), on a smaller split with full-size JPEGs, with the time split into index,
   file read, JPEG decode, array copy, and the rest (ego statuses, calibrations).

Reported: scenes/s, peak RSS, and RSS samples during the loop (flat = bounded memory).
Every knob is a hydra override, e.g. ``inspatio-drive bench-data num_logs=32 frames_per_log=400``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data.filters import SceneFilter, SensorConfig
from inspatio_drive.data.loader import SceneLoader
from inspatio_drive.data.sensors import SensorTimer
from inspatio_drive.data.synthetic import write_synthetic_split

_FRACTIONS = (0.1, 0.5, 1.0)


def _rss_mb() -> float | None:
    """Current resident set size in MiB (Linux ``/proc``), else ``None``."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _run_phase(args: dict[str, Any], queue: Any) -> None:
    try:
        queue.put(_phase(**args))
    except BaseException as exc:  # report to the parent instead of dying silently
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _phase(
    data_path: str,
    blobs: str,
    sensors: str,
    frame_interval: int,
    cache_logs: int,
    max_scenes: int | None,
    io_workers: int = 1,
    method: str = "agent_input",
) -> dict[str, Any]:
    rss_start = _rss_mb()
    timer = SensorTimer()
    t0 = time.perf_counter()
    loader = SceneLoader(
        data_path,
        blobs,
        SceneFilter(frame_interval=frame_interval, max_scenes=max_scenes),
        SensorConfig.from_mapping(sensors),
        cache_logs=cache_logs,
        show_progress=False,
        timer=timer,
        io_workers=io_workers,
    )
    t_index = time.perf_counter() - t0
    tokens = loader.tokens
    marks = {max(1, round(f * len(tokens))) for f in _FRACTIONS}
    samples = []
    t1 = time.perf_counter()
    agent_input = None
    get = loader.get_agent_input_from_token if method == "agent_input" else loader.get_scene_from_token
    for i, token in enumerate(tokens, 1):
        agent_input = get(token)
        if i in marks:
            samples.append((i, _rss_mb()))
    t_loop = time.perf_counter() - t1
    del agent_input
    loader.close()
    # index again through a warm on-disk log-index cache (what a second worker on the split pays)

    with tempfile.TemporaryDirectory() as cache_dir:
        SceneLoader(data_path, blobs, SceneFilter(frame_interval=frame_interval, max_scenes=max_scenes), show_progress=False, index_cache_dir=cache_dir)
        t2 = time.perf_counter()
        SceneLoader(data_path, blobs, SceneFilter(frame_interval=frame_interval, max_scenes=max_scenes), show_progress=False, index_cache_dir=cache_dir)
        t_index_cached = time.perf_counter() - t2
    sensor_s = dict(timer.seconds)
    return {
        "sensors": sensors,
        "method": method,
        "io_workers": io_workers,
        "scenes": len(tokens),
        "index_s": t_index,
        "index_cached_s": t_index_cached,
        "loop_s": t_loop,
        "scenes_per_s": len(tokens) / t_loop if t_loop > 0 else float("inf"),
        "scenes_per_s_incl_index": len(tokens) / (t_loop + t_index),
        "time_split_s": {
            "index (log unpickle + windowing)": t_index,
            "cameras (wall)": sensor_s.get("cameras_wall", 0.0),
            "lidar": sensor_s.get("lidar", 0.0),
            "ego statuses, calibrations, LRU log reloads": t_loop - sensor_s.get("cameras_wall", 0.0) - sensor_s.get("lidar", 0.0),
        },
        "camera_thread_seconds": {k: sensor_s.get(k, 0.0) for k in ("read", "decode", "to_array")},
        "images_decoded": timer.counts.get("decode", 0),
        "rss_start_mb": rss_start,
        "rss_samples_mb": samples,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _in_subprocess(**args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_phase, args=(args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise RuntimeError(f"bench-data phase {args['sensors']!r} failed: {result['error']}")
    return result


def check_sizes(cfg: Any) -> None:
    """Sizes that give at least one scene (a navsim scene spans ``SceneFilter()``'s 4 + 10 frames); a
    ``ValueError`` names the knob and the smallest value that works."""
    need = SceneFilter().num_frames
    if int(cfg.num_logs) < 1:
        raise ValueError(f"num_logs: expected >= 1, got {cfg.num_logs}")
    if int(cfg.frames_per_log) < need:
        raise ValueError(f"frames_per_log: a scene spans {need} frames; expected >= {need}, got {cfg.frames_per_log}")
    if int(cfg.image_logs) > 0 and int(cfg.image_frames_per_log) < need:
        raise ValueError(f"image_frames_per_log: a scene spans {need} frames; expected >= {need} "
                         f"(or image_logs=0), got {cfg.image_frames_per_log}")


def run(cfg: Any) -> dict[str, Any]:
    """Run the benchmark described by ``cfg`` (see ``configs/bench_data.yaml``); returns the results."""

    check_sizes(cfg)
    workdir = Path(cfg.workdir) if cfg.workdir else Path(tempfile.mkdtemp(prefix="inspatio_bench_data_"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"config": {k: cfg[k] for k in cfg}}
    try:
        t0 = time.perf_counter()
        meta = write_synthetic_split(
            workdir / "meta", num_logs=cfg.num_logs, frames_per_log=cfg.frames_per_log, sensors=False, seed=cfg.seed, progress=True
        )
        results["write_metadata_split_s"] = time.perf_counter() - t0
        results["metadata"] = _in_subprocess(
            data_path=str(meta.data_path), blobs=str(meta.sensor_blobs_path), sensors="none",
            frame_interval=cfg.frame_interval, cache_logs=cfg.cache_logs, max_scenes=None,
        )
        if cfg.scenes_phase:
            results["metadata_full_scenes"] = _in_subprocess(
                data_path=str(meta.data_path), blobs=str(meta.sensor_blobs_path), sensors="none",
                frame_interval=cfg.frame_interval, cache_logs=cfg.cache_logs, max_scenes=None, method="scene",
            )
        if cfg.image_logs > 0:
            t0 = time.perf_counter()
            img = write_synthetic_split(
                workdir / "images", num_logs=cfg.image_logs, frames_per_log=cfg.image_frames_per_log,
                image_size=(cfg.image_width, cfg.image_height), lidar_points=16, seed=cfg.seed + 1,
                image_cameras=("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"), progress=True,
            )
            results["write_image_split_s"] = time.perf_counter() - t0
            results["drivor_cameras"] = _in_subprocess(
                data_path=str(img.data_path), blobs=str(img.sensor_blobs_path), sensors="drivor",
                frame_interval=cfg.frame_interval, cache_logs=cfg.cache_logs, max_scenes=cfg.max_image_scenes,
                io_workers=cfg.io_workers,
            )
    finally:
        if not cfg.keep and not cfg.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def _fmt_samples(samples: list[tuple[int, float | None]]) -> str:
    return ", ".join(f"{n}: {'?' if v is None else f'{v:.0f}'}" for n, v in samples)


def format_report(results: dict[str, Any]) -> str:
    """Markdown tables of a :func:`run` result."""
    lines = [
        "| phase | scenes | scenes/s (loop) | scenes/s incl. index | index s | index s, warm cache | peak RSS MiB | RSS during loop (scene: MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in ("metadata", "metadata_full_scenes", "drivor_cameras"):
        if key in results:
            r = results[key]
            lines.append(
                f"| {key} | {r['scenes']} | {r['scenes_per_s']:.0f} | {r['scenes_per_s_incl_index']:.0f} | {r['index_s']:.2f} | {r['index_cached_s']:.3f} "
                f"| {r['peak_rss_mb']:.0f} | {_fmt_samples(r['rss_samples_mb'])} |"
            )
    if "drivor_cameras" in results:
        r = results["drivor_cameras"]
        total = r["index_s"] + r["loop_s"]
        lines += ["", f"Time split, DrivoR cameras ({r['images_decoded']} images decoded, io_workers={r['io_workers']}):", "", "| stage | s | share |", "|---|---|---|"]
        for stage, sec in r["time_split_s"].items():
            lines.append(f"| {stage} | {sec:.3f} | {100 * sec / total:.0f} % |")
        thread = r["camera_thread_seconds"]
        busy = sum(thread.values()) or 1.0
        lines += ["", "Camera work by stage (thread-seconds; equals wall time when io_workers=1):", "", "| stage | s | share |", "|---|---|---|"]
        for stage, sec in thread.items():
            lines.append(f"| {stage} | {sec:.3f} | {100 * sec / busy:.0f} % |")
    return "\n".join(lines)


@handles_user_errors("bench-data")
def main(overrides: list[str]) -> int:
    """CLI entry point ``inspatio-drive bench-data [key=value ...]``."""

    cfg = compose_command("bench-data", "bench_data", overrides)
    if cfg is None:
        return 2
    results = run(cfg)
    print(format_report(results))
    if cfg.output:
        Path(cfg.output).write_text(json.dumps(results, indent=1, default=str))
        print(f"results written to {cfg.output}")
    return 0
