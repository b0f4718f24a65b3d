"""The compiled LQR + bicycle loop (numba) equals the numpy reference path.

Both run the same steps in the same arithmetic order; numpy's SIMD ``tan`` and the C library's differ in the
last bit for a few arguments, so states are compared to 1e-12 and every discrete result exactly.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.commands.bench_pdm import make_candidates
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.scorer import PDMScorerConfig, score_candidates
from inspatio_drive.pdm.simulation import candidate_states, reference_states, simulate
from inspatio_drive.pdm.simulation_numba import HAVE_NUMBA
from inspatio_drive.pdm.types import MetricCache

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"
ATOL = 1e-12
DISCRETE = (
    "no_at_fault_collisions",
    "drivable_area_compliance",
    "time_to_collision_within_bound",
    "comfort",
    "driving_direction_compliance",
    "at_fault_collision_step",
    "ttc_infraction_step",
    "comfort_checks",
    "ego_areas",
)


@lru_cache(maxsize=1)
def _sample_caches() -> tuple[MetricCache, ...]:
    """Metric caches of the bundled sandbox sample scenes (built once per session)."""
    from inspatio_drive.data import SceneLoader
    from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
    from inspatio_drive.maps import load_map
    from inspatio_drive.pdm.cache.builder import build_metric_cache

    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, None, show_progress=False)
    caches = []
    for token in loader.tokens:
        scene = loader.get_scene_from_token(token)
        caches.append(build_metric_cache(scene, load_map(root / "maps", scene.scene_metadata.map_name)))
    return tuple(caches)


def _arcs(k: int, seed: int) -> np.ndarray:
    """``[k, 8, 3]`` constant speed / yaw-rate candidates (0…15 m/s, ±0.4 rad/s) in the rear-axle frame,
    plus a standing-still row (the stopping controller)."""
    rng = np.random.default_rng(seed)
    t = 0.5 * np.arange(1, 9)
    speed = rng.uniform(0.0, 15.0, (k, 1))
    speed[0] = 0.0
    yaw_rate = rng.uniform(-0.4, 0.4, (k, 1))
    heading = yaw_rate * t
    with np.errstate(invalid="ignore", divide="ignore"):
        radius = np.where(np.abs(yaw_rate) > 1e-9, speed / yaw_rate, np.inf)
        x = np.where(np.isfinite(radius), radius * np.sin(heading), speed * t)
        y = np.where(np.isfinite(radius), radius * (1.0 - np.cos(heading)), 0.0)
    return np.stack([x, y, heading], axis=-1)


def _cases() -> list[tuple[str, MetricCache, np.ndarray]]:
    out = []
    for name in ("scene_a", "scene_c"):
        scene = load_golden_scene(GOLDEN / name)
        out.append((name, scene.cache, make_candidates(scene.candidate_poses_local, 64, seed=1)))
    for i, cache in enumerate(_sample_caches()):
        out.append((f"sample_{i}", cache, _arcs(24, seed=i)))
    return out


@pytest.fixture(scope="module")
def cases() -> list[tuple[str, MetricCache, np.ndarray]]:
    return _cases()


def test_simulate_backends_agree(cases) -> None:
    for name, cache, poses in cases:
        cand = candidate_states(cache.initial_state, cache.initial_time_us, poses)
        ref = reference_states(cache.trajectory_time_us, cache.trajectory_states, cache.initial_time_us)
        refs = np.concatenate([ref[None], cand])
        expected = simulate(refs, cache.initial_state, backend="numpy")
        got = simulate(refs, cache.initial_state, backend="numba")
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL, err_msg=name)


def test_score_candidates_backends_agree(cases) -> None:
    for name, cache, poses in cases:
        expected = score_candidates(cache, poses, PDMScorerConfig(simulation_backend="numpy"))
        got = score_candidates(cache, poses, PDMScorerConfig(simulation_backend="numba"))
        for key in DISCRETE:
            np.testing.assert_array_equal(getattr(got, key), getattr(expected, key), err_msg=f"{name}: {key}")
        for key in ("ego_progress", "score", "progress_raw_m", "states"):
            np.testing.assert_allclose(
                getattr(got, key), getattr(expected, key), rtol=0, atol=ATOL, err_msg=f"{name}: {key}"
            )


def test_unknown_backend_is_an_error() -> None:
    scene = load_golden_scene(GOLDEN / "scene_c")
    ref = reference_states(
        scene.cache.trajectory_time_us, scene.cache.trajectory_states, scene.cache.initial_time_us
    )
    with pytest.raises(ValueError, match="backend"):
        simulate(ref[None], scene.cache.initial_state, backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        score_candidates(scene.cache, np.zeros((1, 8, 3)), replace(PDMScorerConfig(), simulation_backend="x"))


def test_normalize_twin_matches_geometry() -> None:
    """The compiled scalar wrap is the twin of ``geometry.se2.normalize_angle`` (C-library vs numpy
    trigonometry: equal up to the last bit)."""
    from inspatio_drive.geometry.se2 import normalize_angle
    from inspatio_drive.pdm.simulation_numba import _normalize

    angles = np.concatenate([np.random.default_rng(0).uniform(-20.0, 20.0, 2000), [0.0, np.pi, -np.pi, 3 * np.pi]])
    got = np.array([_normalize(float(a)) for a in angles])
    np.testing.assert_allclose(got, normalize_angle(angles), rtol=0, atol=1e-15)  # ≤ 2 ulp at π
