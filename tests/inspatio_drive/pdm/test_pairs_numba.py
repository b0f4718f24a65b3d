"""The compiled box-pair test of the scorer (numba) returns the same pairs as the numpy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.commands.bench_pdm import make_candidates
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.pairs_numba import HAVE_NUMBA
from inspatio_drive.pdm.scorer import _intersecting_pairs, _intersecting_pairs_reference, ego_box_coords
from inspatio_drive.pdm.simulation import candidate_states, reference_states, simulate

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _same(ego, obj, time, margin=1e-6) -> int:
    expected = _intersecting_pairs_reference(ego, obj, time, margin)
    got = _intersecting_pairs(ego, obj, time, margin)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    return len(expected[0])


@pytest.mark.parametrize("name", ["scene_a", "scene_c"])
def test_golden_collision_and_ttc_boxes(name: str) -> None:
    scene = load_golden_scene(GOLDEN / name)
    cache = scene.cache
    poses = make_candidates(scene.candidate_poses_local, 64, seed=3)
    cand = candidate_states(cache.initial_state, cache.initial_time_us, poses)
    ref = reference_states(cache.trajectory_time_us, cache.trajectory_states, cache.initial_time_us)
    states = simulate(np.concatenate([ref[None], cand]), cache.initial_state)
    coords = ego_box_coords(states)
    b, t = states.shape[:2]
    ego = coords[..., :4, :].reshape(b * t, 4, 2)
    hits = 0
    for shift in (0.0, 0.5, 1.0):  # the TTC look-ahead moves the boxes forward
        moved = ego + shift * (coords[..., 0, :] - coords[..., 1, :]).reshape(b * t, 1, 2)
        for margin in (1e-6, 0.5):
            hits += _same(moved, cache.observation.corners, np.tile(np.arange(t), b), margin)
    assert hits > 0


def test_touching_degenerate_and_skewed_boxes() -> None:
    rng = np.random.default_rng(0)
    n, m, steps = 400, 6, 3
    centre = rng.uniform(-6.0, 6.0, (n, 2))
    heading = rng.choice([0.0, np.pi / 2, rng.uniform(-np.pi, np.pi)], n)
    half = np.array([2.0, 1.0])
    cos, sin = np.cos(heading)[:, None], np.sin(heading)[:, None]
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)
    local = signs * half
    ego = centre[:, None] + np.stack(
        [local[:, 0] * cos - local[:, 1] * sin, local[:, 0] * sin + local[:, 1] * cos], axis=-1
    )
    obj = np.empty((m, steps, 4, 2))
    obj[:] = signs * np.array([1.0, 1.0])  # axis-aligned 2 x 2 boxes at the origin
    obj[1] += np.array([3.0, 0.0])  # touches an axis-aligned ego box placed at x = 0 (edge contact)
    obj[2, :, 0] += 0.5  # not a parallelogram: shapely decides
    obj[3] = 0.0  # degenerate (a point)
    obj[4, 1] = np.nan  # absent at step 1
    obj[5] *= 1e-7  # tiny
    ego[0] = signs * half + np.array([0.0, 0.0])  # exactly touching object 1 (x = 2 .. 4 vs 2)
    ego[1] = signs * half + np.array([6.0 + 1e-7, 0.0])  # 1e-7 m gap to object 1 (x = 4 + 1e-7 .. 8)
    time = rng.integers(0, steps, n)
    assert _same(ego, obj, time) > 0
