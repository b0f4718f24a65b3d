import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.contracts.errors import TrajectoryFormatError
from inspatio_drive.geometry import (
    pose2sphere,
    read_c2w_npy,
    read_tcw_txt,
    read_trajectory_txt,
    sphere2pose,
    trajectory_txt_to_poses,
    write_c2w_npy,
    write_tcw_txt,
    write_trajectory_txt,
)
from inspatio_drive.geometry.inspatio_io import resample_keyframes

# angles of real orbit files: 0 or at least 0.01° (below that the orbit/dolly split is numerically ill-posed)
deg = st.floats(-60.0, 60.0, allow_nan=False).filter(lambda a: a == 0.0 or abs(a) >= 0.01)
radius = st.floats(0.1, 20.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(deg, deg, radius), min_size=1, max_size=6))
def test_sphere2pose_round_trip(rows):
    p, y, r = (np.array(v) for v in zip(*rows))
    if np.all(p == 0) and np.all(y == 0):
        p = p + 1.0
    c2w = sphere2pose(p, y, r)
    assert c2w.shape == (len(p), 4, 4)
    np.testing.assert_allclose(
        c2w[:, :3, :3] @ c2w[:, :3, :3].transpose(0, 2, 1),
        np.broadcast_to(np.eye(3), (len(p), 3, 3)),
        atol=1e-12,
    )
    pb, yb, rb = pose2sphere(c2w)
    np.testing.assert_allclose(pb, p, atol=1e-7)
    np.testing.assert_allclose(yb, y, atol=1e-7)
    moving = (np.abs(p) > 1e-3) | (np.abs(y) > 1e-3)
    np.testing.assert_allclose(rb[moving], r[moving], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(deg, deg, radius)
def test_sphere2pose_orbits_the_look_at_point(p, y, r):
    if p == 0 and y == 0:
        p = 0.5  # all-zero angles is the dolly special case, tested below
    c2w = sphere2pose(p, y, r)[0]
    look_at = np.array([0.0, 0.0, r])
    centre = c2w[:3, 3]
    np.testing.assert_allclose(np.linalg.norm(centre - look_at), r, rtol=1e-9)
    np.testing.assert_allclose(centre + r * c2w[:3, 2], look_at, atol=1e-9 * max(1.0, r))  # axis hits it


def test_sphere2pose_sign_conventions_and_dolly():
    up = sphere2pose(10.0, 0.0, 2.0)[0]
    assert up[1, 3] < 0  # positive pitch: camera moves up (−y in OpenCV)
    left = sphere2pose(0.0, 10.0, 2.0)[0]
    assert left[0, 3] < 0  # positive yaw: camera moves left (−x)
    assert left[0, 2] > 0  # ... and turns right toward the point
    dolly = sphere2pose([0.0, 0.0], [0.0, 0.0], [0.0, 1.5])
    np.testing.assert_allclose(dolly[1, :3, 3], [0, 0, 1.5])
    np.testing.assert_allclose(sphere2pose([0.0], [0.0], [2.0], rotation_only=True)[0, :3, 3], [0, 0, 2.0])
    np.testing.assert_allclose(sphere2pose(0.0, 20.0, 2.0, rotation_only=True)[0, :3, 3], 0.0)
    with pytest.raises(ValueError, match="orbit"):
        bad = np.eye(4)[None].copy()
        bad[0, 0, 3] = 1.0
        pose2sphere(bad)


def test_trajectory_txt_round_trip_and_resampling(tmp_path):
    path = write_trajectory_txt(tmp_path / "t.txt", [0, 20, 0, -20, 0], [0, 10], [1.0])
    p, y, r = read_trajectory_txt(path)
    np.testing.assert_array_equal(p, [0, 20, 0, -20, 0])
    np.testing.assert_array_equal(y, [0, 10])
    np.testing.assert_array_equal(r, [1.0])
    poses = trajectory_txt_to_poses(path, 41, spline="interpolating")
    assert poses.shape == (41, 4, 4)
    pitch, yaw, _ = pose2sphere(poses)
    np.testing.assert_allclose(pitch[[0, 10, 20, 30, 40]], [0, 20, 0, -20, 0], atol=1e-9)  # keys hit exactly
    np.testing.assert_allclose(yaw[[0, 40]], [0, 10], atol=1e-9)
    np.testing.assert_allclose(resample_keyframes([3.0], 4), [3.0] * 4)
    (tmp_path / "bad.txt").write_text("1 2\n3 x\n4\n")
    with pytest.raises(ValueError, match="yaw"):
        read_trajectory_txt(tmp_path / "bad.txt")
    (tmp_path / "two.txt").write_text("1 2\n3\n")
    with pytest.raises(ValueError, match="expected 3 lines"):
        read_trajectory_txt(tmp_path / "two.txt")


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"0 10\n0 nan\n1\n", r"bad\.txt:2: line 'yaw': value 2 is 'nan'; expected a finite"),
        (b"0 10\n0 5\n1 inf\n", r"bad\.txt:3: line 'displacement': value 2 is 'inf'; expected a finite"),
        (b"0 -Infinity\n0 5\n1\n", r"bad\.txt:1: line 'pitch'.*finite"),
        (b"0 10\n\n0 5\n1\n", r"bad\.txt:2: blank line"),
        (b"0 10\n   \n0 5\n1\n", r"bad\.txt:2: blank line"),
        (b"0 10\n0 5\n\x89PNG\r\n\x1a\n", r"bad\.txt:3: invalid UTF-8"),
        (b"0 10\n0\x00 5\n1\n", r"bad\.txt:2: NUL byte"),
    ],
)
def test_trajectory_txt_refuses_bad_text_naming_file_and_line(tmp_path, content, pattern):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(TrajectoryFormatError, match=pattern) as err:
        read_trajectory_txt(tmp_path / "bad.txt")
    assert "\n" not in str(err.value)
    with pytest.raises(TrajectoryFormatError, match=r"bad\.txt"):
        read_tcw_txt(tmp_path / "bad.txt")


def test_trajectory_txt_trailing_blank_lines_are_fine(tmp_path):
    (tmp_path / "t.txt").write_text("0 10\n0 5\n1\n\n\n")
    p, y, r = read_trajectory_txt(tmp_path / "t.txt")
    assert p.tolist() == [0, 10] and y.tolist() == [0, 5] and r.tolist() == [1]


def test_pose_readers_name_the_path_of_bad_files(tmp_path):
    c2w = sphere2pose(np.linspace(-5, 5, 7), np.linspace(10, -10, 7), np.linspace(1, 3, 7))
    good = write_c2w_npy(tmp_path / "p.npy", c2w)
    (tmp_path / "cut.npy").write_bytes(good.read_bytes()[:200])
    with pytest.raises(TrajectoryFormatError, match=r"cut\.npy: not a readable \.npy"):
        read_c2w_npy(tmp_path / "cut.npy")
    with pytest.raises(TrajectoryFormatError, match=r"missing\.npy"):
        read_c2w_npy(tmp_path / "missing.npy")
    with pytest.raises(TrajectoryFormatError, match=r"missing\.txt: cannot read"):
        read_tcw_txt(tmp_path / "missing.txt")
    write_tcw_txt(tmp_path / "tcw.txt", np.linalg.inv(c2w))
    text = (tmp_path / "tcw.txt").read_text().splitlines()
    text[4] = " ".join(["nan", *text[4].split()[1:]])
    (tmp_path / "tcw.txt").write_text("\n".join(text))
    with pytest.raises(TrajectoryFormatError, match=r"tcw\.txt:5: pose row: value 1 is 'nan'"):
        read_tcw_txt(tmp_path / "tcw.txt")


def test_pose_file_round_trips(tmp_path):
    c2w = sphere2pose(np.linspace(-5, 5, 7), np.linspace(10, -10, 7), np.linspace(1, 3, 7))
    np.testing.assert_array_equal(read_c2w_npy(write_c2w_npy(tmp_path / "p.npy", c2w)), c2w)
    w2c = np.linalg.inv(c2w)
    back = read_tcw_txt(write_tcw_txt(tmp_path / "target_tcw.txt", w2c))
    np.testing.assert_array_equal(back, w2c)  # repr() keeps full precision
    lines = (tmp_path / "target_tcw.txt").read_text().splitlines()
    assert len(lines) == 7 and all(len(ln.split()) == 16 for ln in lines)
    (tmp_path / "bad_tcw.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="16 numbers"):
        read_tcw_txt(tmp_path / "bad_tcw.txt")
    with pytest.raises(ValueError, match=r"\[T, 4, 4\]"):
        write_c2w_npy(tmp_path / "x.npy", np.eye(4))
    nan = c2w.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        write_tcw_txt(tmp_path / "n.txt", nan)
