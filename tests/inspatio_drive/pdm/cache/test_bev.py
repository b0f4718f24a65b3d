"""BEV picture: draws every layer, colours candidates, marks the chosen one, rejects bad input."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
from pdm_cache_golden import GOLDEN, load_golden_scene_input

from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.bev import plot_bev, save_bev
from inspatio_drive.pdm.cache.builder import build_metric_cache


def test_bev_draws_scene_and_candidates(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    cache = build_metric_cache(
        load_golden_scene_input("c"), load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")
    )
    cand = np.zeros((3, 8, 3))
    cand[:, :, 0] = np.linspace(0.5, 4.0, 8)[None] * np.array([[0.0], [1.0], [2.0]])
    ax = plot_bev(cache, candidates=cand, scores=[0.1, 0.5, 0.9], chosen=2, names=["a", "b", "c"])
    n_polys = len(cache.drivable_area_map) + cache.observation.num_objects + 1  # + ego
    assert len(ax.patches) == n_polys
    labels = [line.get_label() for line in ax.get_lines()]
    assert "PDM-Closed" in labels and "centerline" in labels and "chosen: c (PDMS 0.900)" in labels
    plt.close("all")
    png = save_bev(tmp_path / "bev.png", cache, candidates=cand, scores=[0.1, 0.5, 0.9], chosen=2)
    assert png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="candidates"):
        plot_bev(cache, candidates=np.zeros((3, 8)))
    plt.close("all")
