"""The compiled drivable-area containment gives shapely's ``contains_xy`` answer for every (polygon, point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from inspatio_drive.pdm.area_numba import HAVE_NUMBA
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.types import DrivableAreaMap

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _probe_points(dam: DrivableAreaMap, seed: int) -> np.ndarray:
    """Random points over the map, every vertex, points on edges (exact and rounded) and next to vertices."""
    rng = np.random.default_rng(seed)
    rings = shapely.get_coordinates(shapely.get_rings(dam.polygons))
    on_edges = np.concatenate([rings[:-1] * t + rings[1:] * (1.0 - t) for t in (0.5, 0.25, 1.0 / 3.0)])
    lo, hi = rings.min(axis=0) - 5.0, rings.max(axis=0) + 5.0
    return np.concatenate(
        [
            rng.uniform(lo, hi, (6000, 2)),
            rings,
            on_edges,
            rings + 1e-13,
            on_edges + rng.normal(0.0, 1e-12, on_edges.shape),
        ]
    )


def _sample_maps() -> list[DrivableAreaMap]:
    from inspatio_drive.data import SceneLoader
    from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
    from inspatio_drive.maps import load_map
    from inspatio_drive.pdm.cache.builder import plan_route

    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, None, show_progress=False)
    out = []
    for token in loader.tokens:
        scene = loader.get_scene_from_token(token)
        out.append(plan_route(scene, load_map(root / "maps", scene.scene_metadata.map_name)).drivable)
    return out


def test_golden_and_sample_maps() -> None:
    maps = [load_golden_scene(GOLDEN / n).cache.drivable_area_map for n in ("scene_a", "scene_c")]
    maps += _sample_maps()
    for i, dam in enumerate(maps):
        points = _probe_points(dam, seed=i)
        expected = dam.points_in_polygons_reference(points)
        got = dam.points_in_polygons(points)
        assert expected.any() and not expected.all()
        np.testing.assert_array_equal(got, expected, err_msg=f"map {i}")


def test_holes_horizontal_edges_and_shapes() -> None:
    """A polygon with a hole, horizontal / vertical edges and a concave notch; probe points on every feature."""
    shell = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (6.0, 10.0), (5.0, 4.0), (4.0, 10.0), (0.0, 10.0)]
    hole = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)]
    polys = [
        shapely.Polygon(shell, [hole]),
        shapely.box(2.0, 2.0, 12.0, 5.0),
        shapely.Polygon([(0, 0), (1, 0), (0, 1)]),
    ]
    dam = DrivableAreaMap(
        ["a", "b", "c"], ["ROADBLOCK", "LANE", "INTERSECTION"], np.array(polys, dtype=object)
    )
    grid = np.stack(np.meshgrid(np.arange(-1.0, 13.0, 0.5), np.arange(-1.0, 12.0, 0.5)), axis=-1).reshape(
        -1, 2
    )
    points = np.concatenate([grid, _probe_points(dam, seed=7)])
    np.testing.assert_array_equal(dam.points_in_polygons(points), dam.points_in_polygons_reference(points))
    # interior / hole / boundary spot checks
    got = dam.points_in_polygons(np.array([[0.5, 5.0], [2.0, 2.0], [1.0, 2.0], [5.0, 8.0], [5.0, 4.0]]))[0]
    assert got.tolist() == [True, False, False, False, False]
