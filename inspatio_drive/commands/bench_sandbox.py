"""Benchmark the oracle: camera images per second (8-camera rig, one Embree call per frame) at the
configured sizes, and LiDAR sweeps per second.

    python -m inspatio_drive.commands.bench_sandbox [sizes=[[480,270],[1920,1080]]] [frames=3] [scenario=...]

Reports wall-clock images/s on however many cores the process may use (shading threads =
``workers``, 0 = all cores) and the CPU time per image (all threads), which does not depend on load.
"""

from __future__ import annotations

import os
import sys
import time

from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.sandbox.oracle import Oracle, RenderConfig
from inspatio_drive.sandbox.scenarios import generate_scene

USER_ERRORS = (KeyError,)
"""User errors of this command besides the common ones (:data:`inspatio_drive.commands.base.USER_ERRORS`):
the ``KeyError`` of an unknown scenario name."""


def run(cfg) -> list[dict]:  # type: ignore[no-untyped-def]
    world = generate_scene(str(cfg.scenario), int(cfg.seed))
    rows = []
    for width, height in OmegaConf.to_object(cfg.sizes):
        oracle = Oracle(world, RenderConfig(width=int(width), height=int(height), shadows=bool(cfg.shadows),
                                            workers=int(cfg.workers)))
        oracle.render("CAM_F0", None, 0.0)  # build the ground texture and the Embree scene once
        frames = int(cfg.frames)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(frames):
            oracle.render_rig(None, 0.5 * i)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        for i in range(frames):
            oracle.lidar(None, 0.5 * i)
        dl = time.perf_counter() - t0
        rows.append({"size": f"{width}x{height}", "images_per_s": 8 * frames / dt, "ms_per_rig": 1000 * dt / frames,
                     "cpu_ms_per_image": 1000 * dc / (8 * frames),
                     "lidar_per_s": frames / dl})
    return rows


@handles_user_errors("bench-sandbox", USER_ERRORS)
def main(overrides: list[str]) -> int:
    cfg = compose_command("bench-sandbox", "bench_sandbox", overrides)
    if cfg is None:
        return 2
    rows = run(cfg)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"sandbox oracle benchmark ({cfg.scenario}, seed {cfg.seed}, {cfg.frames} frames, {cores} cores, "
          f"shadows={cfg.shadows})")
    print("| image size | images/s (wall) | ms per 8-camera rig | CPU ms per image | LiDAR sweeps/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['images_per_s']:.1f} | {r['ms_per_rig']:.0f} | {r['cpu_ms_per_image']:.0f} "
              f"| {r['lidar_per_s']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
