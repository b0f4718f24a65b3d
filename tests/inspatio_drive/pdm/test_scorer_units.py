"""Conventions, batching, error handling and rule-level behaviour of the PDM simulation and scorer."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.pdm.comfort import comfort_checks
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.scorer import PDMScorerConfig, ego_box_coords, score_candidates
from inspatio_drive.pdm.simulation import local_to_global_poses, principal_value, simulate
from inspatio_drive.pdm.types import MetricCache, Observation, StateIndex

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.fixture(scope="module")
def scene_a():
    return load_golden_scene(GOLDEN / "scene_a")


def test_local_to_global_convention():
    """x forward / y left in the rear-axle frame; heading counter-clockwise."""
    origin = np.array([10.0, 20.0, np.pi / 2])
    out = local_to_global_poses(origin, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, np.pi / 2]]))
    np.testing.assert_allclose(out[0], [10.0, 21.0, np.pi / 2], atol=1e-12)
    np.testing.assert_allclose(out[1], [9.0, 20.0, np.pi], atol=1e-12)


def test_principal_value_range():
    a = principal_value(np.array([np.pi, -np.pi, 3 * np.pi, 0.1]))
    assert np.all(a >= -np.pi) and np.all(a < np.pi)
    np.testing.assert_allclose(a[3], 0.1)


def test_ego_box_coords_convention():
    """Heading 0 at the origin: centre 1.461 m ahead of the rear axle, front-left corner at (+4.049, +1.1485)."""
    c = ego_box_coords(np.zeros((1, 3)))[0]
    np.testing.assert_allclose(c[4], [PACIFICA.rear_axle_to_center, 0.0], atol=1e-12)
    np.testing.assert_allclose(c[0], [PACIFICA.front_length, PACIFICA.half_width], atol=1e-12)
    np.testing.assert_allclose(c[2], [-PACIFICA.rear_length, -PACIFICA.half_width], atol=1e-12)


def test_simulation_tracks_constant_speed():
    """A straight 5 m/s reference from a 5 m/s start is followed to well under a centimetre."""
    n = 41
    ref = np.zeros((1, n, 11))
    ref[0, :, StateIndex.X] = 5.0 * 0.1 * np.arange(n)
    init = np.zeros(11)
    init[StateIndex.VELOCITY_X] = 5.0
    sim = simulate(ref, init)
    assert np.abs(sim[0, :, StateIndex.X] - ref[0, :, StateIndex.X]).max() < 1e-2
    assert np.abs(sim[0, :, StateIndex.Y]).max() < 1e-9


def test_batching_is_row_independent(scene_a):
    """Scoring candidates one by one gives the batched numbers (navsim scores each in its own call)."""
    poses = scene_a.candidate_poses_local
    batched = score_candidates(scene_a.cache, poses)
    for k in (1, 8, 10):
        single = score_candidates(scene_a.cache, poses[k : k + 1])
        for key in batched.SUBSCORES:
            assert getattr(single, key)[0] == pytest.approx(getattr(batched, key)[k], abs=1e-12), (k, key)


def test_order_invariance(scene_a):
    poses = scene_a.candidate_poses_local
    perm = np.random.default_rng(0).permutation(len(poses))
    a = score_candidates(scene_a.cache, poses)
    b = score_candidates(scene_a.cache, poses[perm])
    np.testing.assert_allclose(b.score, a.score[perm], atol=1e-12)


def test_cache_round_trip_scores_equal(scene_a, tmp_path):
    scene_a.cache.save(tmp_path / "c")
    loaded = MetricCache.load(tmp_path / "c")
    poses = scene_a.candidate_poses_local[:6]
    np.testing.assert_array_equal(
        score_candidates(loaded, poses).score, score_candidates(scene_a.cache, poses).score
    )


def test_to_rows_is_json(scene_a):
    res = score_candidates(
        scene_a.cache, scene_a.candidate_poses_local[:3], names=scene_a.candidate_names[:3]
    )
    rows = json.loads(json.dumps(res.to_rows()))
    assert [r["name"] for r in rows] == scene_a.candidate_names[:3]
    assert set(res.SUBSCORES) <= set(rows[0])
    assert rows[0]["at_fault_collision_step"] is None


def test_without_objects_no_collisions(scene_a):
    """Removing every object clears NC and TTC infractions; the crash candidates become NC = 1."""
    obs = scene_a.cache.observation
    empty = Observation(
        [], [], np.zeros((0, obs.num_steps, 4, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0)
    )
    cache = replace(scene_a.cache, observation=empty)
    res = score_candidates(cache, scene_a.candidate_poses_local)
    assert np.all(res.no_at_fault_collisions == 1.0)
    assert np.all(res.time_to_collision_within_bound == 1.0)


def test_weights_from_config(scene_a):
    """With only the comfort weight left, the score is NC·DAC·C."""
    cfg = PDMScorerConfig(progress_weight=0.0, ttc_weight=0.0)
    res = score_candidates(scene_a.cache, scene_a.candidate_poses_local, config=cfg)
    expected = res.no_at_fault_collisions * res.drivable_area_compliance * res.comfort
    np.testing.assert_allclose(res.score, expected, atol=1e-12)


def test_comfort_detects_hard_braking():
    n = 41
    states = np.zeros((2, n, 11))
    states[1, :, StateIndex.ACCELERATION_X] = -6.0  # sustained: navsim smooths over the whole horizon
    checks = comfort_checks(states)
    assert checks[0].all()
    assert not checks[1, 0]  # longitudinal acceleration out of [-4.05, 2.40]
    assert checks[1, 1:].all()  # constant acceleration: no jerk, no yaw


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 8, 2)), "expected \\[K, P, 3\\]"),
        (np.zeros((0, 8, 3)), "K >= 1"),
        (np.full((1, 8, 3), np.nan), "NaN"),
    ],
)
def test_bad_trajectories(scene_a, bad, match):
    with pytest.raises(ValueError, match=match):
        score_candidates(scene_a.cache, bad)


def _boxes(center, heading, length, width):
    c, s = np.cos(heading), np.sin(heading)
    lon = np.stack([c, s], -1) * (length / 2)[..., None]
    lat = np.stack([-s, c], -1) * (width / 2)[..., None]
    return np.stack([center + lon + lat, center - lon + lat, center - lon - lat, center + lon - lat], axis=-2)


def test_box_pairs_match_shapely():
    """The circle / separating-axis shortcuts decide exactly like shapely.intersects (touching boxes included)."""
    import shapely

    from inspatio_drive.pdm.scorer import _intersecting_pairs

    rng = np.random.default_rng(1)
    n, m, t = 400, 6, 3
    ego = _boxes(
        rng.uniform(-8, 8, (n, 2)), rng.uniform(-np.pi, np.pi, n), np.full(n, 5.176), np.full(n, 2.297)
    )
    obj = _boxes(
        rng.uniform(-8, 8, (m, t, 2)),
        rng.uniform(-np.pi, np.pi, (m, t)),
        rng.uniform(0.5, 6, (m, t)),
        rng.uniform(0.5, 2.5, (m, t)),
    )
    obj[0, 1] = np.nan  # absent object
    # exactly touching: object 1 at step 0 shares ego 0's front edge
    ego[0] = _boxes(np.zeros(2), np.array(0.0), np.array(4.0), np.array(2.0))
    obj[1, 0] = _boxes(np.array([3.0, 0.0]), np.array(0.0), np.array(2.0), np.array(2.0))
    times = rng.integers(0, t, n)
    times[0] = 0
    got = set(zip(*_intersecting_pairs(ego, obj, times), strict=True))
    ring = lambda q: shapely.polygons(np.concatenate([q, q[:1]]))  # noqa: E731
    expected = {
        (i, j)
        for i in range(n)
        for j in range(m)
        if np.isfinite(obj[j, times[i]]).all() and shapely.intersects(ring(ego[i]), ring(obj[j, times[i]]))
    }
    assert (0, 1) in expected
    assert got == expected
