"""Data types of the PDM score: golden loading, cache round trip, centerline projection, vehicle parameters."""

from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.types import Centerline, MetricCache

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.fixture(scope="module", params=["scene_a", "scene_c"])
def scene(request):
    return load_golden_scene(GOLDEN / request.param)


def test_pacifica_parameters():
    assert PACIFICA.width == pytest.approx(2.297)
    assert PACIFICA.length == pytest.approx(5.176)
    assert PACIFICA.rear_axle_to_center == pytest.approx(1.461)


def test_golden_cache_fields(scene):
    c = scene.cache
    assert c.trajectory_states.shape == (51, 11)
    assert c.observation.corners.shape[1:] == (51, 4, 2)
    assert len(c.drivable_area_map) == 31
    assert c.centerline.length == pytest.approx(scene.arrays["centerline_progress"][-1])


def test_cache_round_trip(scene, tmp_path):
    c = scene.cache
    c.save(tmp_path / "x")
    d = MetricCache.load(tmp_path / "x")
    assert d.token == c.token and d.route_lane_ids == c.route_lane_ids
    np.testing.assert_array_equal(d.trajectory_states, c.trajectory_states)
    np.testing.assert_array_equal(d.observation.corners, c.observation.corners)
    assert d.observation.types == c.observation.types
    assert d.drivable_area_map.layers == c.drivable_area_map.layers
    for p, q in zip(d.drivable_area_map.polygons, c.drivable_area_map.polygons, strict=True):
        assert p.equals_exact(q, 0.0)


def test_cache_version_mismatch(scene, tmp_path):
    scene.cache.save(tmp_path)
    man = (tmp_path / "manifest.json").read_text().replace('"version": 1', '"version": 999')
    (tmp_path / "manifest.json").write_text(man)
    with pytest.raises(ValueError, match="version"):
        MetricCache.load(tmp_path)


def test_centerline_project_straight():
    line = Centerline(np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 5.0, np.pi / 2]]))
    np.testing.assert_allclose(line.project([[3.0, 1.0], [-2.0, 0.0], [11.0, 2.0]]), [3.0, 0.0, 12.0])
    assert line.length == 15.0
