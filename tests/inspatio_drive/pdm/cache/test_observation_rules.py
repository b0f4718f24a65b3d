"""navsim's observation rules on a synthetic scene: seen-once objects static everywhere, late / early tracks
absent outside their annotated span, heading unwrapped, global conversion, type order, short scenes."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.data.types import Annotations, EgoStatus, Frame, Lidar, Scene, SceneMetadata
from inspatio_drive.pdm.cache.observation import ground_truth_observation


def _frame(i: int, boxes: list[tuple[str, str, float, float, float]], ego_x: float) -> Frame:
    """Ego at (ego_x, 10) heading π/2; boxes (token, type, x, y, yaw) in the ego frame."""
    n = len(boxes)
    ann = Annotations(
        boxes=np.array([[b[2], b[3], 0.0, 4.0, 2.0, 1.5, b[4]] for b in boxes]).reshape(n, 7),
        names=[b[1] for b in boxes],
        velocity_3d=np.tile([1.0, 0.0, 0.0], (n, 1)),
        instance_tokens=[f"{b[0]}_{i}" for b in boxes],
        track_tokens=[b[0] for b in boxes],
    )
    ego = EgoStatus(
        np.array([ego_x, 10.0, np.pi / 2]),
        np.zeros(2, np.float32),
        np.zeros(2, np.float32),
        np.array([0, 1, 0, 0]),
        in_global_frame=True,
    )
    return Frame(f"f{i}", 1_000_000 + 500_000 * i, ["1"], [], ann, ego, Lidar(None), {})


def _scene(frames: list[Frame]) -> Scene:
    return Scene(SceneMetadata("log", "scene", "us-nv-las-vegas-strip", "f3", 4, 10), frames)


def test_observation_rules() -> None:
    frames = []
    for i in range(14):
        k = i - 3  # 0 at the current frame
        boxes = []
        if k == 4:
            boxes.append(("cone_once", "traffic_cone", 5.0, 0.0, 0.0))
        if 0 <= k <= 4:
            boxes.append(("car_leaves", "vehicle", 10.0 + k, 0.0, 0.0))
        if k >= 6:
            # heading crosses ±π between frames: must be unwrapped before interpolating
            boxes.append(("ped_late", "pedestrian", 0.0, 3.0, np.pi - 0.05 if k % 2 == 0 else -np.pi + 0.05))
        frames.append(_frame(i, boxes, ego_x=0.0))
    obs = ground_truth_observation(_scene(frames))
    # order: first appearance over the 51 steps; at step 0 the seen-once cone (static everywhere) and the car,
    # sorted by type (vehicle before traffic_cone)
    assert obs.tokens == ["car_leaves", "cone_once", "ped_late"]
    present = obs.present
    assert present[1].all()  # seen once → present at all 51 steps
    assert present[0, :21].all() and not present[0, 21:].any()  # annotated 0…2 s
    assert not present[2, :30].any() and present[2, 30:].all()  # annotated from 3 s
    # ego frame → global: ego at (0, 10) heading π/2, so box x (forward) maps to +y
    centre = obs.corners[1, 0].mean(axis=0)
    np.testing.assert_allclose(centre, [0.0, 15.0], atol=1e-12)
    # interpolation between 0 s (x = 10) and 0.5 s (x = 11) at 0.2 s
    np.testing.assert_allclose(obs.corners[0, 2].mean(axis=0), [0.0, 10.0 + 10.4], atol=1e-12)
    # unwrapped heading: halfway between ±(π − 0.05) the box heading is ±π (not 0)
    c = obs.corners[2, 32]
    front = (c[0] + c[3]) / 2 - c.mean(axis=0)
    heading = np.arctan2(front[1], front[0]) - np.pi / 2  # back to the ego frame
    assert abs(np.cos(heading - (np.pi - 0.01)) - 1) < 1e-9
    assert obs.is_agent.tolist() == [True, False, True]
    np.testing.assert_allclose(obs.velocities[1], 0.0)  # static objects carry no velocity
    np.testing.assert_allclose(obs.velocities[0], [0.0, 1.0], atol=1e-12)  # rotated into the global frame


def test_short_scene_is_a_clear_error() -> None:
    frames = [_frame(i, [], 0.0) for i in range(10)]
    with pytest.raises(ValueError, match="needs 11 frames"):
        ground_truth_observation(_scene(frames))
