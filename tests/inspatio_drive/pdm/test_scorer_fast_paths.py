"""Fast paths of the PDM scorer / simulator equal their reference forms bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from inspatio_drive.pdm.comfort import savgol


@pytest.mark.parametrize("seed", range(4))
def test_savgol_bit_identical_to_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        b, t = int(rng.integers(1, 70)), int(rng.integers(5, 60))
        x = rng.normal(size=(b, t)) * rng.choice([0.01, 1.0, 100.0]) + rng.normal()
        for window, poly, deriv in [(t, 2, 0), (min(8, t), 2, 0), (t, 2, 1), (5, 3, 2), (5, 2, 1), (5, 2, 0)]:
            delta = 0.1 if deriv else 1.0
            ref = savgol_filter(x, window, poly, deriv=deriv, delta=delta, axis=-1, mode="interp")
            np.testing.assert_array_equal(savgol(x, window, poly, deriv, delta), ref)


def test_savgol_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match="expected"):
        savgol(np.zeros((2, 4)), 5, 2)


def test_savgol_any_leading_shape_bit_identical_to_scipy() -> None:
    rng = np.random.default_rng(7)
    for shape in [(41,), (1, 41), (3, 4, 41)]:
        x = rng.normal(size=shape)
        for window, poly, deriv in [(41, 2, 0), (8, 2, 0), (41, 2, 1), (5, 3, 2)]:
            delta = 0.1 if deriv else 1.0
            ref = savgol_filter(x, window, poly, deriv=deriv, delta=delta, axis=-1, mode="interp")
            out = savgol(x, window, poly, deriv, delta)
            assert out.shape == x.shape
            np.testing.assert_array_equal(out, ref)


def test_observation_centroids_at_equal_shapely() -> None:
    """Lazily computed box centroids equal shapely's centroid of the observation's own polygons."""
    from pathlib import Path

    import shapely

    from inspatio_drive.pdm.golden import load_golden_scene

    obs = load_golden_scene(
        Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms" / "scene_a"
    ).cache.observation
    m, t = np.nonzero(obs.present)
    rng = np.random.default_rng(0)
    for _ in range(3):  # repeated and overlapping requests: computed once, same values
        pick = rng.integers(0, len(m), 40)
        expected = shapely.get_coordinates(shapely.centroid(obs.polygons[m[pick], t[pick]]))
        np.testing.assert_array_equal(obs.centroids_at(m[pick], t[pick]), expected)
