"""The compiled PDM-Closed unrolling (numba) equals the numpy / shapely reference path.

Same steps in the same arithmetic order; numpy's SIMD ``pow`` / ``tan`` may differ from the C library's in the
last bit, so continuous outputs are compared to 1e-12 and everything discrete (selected proposal, cache
contents) exactly. Scenes: the golden NAVSIM scenes A (oncoming traffic) and C (red light) and the bundled
sandbox sample.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import shapely
from pdm_cache_golden import GOLDEN, SCENES

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.data import SceneLoader
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.forecast import RED_LIGHT_TOKEN
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.cache.pdm_closed_numba import HAVE_NUMBA, polygon_distance

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
ATOL = 1e-12


@lru_cache(maxsize=1)
def _builds() -> tuple[tuple[str, object, object, object, object], ...]:
    """(name, numpy cache, numpy PDM-Closed, numba cache, numba PDM-Closed) per scene, built once."""
    from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root

    sources = [(GOLDEN, f"navsim_logs/{split}") for split in SCENES.values()]
    sources.append((sample_root(), f"navsim_logs/{SAMPLE_SPLIT}"))
    out = []
    for root, logs in sources:
        loader = SceneLoader(root / logs, None, show_progress=False)
        for token in loader.tokens:
            scene = loader.get_scene_from_token(token)
            map_api = load_map(root / "maps", scene.scene_metadata.map_name)
            ref = build_metric_cache(
                scene, map_api, MetricCacheConfig(backend="numpy"), return_pdm_closed=True
            )
            got = build_metric_cache(
                scene, map_api, MetricCacheConfig(backend="numba"), return_pdm_closed=True
            )
            out.append((scene.scene_metadata.log_name, *ref, *got))
    return tuple(out)


def test_backends_give_the_same_pdm_closed() -> None:
    builds = _builds()
    assert len(builds) == 5
    for name, _, ref, _, got in builds:
        assert got.best == ref.best, name
        for key in ("proposals", "simulated", "scores", "trajectory_states"):
            np.testing.assert_allclose(
                getattr(got, key), getattr(ref, key), rtol=0, atol=ATOL, err_msg=f"{name}: {key}"
            )
        np.testing.assert_array_equal(got.trajectory_time_us, ref.trajectory_time_us)


def test_backends_give_the_same_cache() -> None:
    for name, ref, _, got, _ in _builds():
        np.testing.assert_allclose(
            got.trajectory_states, ref.trajectory_states, rtol=0, atol=ATOL, err_msg=name
        )
        np.testing.assert_array_equal(got.centerline.path, ref.centerline.path)
        np.testing.assert_array_equal(got.observation.corners, ref.observation.corners)
        assert got.observation.tokens == ref.observation.tokens
        assert got.route_lane_ids == ref.route_lane_ids
        assert got.drivable_area_map.tokens == ref.drivable_area_map.tokens
        assert got.extra == ref.extra


def test_red_light_scene_exercises_the_kernel() -> None:
    """Scene C waits at a red light: the kernel's polygon distance must handle lane-connector polygons."""
    from pdm_cache_golden import load_golden_scene_input

    from inspatio_drive.pdm.cache.builder import plan_route
    from inspatio_drive.pdm.cache.forecast import forecast_observation
    from inspatio_drive.pdm.cache.geometry import ego_center
    from inspatio_drive.pdm.cache.scene_input import detections_of_frame, initial_ego_state

    scene = load_golden_scene_input("c")
    map_api = load_map(GOLDEN / "maps", scene.scene_metadata.map_name)
    frame = scene.frames[scene.current_index]
    plan = plan_route(scene, map_api)
    lanes = plan.route.lanes
    red = [(str(lc), lanes[str(lc)].polygon) for lc, r in frame.traffic_lights if r and str(lc) in lanes]
    assert red, "golden scene C should have a red light on its route"
    pose = initial_ego_state(frame)[:3]
    fc = forecast_observation(
        detections_of_frame(frame),
        ego_center(pose, PACIFICA),
        shapely.Polygon(ego_corners(pose, PACIFICA)),
        red,
        51,
        0.1,
        100.0,
    )
    assert any(RED_LIGHT_TOKEN in t for t in fc.tokens)
    # bulk corridor query: per geometry the same hits in the same order as one query each
    corridors = np.array([shapely.buffer(shapely.points(pose[:2]), r) for r in (5.0, 30.0, 80.0)])
    for step in (0, 7, 30):
        which, idx = fc.query_many(int(fc.step_to_sample[step]), corridors)
        for k, corridor in enumerate(corridors):
            np.testing.assert_array_equal(idx[which == k], fc.query(step, corridor))
    # polygon distance of the kernel = shapely's for the red-light polygons and boxes around them
    rng = np.random.default_rng(0)
    for _, poly in red:
        c = np.asarray(poly.exterior.coords)
        for _ in range(50):
            p = np.array([*(c[rng.integers(len(c))] + rng.normal(0.0, 3.0, 2)), rng.uniform(-np.pi, np.pi)])
            box = ego_corners(p, PACIFICA)
            ring = np.vstack([box, box[:1]])
            assert polygon_distance(ring, poly) == shapely.distance(shapely.polygons(box), poly)


def test_polygon_distance_equals_shapely() -> None:
    """Boxes, convex hulls and polygons with holes; overlapping, containing and separate pairs."""
    rng = np.random.default_rng(1)
    kinds = set()
    for i in range(600):
        pose = np.array([rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(-4, 4)])
        box = ego_corners(pose, PACIFICA)
        if i % 3 == 0:
            poly = shapely.box(*rng.uniform(-8, 0, 2), *rng.uniform(0.5, 8, 2))
        elif i % 3 == 1:
            poly = shapely.convex_hull(shapely.multipoints(rng.uniform(-10, 10, (12, 2))))
        else:
            outer = shapely.Point(rng.uniform(-6, 6, 2)).buffer(rng.uniform(3, 8), quad_segs=4)
            hole = shapely.Point(rng.uniform(-2, 2, 2)).buffer(rng.uniform(0.5, 2.5), quad_segs=3)
            poly = outer.difference(hole)
            if not isinstance(poly, shapely.Polygon):
                continue
        expected = shapely.distance(shapely.polygons(box), poly)
        kinds.add(expected == 0.0)
        assert polygon_distance(np.vstack([box, box[:1]]), poly) == expected
    assert kinds == {True, False}


def test_unknown_backend_is_an_error() -> None:
    with pytest.raises(ValueError, match="backend"):
        MetricCacheConfig(backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        MetricCacheConfig.from_dict({"backend": "gpu"})


def test_zero_target_velocity_follows_numpy_division_rules() -> None:
    """A 0 × speed-limit policy divides by zero in the IDM: the kernel must do what numpy does (inf, clip)."""
    from pdm_cache_golden import load_golden_scene_input

    from inspatio_drive.pdm.cache.config import IDMConfig

    scene = load_golden_scene_input("a")
    map_api = load_map(GOLDEN / "maps", scene.scene_metadata.map_name)
    idm = IDMConfig(speed_limit_fractions=(0.0, 0.5, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        _, ref = build_metric_cache(
            scene, map_api, MetricCacheConfig(idm=idm, backend="numpy"), return_pdm_closed=True
        )
    _, got = build_metric_cache(
        scene, map_api, MetricCacheConfig(idm=idm, backend="numba"), return_pdm_closed=True
    )
    assert got.best == ref.best
    np.testing.assert_allclose(got.proposals, ref.proposals, rtol=0, atol=ATOL)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=0, atol=ATOL)


def test_no_extra_steps_with_the_numba_backend() -> None:
    """trajectory_steps == proposal_steps: nothing to unroll after the selection (must not be an error)."""
    from pdm_cache_golden import load_golden_scene_input

    scene = load_golden_scene_input("c")
    map_api = load_map(GOLDEN / "maps", scene.scene_metadata.map_name)
    ref = build_metric_cache(scene, map_api, MetricCacheConfig(trajectory_steps=40, backend="numpy"))
    got = build_metric_cache(scene, map_api, MetricCacheConfig(trajectory_steps=40, backend="numba"))
    assert got.trajectory_states.shape == (41, 11)
    np.testing.assert_allclose(got.trajectory_states, ref.trajectory_states, rtol=0, atol=ATOL)
