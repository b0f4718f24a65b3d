"""Stage-by-stage parity of the metric-cache builder with navsim v1.1's golden metric caches (scenes A, C)."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.cache.drivable import drivable_area_map
from inspatio_drive.pdm.cache.geometry import ego_center
from inspatio_drive.pdm.cache.observation import ground_truth_observation
from inspatio_drive.pdm.cache.scene_input import initial_ego_state
from inspatio_drive.pdm.types import PACIFICA


def test_initial_state_matches(golden: dict[str, Any]) -> None:
    scene = golden["scene"]
    state = initial_ego_state(scene.frames[scene.current_index])
    np.testing.assert_array_equal(state, golden["meta"]["initial_ego_state"]["state_array_global"])


def test_drivable_area_map_matches(golden: dict[str, Any], golden_map: MapAPI) -> None:
    scene = golden["scene"]
    state = initial_ego_state(scene.frames[scene.current_index])
    dam = drivable_area_map(golden_map, ego_center(state[:3], PACIFICA), 100.0)
    ref = golden["meta"]["drivable_area_map"]
    assert dam.tokens == [e["token"] for e in ref]
    assert dam.layers == [e["type"] for e in ref]
    for poly, e in zip(dam.polygons, ref):
        assert poly.equals_exact(shapely.Polygon(e["polygon_exterior_global"]), tolerance=1e-9)


def test_ground_truth_observation_matches(golden: dict[str, Any]) -> None:
    obs = ground_truth_observation(golden["scene"])
    arrays = golden["arrays"]
    assert obs.tokens == [str(t) for t in arrays["obs_tokens"]]
    ref = arrays["obs_polygons_global"]
    assert obs.corners.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(obs.corners), np.isnan(ref))
    np.testing.assert_allclose(obs.corners, ref, atol=1e-9, rtol=0, equal_nan=True)
    objects = {o["track_token"]: o for o in golden["meta"]["observation"]["objects"]}
    for k, t in enumerate(obs.tokens):
        assert obs.types[k] == objects[t]["type"]
        assert bool(obs.is_agent[k]) == objects[t]["is_agent"]
        np.testing.assert_allclose(obs.headings[k], objects[t]["first_seen_box"]["heading"], atol=1e-12)
        np.testing.assert_allclose(
            obs.velocities[k], objects[t].get("first_seen_velocity_xy", [0, 0]), atol=1e-12
        )
