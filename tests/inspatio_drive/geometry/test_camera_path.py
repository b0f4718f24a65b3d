"""InSpatio trajectory files laid over a candidate: keyframe splines, adaptive frame count, time stop, composition."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import UnivariateSpline

from inspatio_drive.contracts.errors import TrajectoryFormatError
from inspatio_drive.geometry import (
    camera_relative_to_source,
    sphere2pose,
    write_c2w_npy,
    write_trajectory_txt,
)
from inspatio_drive.geometry.camera_path import CameraPathOptions, build_camera_path
from inspatio_drive.geometry.inspatio_io import (
    adaptive_frame_indices,
    adaptive_frame_range,
    freeze_indices,
    resample_keyframes,
    total_keyframe_angle,
)
from inspatio_drive.geometry.rig import nuplan_like_rig

keys = st.lists(st.floats(-30, 30, allow_nan=False), min_size=4, max_size=40)


@settings(max_examples=40, deadline=None)
@given(keys, st.integers(5, 300))
def test_smoothing_spline_is_scipys_default_univariate_spline(values, n):
    v = np.array(values)
    out = resample_keyframes(v, n)
    x = np.linspace(0, 1, len(v))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = UnivariateSpline(x, v, k=3)  # default s = K: InSpatio's call
    np.testing.assert_allclose(out, ref(np.linspace(0, 1, n)), atol=1e-9)
    if not caught:  # FITPACK converged (it warns when maxit stops it short of fp = s, then the condition can miss)
        assert np.sum((ref(x) - v) ** 2) <= len(v) * (1 + 1e-3) + 1e-9  # the smoothing condition s = K (tol 0.1 %)
    through = resample_keyframes(v, 1 + 3 * (len(v) - 1), spline="interpolating")
    np.testing.assert_allclose(through[::3], v, atol=1e-9)  # interpolating: every key hit
    pinned = resample_keyframes(v, n, pin_ends=True)
    assert pinned[0] == v[0] and pinned[-1] == v[-1]


def test_smoothing_misses_keys_and_few_keys_are_linear():
    pitch = np.tile([0.0, 20.0, 0.0, -20.0], 10)[:37]  # a ±20° oscillation, 37 keys
    out = resample_keyframes(pitch, 1 + 6 * 36)
    assert np.abs(out[::6] - pitch).max() > 1.0 and out[0] != 0.0  # a smoothing fit: keys are missed
    np.testing.assert_allclose(resample_keyframes([0.0, 10.0, 0.0], 5), [0, 5, 10, 5, 0])
    with pytest.raises(ValueError, match="spline"):
        resample_keyframes(pitch, 10, spline="akima")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 900), st.floats(0.0, 600.0))
def test_adaptive_frame_indices_follow_inspatio(n, angle):
    idx = adaptive_frame_indices(n, angle)
    lo, hi = adaptive_frame_range(n, angle)
    assert idx.min() >= 0 and idx.max() <= n - 1
    target = max(lo, 121)
    if n < target:  # ping-pong extension to max(lo, 121)
        assert len(idx) == target
        assert idx[0] == 0 and (n == 1 or np.all(np.abs(np.diff(idx)) == 1))
    elif n > hi:  # uniform subsampling down to hi
        assert len(idx) == hi and idx[0] == 0 and idx[-1] == n - 1 and np.all(np.diff(idx) > 0)
    else:
        np.testing.assert_array_equal(idx, np.arange(n))
    if angle >= 0.3:  # 0.3–0.8° per frame at both ends of the range (below 0.3° the 2-frame floor applies)
        assert lo >= 2 and angle / (lo - 1) <= 0.8 + 1e-9 and angle / (hi - 1) >= 0.3 - 1e-9


def test_adaptive_matches_the_reference_example():
    # x_y_circle_cycle turns 240° in total: [301, 801] frames; a 247-frame source is bounced to 301
    assert adaptive_frame_range(247, 240.0) == (301, 801)
    idx = adaptive_frame_indices(247, 240.0)
    assert len(idx) == 301 and idx[246] == 246 and idx[247] == 245
    assert total_keyframe_angle([0, 20, 0, -20, 0], [0, 10]) == 80.0
    np.testing.assert_array_equal(adaptive_frame_indices(150, 0.0), np.arange(150))  # no turn: kept
    assert len(adaptive_frame_indices(97, 0.0)) == 121  # ... but short clips still bounce to 121


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(0, 50), st.one_of(st.none(), st.integers(-5, 250)))
def test_freeze_indices_repeat_one_frame(n, repeat, frame):
    idx = freeze_indices(n, repeat, frame)
    f = n // 2 if frame is None else min(max(frame, 0), n - 1)
    assert len(idx) == n + repeat and np.all(np.diff(idx) >= 0)
    assert np.sum(idx == f) == repeat + 1
    np.testing.assert_array_equal(np.unique(idx), np.arange(n))


def _rig_ext(name="CAM_L0"):
    """``T_ego_cam [4, 4]`` of one camera of the nuPlan-like rig."""
    return nuplan_like_rig(cameras=(name,))[name][1]


def test_camera_path_composition(tmp_path):
    traj = np.zeros((8, 3))
    traj[:, 0] = np.arange(1, 9) * 2.0
    traj[:, 2] = np.linspace(0.02, 0.3, 8)
    ext = _rig_ext()
    plain = build_camera_path(traj, ext, 6.0)
    ref = camera_relative_to_source(torch.as_tensor(plain.ego), torch.as_tensor(ext)[None])[:, 0].numpy()
    np.testing.assert_allclose(plain.c2w, ref, atol=1e-12)
    np.testing.assert_allclose(plain.c2w[0], np.eye(4), atol=1e-12)
    assert len(plain.times) == 25

    txt = write_trajectory_txt(tmp_path / "t.txt", [0, 10, 0, -10, 0], [0, 20, 0, -20, 0], [1.0, 2.0])
    rel = build_camera_path(traj, ext, 6.0, CameraPathOptions(str(txt)))
    offsets = build_camera_path(traj, ext, 6.0, CameraPathOptions(str(txt), relative_to_source=False)).c2w
    np.testing.assert_allclose(rel.c2w, ref @ offsets, atol=1e-12)  # S_i · O_i
    p = resample_keyframes([0, 10, 0, -10, 0], 25)
    y = resample_keyframes([0, 20, 0, -20, 0], 25)
    r = resample_keyframes([1.0, 2.0], 25, pin_ends=True)
    np.testing.assert_allclose(offsets, sphere2pose(p, y, r), atol=1e-12)
    rot = build_camera_path(traj, ext, 6.0, CameraPathOptions(str(txt), rotation_only=True))
    np.testing.assert_allclose(rot.c2w[:, :3, 3], ref[:, :3, 3], atol=1e-9)  # pan/tilt about the moving centre
    np.testing.assert_allclose(rot.c2w[:, :3, :3], rel.c2w[:, :3, :3], atol=1e-12)
    assert rel.meta["keyframes"] == [5, 5, 2] and rel.meta["num_frames"] == 25


def test_camera_path_freeze_and_adaptive(tmp_path):
    traj = np.zeros((8, 3))
    traj[:, 0] = np.arange(1, 9) * 2.0
    ext = _rig_ext("CAM_F0")
    txt = write_trajectory_txt(tmp_path / "t.txt", [0.0], [0, 30, 0, -30, 0, 30, 0, -30, 0], [0.0])
    frozen = build_camera_path(traj, ext, 4.0, CameraPathOptions(str(txt), freeze_repeat=10, freeze_frame=3))
    assert len(frozen.times) == 17 + 10
    still = frozen.times == frozen.times[3]
    assert still.sum() == 11 and np.all(frozen.ego[still] == frozen.ego[3])  # time and ego stand still
    yaw = np.degrees(np.arctan2(frozen.c2w[:, 0, 2], frozen.c2w[:, 2, 2]))
    assert np.ptp(yaw[still]) > 5.0  # ... while the camera keeps turning
    assert frozen.meta["freeze_frame"] == 3
    adapted = build_camera_path(traj, ext, 4.0, CameraPathOptions(str(txt), adaptive_frames=True))
    # 240° in total → at least ceil(240 / 0.8) + 1 = 301 frames, ping-ponged from 17
    assert len(adapted.times) == 301 and adapted.meta["total_angle_deg"] == 240.0
    plain = build_camera_path(traj, ext, 4.0, CameraPathOptions(str(txt)))
    np.testing.assert_allclose(adapted.c2w[:17], plain.c2w, atol=1e-12)
    np.testing.assert_allclose(adapted.c2w[17], plain.c2w[15], atol=1e-12)


def test_camera_path_npy_and_errors(tmp_path):
    traj = np.zeros((8, 3))
    traj[:, 0] = np.arange(1, 9) * 2.0
    ext = _rig_ext("CAM_F0")
    txt = write_trajectory_txt(tmp_path / "t.txt", [0, 5, 0, -5], [0, 15, -15, 0], [0.5])
    orbit = build_camera_path(traj, ext, 2.0, CameraPathOptions(str(txt)))
    npy = write_c2w_npy(tmp_path / "p.npy", orbit.c2w)
    again = build_camera_path(traj, ext, 2.0, CameraPathOptions(str(npy), relative_to_source=False))
    np.testing.assert_allclose(again.c2w, orbit.c2w, atol=1e-12)  # absolute poses in the t=0 camera's frame
    with pytest.raises(TrajectoryFormatError, match=r"p\.npy: 9 poses, but the render has 17 frames"):
        build_camera_path(traj, ext, 4.0, CameraPathOptions(str(npy)))
    with pytest.raises(TrajectoryFormatError, match=r"p\.npy: adaptive_frames needs a 3-line"):
        build_camera_path(traj, ext, 2.0, CameraPathOptions(str(npy), adaptive_frames=True))
    (tmp_path / "four.txt").write_text("0 1\n0 1\n1\n2\n")
    with pytest.raises(TrajectoryFormatError, match=r"four\.txt:4: expected 3 lines .* found 4"):
        build_camera_path(traj, ext, 2.0, CameraPathOptions(str(tmp_path / "four.txt")))
    (tmp_path / "word.txt").write_text("0 1\n0 left\n1\n")
    with pytest.raises(TrajectoryFormatError, match=r"word\.txt:2: line 'yaw': value 2 'left' is not a number"):
        build_camera_path(traj, ext, 2.0, CameraPathOptions(str(tmp_path / "word.txt")))
    with pytest.raises(ValueError, match="freeze_repeat"):
        CameraPathOptions(freeze_repeat=-1)
