"""Benchmark of the planners' per-scene costs (CPU or GPU): DrivoR feature building and forward at the
released 1148×672 size, the rule-based scorer on 64 candidates with a full LiDAR sweep, vocabulary lookup.

``python -m inspatio_drive.commands.bench_planners [device=cpu batch_size=1 repeats=3 threads=0 image_size=[1148,672]]``
(hydra config ``configs/bench_planners.yaml``; random weights and synthetic inputs: timings only).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from planners.constant_velocity import ConstantVelocityPlanner
from planners.drivor.features import build_drivor_features
from planners.drivor.model import DrivoRConfig, DrivoRModel
from planners.scoring import RuleBasedScorer


def _time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - t0) / repeats


def _agent_input(rng: np.random.Generator, n_points: int):
    cams = {
        n: Camera(n, rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8), np.eye(3), np.eye(3), np.zeros(3))
        for n in ("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0")
    }
    pts = np.zeros((6, n_points), np.float32)
    pts[:3] = rng.uniform([-60, -60, -1], [60, 60, 3], (n_points, 3)).T
    status = EgoStatus(
        np.zeros(3), np.array([8.0, 0], np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0])
    )
    return AgentInput([status] * 4, [cams] * 4, [Lidar(pts)] * 4)


@handles_user_errors("bench-planners")
def main(overrides: list[str]) -> int:
    cfg = compose_command("bench-planners", "bench_planners", overrides)
    if cfg is None:
        return 2
    if int(cfg.threads) > 0:
        torch.set_num_threads(int(cfg.threads))
    device = torch.device(cfg.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    ai = _agent_input(rng, int(cfg.lidar_points))
    w, h = (int(v) for v in cfg.image_size)
    if w <= 0 or h <= 0:
        raise ValueError(f"image_size: expected [width, height] > 0 pixels, got {list(cfg.image_size)}")
    res: dict[str, object] = {"config": OmegaConf.to_container(cfg), "torch_threads": torch.get_num_threads()}

    fan = ConstantVelocityPlanner(
        yaw_rates=tuple(np.linspace(-0.4, 0.4, 8)), speed_factors=tuple(np.linspace(0, 1.4, 8))
    )
    cands = fan.propose(ai)
    scorer = RuleBasedScorer()
    res["rules_ms_per_scene_64_candidates"] = 1e3 * _time(
        lambda: scorer(cands, ai), int(cfg.repeats), lambda: None
    )
    res["features_ms_per_scene"] = 1e3 * _time(
        lambda: build_drivor_features(ai, image_size=(w, h)), int(cfg.repeats), sync
    )
    if not cfg.drivor:
        print(json.dumps(res, indent=1))
        return 0
    model = DrivoRModel(DrivoRConfig(image_size=(w, h))).eval().to(device)
    dtype = getattr(torch, str(cfg.dtype))
    b = int(cfg.batch_size)
    feats = {
        "image": torch.randn(b, 4, 3, h, w, device=device),
        "ego_status": torch.randn(b, 4, 11, device=device),
    }

    def forward() -> object:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return model(feats)

    sec = _time(forward, int(cfg.repeats), sync)
    res["drivor_forward_ms_per_batch"] = 1e3 * sec
    res["drivor_scenes_per_s"] = b / sec
    if device.type == "cuda":
        res["cuda_peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
