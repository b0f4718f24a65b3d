"""Stage-by-stage parity of the metric-cache builder with navsim v1.1's golden metric caches (scenes A, C)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.drivable import drivable_area_map
from inspatio_drive.pdm.cache.geometry import ego_center
from inspatio_drive.pdm.cache.observation import ground_truth_observation
from inspatio_drive.pdm.cache.scene_input import initial_ego_state

GOLDEN = Path(__file__).resolve().parents[3] / "data" / "golden" / "pdms"


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


@pytest.fixture(scope="module")
def built(golden: dict[str, Any], golden_map: MapAPI) -> dict[str, Any]:
    cache, pdm_closed = build_metric_cache(golden["scene"], golden_map, return_pdm_closed=True)
    return {"cache": cache, "pdm_closed": pdm_closed, **golden}


def test_route_and_centerline_match(built: dict[str, Any]) -> None:
    cache, arrays = built["cache"], built["arrays"]
    assert cache.token == built["meta"]["token"]  # navsim's token = current frame token
    assert cache.route_lane_ids == built["meta"]["route_lane_ids"]
    assert cache.route_roadblock_ids == built["meta"]["route_roadblock_ids_logged"]
    ref = arrays["centerline_global"]
    assert cache.centerline.path.shape == ref.shape == (built["meta"]["centerline_num_points"], 3)
    np.testing.assert_allclose(cache.centerline.path, ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(cache.centerline.progress, arrays["centerline_progress"], atol=1e-9, rtol=0)


def test_pdm_closed_trajectory_matches(built: dict[str, Any]) -> None:
    cache, arrays = built["cache"], built["arrays"]
    np.testing.assert_array_equal(cache.trajectory_time_us, arrays["pdm_closed_traj_time_us"])
    np.testing.assert_allclose(
        cache.trajectory_states, arrays["pdm_closed_traj_states_global"], atol=1e-6, rtol=0
    )
    # the golden README: both scenes select a +1 m (left) offset proposal, i.e. lateral path index 2
    assert built["pdm_closed"].best // 5 == 2
    assert cache.extra["pdm_closed_proposal"] == built["pdm_closed"].best


def test_built_cache_scores_like_golden(built: dict[str, Any]) -> None:
    """End to end: our cache + the scorer reproduce navsim's sub-scores on every golden candidate."""
    import json

    from inspatio_drive.pdm.scorer import score_candidates

    d = GOLDEN / f"scene_{built['name']}"
    results = {r["name"]: r for r in json.loads((d / "results.json").read_text())["results"]}
    names = [str(n) for n in built["arrays"]["candidate_names"]]
    res = score_candidates(built["cache"], built["arrays"]["candidate_poses_local"], names=names)
    for k, name in enumerate(names):
        ref = results[name]["pdm_results"]
        for key in (
            "no_at_fault_collisions",
            "drivable_area_compliance",
            "time_to_collision_within_bound",
            "comfort",
            "driving_direction_compliance",
        ):
            assert getattr(res, key)[k] == ref[key], (name, key)
        assert abs(res.ego_progress[k] - ref["ego_progress"]) <= 1e-6, name
        assert abs(res.score[k] - ref["score"]) <= 1e-6, name
