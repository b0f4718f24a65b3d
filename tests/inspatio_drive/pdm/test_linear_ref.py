"""The compiled ``line_locate`` returns shapely's ``line_locate_point`` floats bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.linear_ref import line_locate

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _shapely(line: np.ndarray, points: np.ndarray) -> np.ndarray:
    flat = points.reshape(-1, 2)
    return shapely.line_locate_point(shapely.linestrings(line), shapely.points(flat)).reshape(
        points.shape[:-1]
    )


def test_random_polylines_with_repeated_vertices() -> None:
    rng = np.random.default_rng(0)
    for trial in range(120):
        n = int(rng.integers(2, 150))
        heading = np.cumsum(rng.normal(0.0, 0.3, n))
        step = rng.uniform(0.0, 2.0, n)
        step[rng.integers(0, n, 3)] = 0.0  # zero-length segments (duplicated joint vertices)
        offset = rng.uniform(-1e5, 1e5, 2) if trial % 2 else np.zeros(2)  # UTM-like magnitudes too
        line = np.cumsum(np.stack([np.cos(heading) * step, np.sin(heading) * step], axis=1), axis=0) + offset
        points = np.concatenate(
            [
                line[rng.integers(0, n, 8)],  # on vertices
                line[rng.integers(0, n, 16)] + rng.normal(0.0, 3.0, (16, 2)),
                rng.uniform(line.min(0) - 10.0, line.max(0) + 10.0, (16, 2)),  # beyond the ends too
            ]
        )
        np.testing.assert_array_equal(line_locate(line, points), _shapely(line, points))


@pytest.mark.parametrize("name", ["scene_a", "scene_c"])
def test_golden_centerlines(name: str) -> None:
    cache = load_golden_scene(GOLDEN / name).cache
    line = cache.centerline.path[:, :2]
    points = line[::7, None] + np.random.default_rng(1).normal(0.0, 4.0, (len(line[::7]), 5, 2))
    expected = _shapely(line, points)
    np.testing.assert_array_equal(line_locate(line, points), expected)
    np.testing.assert_array_equal(cache.centerline.project(points), expected)


def test_non_finite_input_goes_through_shapely() -> None:
    line = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]])
    points = np.array([[0.5, 1.0], [np.nan, 0.0]])
    with pytest.raises(shapely.errors.GEOSException):  # what shapely itself does with a NaN point
        _shapely(line, points)
    with pytest.raises(shapely.errors.GEOSException):
        line_locate(line, points)
    with pytest.raises(ValueError, match="line_locate"):
        line_locate(line, np.zeros((3, 3)))
