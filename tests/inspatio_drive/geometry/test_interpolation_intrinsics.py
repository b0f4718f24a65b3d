import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from inspatio_drive.geometry import (
    crop_intrinsics,
    fit_intrinsics,
    interpolate_se2,
    interpolate_se3,
    interpolate_trajectory,
    resize_intrinsics,
    se2_to_matrix,
    wrap_angle,
)
from inspatio_drive.geometry.intrinsics import center_crop_box

step = st.tuples(st.floats(0.5, 8.0), st.floats(-1.0, 1.0), st.floats(-0.4, 0.4))


def _trajectory(steps):
    """Integrate (forward, lateral, dyaw) steps into a [T, 3] trajectory in the start frame."""
    x = y = h = 0.0
    out = []
    for fwd, lat, dh in steps:
        x += fwd * np.cos(h) - lat * np.sin(h)
        y += fwd * np.sin(h) + lat * np.cos(h)
        h += dh
        out.append((x, y, h))
    return np.array(out)


@settings(max_examples=30, deadline=None)
@given(st.lists(step, min_size=2, max_size=8), st.sampled_from([2.0, 10.0, 16.0, 24.0]))
def test_interpolation_passes_through_keys_and_starts_at_current_pose(steps, fps):
    traj = _trajectory(steps)
    times, poses = interpolate_trajectory(traj, fps)
    assert times[0] == 0.0 and poses.shape == (len(times), 3)
    np.testing.assert_allclose(poses[0], 0.0, atol=1e-12)
    assert times[-1] == pytest.approx(0.5 * len(traj))
    for k in range(len(traj)):
        idx = np.flatnonzero(np.isclose(times, 0.5 * (k + 1)))
        if len(idx):
            np.testing.assert_allclose(poses[idx[0], :2], traj[k, :2], atol=1e-9)
            assert np.cos(poses[idx[0], 2] - traj[k, 2]) == pytest.approx(1.0)
    # heading changes monotonically between keys (SLERP about z = linear in angle)
    dh = np.diff(np.unwrap(poses[:, 2]))
    assert np.all(np.abs(dh) <= 0.4 * (2.0 / fps) + 1e-9)


def test_interpolation_batch_and_exclude_current():
    traj = np.stack([_trajectory([(2.0, 0, 0.1)] * 8), _trajectory([(1.0, 0, -0.1)] * 8)])
    times, poses = interpolate_trajectory(traj, 10.0, include_current=False)
    assert poses.shape == (2, 40, 3) and times[0] == pytest.approx(0.1)
    single = interpolate_trajectory(traj[1], 10.0, include_current=False)[1]
    np.testing.assert_allclose(poses[1], single)
    # straight constant-speed motion is reproduced exactly by the spline
    straight = np.stack([np.arange(1, 9) * 3.0, np.zeros(8), np.zeros(8)], -1)
    t, p = interpolate_trajectory(straight, 4.0)
    np.testing.assert_allclose(p[:, 0], 6.0 * t, atol=1e-9)


def test_heading_interpolates_across_the_pi_cut():
    p = interpolate_se2([0.0, 1.0], [[0, 0, 3.1], [0, 0, -3.1]], [0.5])
    assert abs(wrap_angle(p[0, 2] - np.pi)) < 1e-9


def test_interpolation_rejects_bad_times():
    with pytest.raises(ValueError, match="outside"):
        interpolate_se2([0.0, 1.0], np.zeros((2, 3)), [1.5])
    with pytest.raises(ValueError, match="increasing"):
        interpolate_se2([1.0, 0.0], np.zeros((2, 3)), [0.5])
    with pytest.raises(ValueError, match="match times"):
        interpolate_se2([0.0, 1.0, 2.0], np.zeros((2, 3)), [0.5])


@settings(max_examples=20, deadline=None)
@given(st.lists(step, min_size=3, max_size=6))
def test_se3_interpolation_agrees_with_planar_interpolation(steps):
    traj = np.concatenate([np.zeros((1, 3)), _trajectory(steps)])
    times = np.arange(len(traj)) * 0.5
    q = np.linspace(0, times[-1], 17)
    m = interpolate_se3(times, se2_to_matrix(traj), q)
    np.testing.assert_allclose(m, se2_to_matrix(interpolate_se2(times, traj, q)), atol=1e-9)
    np.testing.assert_allclose(
        m[:, :3, :3] @ m[:, :3, :3].transpose(0, 2, 1), np.broadcast_to(np.eye(3), (17, 3, 3)), atol=1e-12
    )


def test_se3_slerp_midpoint_of_general_rotation():
    r = Rotation.from_rotvec([0.3, -0.6, 0.9])
    keys = np.stack([np.eye(4), np.eye(4)])
    keys[1, :3, :3] = r.as_matrix()
    mid = interpolate_se3([0.0, 1.0], keys, [0.5])[0, :3, :3]
    np.testing.assert_allclose(mid, Rotation.from_rotvec(0.5 * r.as_rotvec()).as_matrix(), atol=1e-12)


def _project(k, p):
    uvw = p @ k.T
    return uvw[..., :2] / uvw[..., 2:]


points = st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(1, 50))


@settings(max_examples=40, deadline=None)
@given(points, st.integers(100, 2000), st.integers(100, 2000), st.integers(0, 300), st.integers(0, 300))
def test_resize_and_crop_move_projections_like_the_pixels(p, w2, h2, left, top):
    k = np.array([[1545.0, 0, 960], [0, 1545.0, 560], [0, 0, 1]])
    uv = _project(k, np.array(p))
    uv_resized = _project(resize_intrinsics(k, (1920, 1080), (w2, h2)), np.array(p))
    np.testing.assert_allclose(uv_resized, uv * [w2 / 1920, h2 / 1080], rtol=1e-9, atol=1e-9)
    hp = _project(resize_intrinsics(k, (1920, 1080), (w2, h2), half_pixel=True), np.array(p))
    np.testing.assert_allclose(hp, (uv + 0.5) * [w2 / 1920, h2 / 1080] - 0.5, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        _project(crop_intrinsics(k, left, top), np.array(p)), uv - [left, top], atol=1e-9
    )


def test_intrinsics_torch_batch_and_fit_modes():
    k = torch.tensor([[1545.0, 0, 960], [0, 1545.0, 560], [0, 0, 1]], dtype=torch.float64).expand(3, 3, 3)
    out = fit_intrinsics(k, (1920, 1080), (832, 480))
    assert isinstance(out, torch.Tensor) and out.shape == (3, 3, 3)
    torch.testing.assert_close(out[0, 0, 2], torch.tensor(960 * 832 / 1920, dtype=torch.float64))
    assert center_crop_box((1920, 1080), 832 / 480) == (24, 0, 1872, 1080)
    crop = fit_intrinsics(k[0].numpy(), (1920, 1080), (832, 480), mode="crop")
    np.testing.assert_allclose(crop[0, 2], (960 - 24) * 832 / 1872)
    assert crop[0, 0] == pytest.approx(crop[1, 1])  # crop keeps square pixels
    with pytest.raises(ValueError, match="mode"):
        fit_intrinsics(k, (1920, 1080), (832, 480), mode="pad")
    with pytest.raises(ValueError, match="3, 3"):
        resize_intrinsics(np.eye(4), (1, 1), (2, 2))
