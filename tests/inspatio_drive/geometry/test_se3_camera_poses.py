import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.geometry import (
    camera_relative_to_source,
    camera_to_ego0,
    ego0_to_camera,
    invert_se3,
    nuplan_like_rig,
    relative_to_absolute_se2,
    se2_to_matrix,
    se2_to_se3,
    se3_to_se2,
    source_to_camera,
    transform_points,
)
from inspatio_drive.geometry.se3 import is_rigid, make_se3, rot_z

finite = st.floats(-50.0, 50.0, allow_nan=False)
angle = st.floats(-3.1, 3.1, allow_nan=False)
se2_pose = st.tuples(finite, finite, angle)


def _rig(names=("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")):
    rig = nuplan_like_rig(cameras=names)
    return np.stack([rig[n][1] for n in names])


@settings(max_examples=40, deadline=None)
@given(se2_pose)
def test_se2_se3_round_trip_and_numpy_agreement(p):
    m = se2_to_se3(torch.tensor(p, dtype=torch.float64))
    assert bool(is_rigid(m))
    np.testing.assert_allclose(m.numpy(), se2_to_matrix(np.array(p)), atol=1e-12)
    back = se3_to_se2(m).numpy()
    np.testing.assert_allclose(back[:2], p[:2], atol=1e-12)
    assert np.cos(back[2] - p[2]) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(se2_pose, se2_pose)
def test_se3_composition_matches_se2_composition(a, b):
    composed = se2_to_se3(torch.tensor(a, dtype=torch.float64)) @ se2_to_se3(
        torch.tensor(b, dtype=torch.float64)
    )
    expected = relative_to_absolute_se2(np.array(a), np.array(b))
    np.testing.assert_allclose(composed.numpy(), se2_to_matrix(expected), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(se2_pose, angle)
def test_invert_round_trip(p, yaw):
    t = se2_to_se3(torch.tensor(p, dtype=torch.float64))
    t[:3, :3] = t[:3, :3] @ torch.linalg.matrix_exp(
        torch.tensor([[0.0, 0.0, yaw], [0.0, 0.0, 0.0], [-yaw, 0.0, 0.0]], dtype=torch.float64)
    )
    eye = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(invert_se3(t) @ t, eye, atol=1e-10, rtol=0)
    # LAPACK's general inverse loses ~1e-16 relative to the translation magnitude (UTM-sized poses)
    scale = 1.0 + float(t.abs().max())
    torch.testing.assert_close(invert_se3(t), torch.linalg.inv(t), atol=1e-9 * scale, rtol=0)


def test_transform_points_and_make_se3_broadcast():
    t = make_se3(rot_z(torch.tensor([0.0, torch.pi / 2], dtype=torch.float64)), torch.tensor([1.0, 0.0, 0.0]))
    pts = torch.tensor([[[1.0, 0.0, 0.0]]], dtype=torch.float64).expand(2, 1, 3)
    out = transform_points(t, pts)
    torch.testing.assert_close(out, torch.tensor([[[2.0, 0, 0]], [[1.0, 1.0, 0]]], dtype=torch.float64))


def test_shapes_and_identity_at_current_pose():
    ext = _rig()
    traj = torch.zeros(5, 8, 3, dtype=torch.float64)
    c2e = camera_to_ego0(traj, ext)
    assert c2e.shape == (5, 8, 4, 4, 4) and c2e.dtype == torch.float64
    np.testing.assert_allclose(c2e[0, 0].numpy(), ext, atol=1e-12)
    rel = camera_relative_to_source(traj, ext)
    torch.testing.assert_close(rel, torch.eye(4, dtype=torch.float64).expand_as(rel).clone())
    with pytest.raises(ValueError, match="extrinsics"):
        camera_to_ego0(traj, np.eye(3))
    with pytest.raises(ValueError, match="SE\\(2\\)"):
        camera_to_ego0(torch.zeros(2, 4), ext)


@settings(max_examples=30, deadline=None)
@given(st.lists(se2_pose, min_size=1, max_size=4))
def test_world_to_camera_forms_are_inverses(poses):
    ext = _rig()
    traj = torch.tensor([poses], dtype=torch.float64)  # [1, T, 3]
    eye = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(
        ego0_to_camera(traj, ext) @ camera_to_ego0(traj, ext), eye.expand(1, len(poses), 4, 4, 4)
    )
    torch.testing.assert_close(
        source_to_camera(traj, ext) @ camera_relative_to_source(traj, ext), eye.expand(1, len(poses), 4, 4, 4)
    )
    # relative_to_source = T_ego_cam^-1 · (camera → ego0)
    rel = invert_se3(torch.as_tensor(ext))[None, None] @ camera_to_ego0(traj, ext)
    torch.testing.assert_close(camera_relative_to_source(traj, ext), rel)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 30.0))
def test_straight_ahead_moves_front_camera_along_its_own_plus_z(distance):
    ext = _rig(("CAM_F0", "CAM_B0"))
    traj = torch.tensor([[[distance, 0.0, 0.0]]], dtype=torch.float64)
    rel = camera_relative_to_source(traj, ext)[0, 0]  # [C, 4, 4]
    np.testing.assert_allclose(rel[0, :3, 3].numpy(), [0, 0, distance], atol=1e-9)  # F0 forward = +z
    np.testing.assert_allclose(rel[1, :3, 3].numpy(), [0, 0, -distance], atol=1e-9)  # B0 moves backwards
    np.testing.assert_allclose(rel[:, :3, :3].numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 1.5))
def test_left_turn_yaws_front_camera_left(yaw):
    ext = _rig(("CAM_F0",))
    traj = torch.tensor([[[5.0, 1.0, yaw]]], dtype=torch.float64)
    rel = camera_relative_to_source(traj, ext)[0, 0, 0]
    optical_axis = rel[:3, 2].numpy()  # new +z in the source camera frame (x right, y down)
    assert optical_axis[0] < 0  # points to the left (−x in OpenCV)
    assert np.arctan2(-optical_axis[0], optical_axis[2]) == pytest.approx(yaw, abs=1e-9)
    assert abs(optical_axis[1]) < 1e-12  # planar: no pitch
    # the ego moved left (+y ego) → the camera centre moved to −x of the source camera
    assert rel[0, 3] < 0


def test_point_in_front_of_moving_camera_gets_closer():
    ext = _rig(("CAM_F0",))
    w2c = ego0_to_camera(torch.tensor([[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]]), ext)[0, :, 0]
    p = torch.tensor([[30.0, 0.0, 1.5]], dtype=torch.float64)  # on the optical axis, 28.3 m ahead
    z = transform_points(w2c, p.expand(2, 1, 3))[..., 0, 2]
    torch.testing.assert_close(z, torch.tensor([28.3, 18.3], dtype=torch.float64))
