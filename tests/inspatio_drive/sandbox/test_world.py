"""Scenario catalogue, determinism, ego kinematics, annotations and the driving command."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from inspatio_drive.geometry.se2 import relative_to_absolute_se2
from inspatio_drive.sandbox import SCENARIOS, generate_scene
from inspatio_drive.sandbox.actors import EGO_LENGTH, EGO_REAR_TO_CENTER, EGO_WIDTH


def _footprint(x: float, y: float, h: float, length: float, width: float) -> shapely.Polygon:
    c, s = np.cos(h), np.sin(h)
    corners = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [length / 2, width / 2]
    return shapely.Polygon(corners @ np.array([[c, s], [-s, c]]) + [x, y])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_catalogue_generates_plausible_ego(scenario):
    w = generate_scene(scenario, 3, num_frames=14, density=0.5)
    # the logged ego never touches another object
    for t in np.arange(0.0, w.frame_times[-1] + 1e-9, 0.25):
        c, h = w.ego_center(t), w.ego.at(t)["pose"][2]
        ego = _footprint(c[0], c[1], h, EGO_LENGTH, EGO_WIDTH)
        poses, _ = w.actor_states(t)
        for k, a in enumerate(w.actors):
            if a.kind not in ("building", "wall", "tree", "pole"):
                assert not ego.intersects(_footprint(*poses[k], a.size[0], a.size[1])), (a.kind, t)
    st = w.ego.at(np.arange(0.0, w.frame_times[-1] + 1e-9, 0.05))  # the logged window at 20 Hz
    assert np.all(st["speed"] >= 0) and np.all(st["speed"] < 20)
    assert np.all(np.abs(st["accel"]) <= 8.0)  # emergency braking at most
    assert np.all(np.abs(st["yaw_rate"]) < 0.95)  # nuPlan / PDM comfort bound
    assert len(w.roadblock_ids) == 3 and w.traffic_lights
    cmd = np.stack([w.driving_command(t) for t in w.frame_times])
    assert np.all(cmd.sum(axis=1) == 1)


def test_scenarios_do_what_they_say():
    braking = generate_scene("lead_vehicle_braking", 0, density=0.0)
    assert braking.ego.at(6.5)["speed"] < braking.ego.at(0.0)["speed"] - 3.0
    left = generate_scene("unprotected_left_turn", 0, density=0.0)
    cmds = [left.driving_command(t).argmax() for t in left.frame_times]
    assert 0 in cmds  # left
    heading_change = left.ego.at(left.ego.times[-1])["pose"][2] - left.ego.at(0.0)["pose"][2]
    assert heading_change > 0.5
    ped = generate_scene("pedestrian_crossing", 0, density=0.0)
    assert any(a.kind == "pedestrian" and not a.is_static for a in ped.actors)


def test_generation_is_deterministic():
    a = generate_scene("cut_in", 4, num_frames=6, density=0.5)
    b = generate_scene("cut_in", 4, num_frames=6, density=0.5)
    np.testing.assert_array_equal(a.ego.poses, b.ego.poses)
    assert [x.token for x in a.actors] == [x.token for x in b.actors]
    for x, y in zip(a.actors, b.actors):
        np.testing.assert_array_equal(x.track.poses, y.track.poses)
    c = generate_scene("cut_in", 5, num_frames=6, density=0.5)
    assert not np.array_equal(a.ego.poses, c.ego.poses) or len(a.actors) != len(c.actors)


def test_annotations_are_in_the_ego_frame(tiny_world):
    t = 1.5
    anns = tiny_world.annotations(t)
    assert anns["gt_boxes"].shape[1] == 7 and len(anns["gt_names"]) == len(anns["track_tokens"]) > 0
    ego = tiny_world.ego.at(t)["pose"]
    poses, _ = tiny_world.actor_states(t)
    by_token = {a.token: k for k, a in enumerate(tiny_world.actors)}
    back = relative_to_absolute_se2(ego, anns["gt_boxes"][:, [0, 1, 6]])
    for tok, p in zip(anns["track_tokens"], back):
        k = by_token[tok]
        np.testing.assert_allclose(p[:2], poses[k, :2], atol=1e-9)
    assert set(anns["gt_names"]) <= {"vehicle", "pedestrian", "bicycle", "traffic_cone", "barrier", "czone_sign"}


def test_ego_dynamic_state_matches_track(tiny_world):
    t0, t1 = 2.0, 2.05
    v = tiny_world.ego_dynamic_state(t0)
    p0, p1 = tiny_world.ego.at(t0)["pose"], tiny_world.ego.at(t1)["pose"]
    speed = np.hypot(*(p1[:2] - p0[:2])) / (t1 - t0)
    assert v[0] == pytest.approx(speed, abs=0.2) and v[1] == 0.0
    assert EGO_REAR_TO_CENTER == pytest.approx(1.461)


def test_unknown_scenario_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown scenario"):
        generate_scene("flying_cars", 0)
