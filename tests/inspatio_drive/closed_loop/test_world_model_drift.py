"""Drift metrics of the world-model study (issue 23, item 4b): per-step PSNR / SSIM against the oracle, whole frame
and on the render-covered pixels, and their table."""

import math

import numpy as np
import pytest

from inspatio_drive.closed_loop.world_model_drift import drift_table, view_metrics


def test_view_metrics_whole_and_covered():
    rng = np.random.default_rng(0)
    oracle = rng.integers(0, 256, (1, 32, 48, 3), dtype=np.uint8)
    image = oracle.copy()
    covered = np.zeros((1, 32, 48), bool)
    covered[:, :, :24] = True
    image[:, :, 24:] = 0  # wrong (black) where the render has holes, exact where it covers
    m = view_metrics(image, oracle, covered)
    assert math.isinf(m["psnr_covered"]) or m["psnr_covered"] > 90
    assert m["psnr"] < 15 and m["ssim"] < 0.9
    assert m["ssim_covered"] > m["ssim"] and m["coverage"] == pytest.approx(0.5)
    same = view_metrics(oracle, oracle, np.ones_like(covered))
    assert same["ssim"] == pytest.approx(1.0)


def test_view_metrics_nothing_covered_is_nan():
    img = np.zeros((2, 16, 16, 3), np.uint8)
    m = view_metrics(img, img + 10, np.zeros((2, 16, 16), bool))
    assert math.isnan(m["psnr_covered"]) and math.isnan(m["ssim_covered"]) and m["coverage"] == 0.0
    assert m["psnr"] == pytest.approx(20 * math.log10(255 / 10))


def test_drift_table_means_per_step_and_overall():
    rows = [{"observer": o, "step": s, "psnr": p, "ssim": 0.5, "psnr_covered": p, "ssim_covered": float("nan"),
             "coverage": 1.0} for o, s, p in (("geometric", 1, 10.0), ("geometric", 2, 20.0), ("world_model", 1, 16.0))]
    t = {(r["observer"], r["step"]): r for r in drift_table(rows)}
    assert t[("geometric", "all")]["psnr"] == 15.0 and t[("geometric", 2)]["n"] == 1
    assert t[("world_model", "all")]["psnr"] == 16.0 and ("geometric+fill", 1) not in t
