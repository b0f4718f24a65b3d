"""Reactive (IDM) traffic: parity with navsim v2.2's ``NavsimIDMTrafficAgents`` rows on A, C, D, the shared
ego-free rollout equal to the per-candidate loop, and the policy's rules on the golden objects."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.pdm.v2.idm import reactive_observation_reference, reactive_observations
from inspatio_drive.pdm.v2.scorer import SUBMETRICS, score_epdms, simulate_plans
from inspatio_drive.pdm.v2.traffic import log_replay_observation

TOL = 1e-6


@pytest.fixture(scope="module")
def reactive(golden, golden_map):
    return score_epdms(golden.main, golden.poses, traffic="reactive", map_api=golden_map, names=golden.names)


def test_reactive_rows_equal_navsim(golden, reactive):
    for k, name in enumerate(golden.names):
        gold = golden.results[name]["epdms_row_reactive_idm"]
        for col in SUBMETRICS:
            assert abs(reactive[col][k] - gold[col]) <= (TOL if col == "ego_progress" else 0.0), (name, col)
        assert abs(reactive["score"][k] - gold["score_no_previous_frame"]) <= TOL, name
        nc, dac, tlc, ddc = gold["raw_candidate_multi[NC,DAC,TLC,DDC]"]
        ep, ttc, lk, hc, _ = gold["raw_candidate_weighted[EP,TTC,LK,HC,EC]"]
        raw = reactive.raw
        assert (raw["no_at_fault_collisions"][k], raw["drivable_area_compliance"][k]) == (nc, dac), name
        assert (raw["traffic_light_compliance"][k], raw["driving_direction_compliance"][k]) == (tlc, ddc), name
        assert (raw["time_to_collision_within_bound"][k], raw["lane_keeping"][k], raw["history_comfort"][k]) == (
            ttc, lk, hc), name
        assert abs(raw["ego_progress"][k] - ep) <= TOL, name
    assert {r["traffic"] for r in reactive.to_rows()} == {"reactive"}


def test_shared_rollout_equals_the_per_candidate_loop(golden, golden_map):
    """Candidates whose ego never reaches an agent's path share one rollout; the result is the per-ego loop's."""
    rng = np.random.default_rng(1)
    poses = golden.poses[rng.choice(len(golden.poses), 6, replace=False)]
    poses = poses + rng.normal(size=poses.shape) * np.array([0.3, 0.3, 0.03])
    states = simulate_plans(golden.main, poses)
    shared = reactive_observations(golden.main, states, golden_map)
    for obs, ego in zip(shared, states, strict=True):
        ref = reactive_observation_reference(golden.main, ego, golden_map)
        assert obs.tokens == ref.tokens
        np.testing.assert_array_equal(obs.corners, ref.corners)


def test_reactive_world_rules(golden, golden_map):
    """Frame 0 as logged; every non-vehicle replayed from the log; vehicles only from the current frame, on
    their lanes (IDM) or parked; the cache itself is not changed."""
    before = golden.main.base.observation.corners.copy()
    ego = simulate_plans(golden.main, golden.poses[:1])[0]
    obs = reactive_observation_reference(golden.main, ego, golden_map)
    logged = golden.main.base.observation
    np.testing.assert_array_equal(logged.corners, before)
    for i, token in enumerate(obs.tokens):
        j = logged.tokens.index(token)
        np.testing.assert_array_equal(obs.corners[i, 0], logged.corners[j, 0])
        if obs.types[i] != "vehicle":
            np.testing.assert_array_equal(obs.corners[i], logged.corners[j])
        else:
            assert logged.present[j, 0]
    dropped = set(logged.tokens) - set(obs.tokens)
    assert all(logged.types[logged.tokens.index(t)] == "vehicle" for t in dropped)
    assert log_replay_observation(golden.main).num_steps == obs.num_steps == 41
