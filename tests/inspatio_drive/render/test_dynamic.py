import numpy as np
import pytest
import torch

from inspatio_drive.data.types import Annotations, EgoStatus, Frame, Lidar, Scene, SceneMetadata
from inspatio_drive.geometry import nuplan_like_rig
from inspatio_drive.render import (
    ObjectTracks,
    RenderCameras,
    object_motion,
    object_poses,
    points_in_boxes,
    render_candidates,
    tracks_from_scene,
)
from inspatio_drive.render.dynamic import move_points


def _tracks(history_only: bool = False) -> ObjectTracks:
    times = torch.arange(-3, 9, dtype=torch.float64) * 0.5
    poses = torch.zeros(2, len(times), 3, dtype=torch.float64)
    poses[0, :, 0] = 10.0 + 4.0 * times  # car A drives +x at 4 m/s
    poses[0, :, 1] = 3.0
    poses[1, :, 0] = -6.0  # car B parked, turned 90°
    poses[1, :, 2] = torch.pi / 2
    valid = torch.ones(2, len(times), dtype=torch.bool)
    if history_only:
        valid[:, times > 0] = False
    return ObjectTracks(
        ["a", "b"],
        times,
        poses,
        valid,
        torch.tensor([[4.0, 2.0, 1.5]] * 2, dtype=torch.float64),
        torch.tensor([0.75, 0.75], dtype=torch.float64),
    )


def test_modes_give_expected_future_poses():
    times = [0.5, 2.0, 4.0]
    priv = object_poses(_tracks(), times, "privileged")
    torch.testing.assert_close(priv[0, :, 0], torch.tensor([12.0, 18.0, 26.0], dtype=torch.float64))
    cv = object_poses(_tracks(history_only=True), times, "constant_velocity")
    torch.testing.assert_close(cv, priv)  # constant-speed motion is extrapolated exactly
    static = object_poses(_tracks(), times, "static")
    torch.testing.assert_close(static[0, :, 0], torch.full((3,), 10.0, dtype=torch.float64))
    fc = torch.zeros(2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(object_poses(_tracks(), times, "forecast", fc), fc)
    with pytest.raises(ValueError, match="forecasts must be"):
        object_poses(_tracks(), times, "forecast", torch.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="needs forecasts"):
        object_poses(_tracks(), times, "forecast")


def test_points_in_boxes_respects_heading_and_motion_is_rigid():
    tr = _tracks()
    xyz = torch.tensor(
        [[10.0, 3.0, 0.5], [11.9, 3.9, 1.2], [-6.0, 1.9, 0.5], [-4.0, 0.0, 0.5], [0.0, 0.0, 0.5]]
    )
    inst = points_in_boxes(xyz, tr.pose_now(), tr.sizes, tr.z, margin=0.0)
    assert inst.tolist() == [0, 0, 1, -1, -1]  # car B is rotated: 4 m long along y
    motion = object_motion(tr, object_poses(tr, [1.0], "privileged"))
    moved = move_points(xyz, inst, motion[:, 0])
    torch.testing.assert_close(moved[0], torch.tensor([14.0, 3.0, 0.5]))
    torch.testing.assert_close(moved[2:], xyz[2:])


def _frame(i, ego_x, box_x):
    ann = Annotations(
        np.array([[box_x - ego_x, 2.0, 0.8, 4.0, 2.0, 1.6, 0.0]]),
        ["vehicle"],
        np.zeros((1, 3)),
        ["i"],
        ["trk"],
    )
    ego = EgoStatus(
        np.array([ego_x, 50.0, 0.0]),
        np.zeros(2, np.float32),
        np.zeros(2, np.float32),
        np.array([0, 1, 0, 0]),
        True,
    )
    return Frame(f"t{i}", i * 500_000, [], [], ann, ego, Lidar(None), {})


def test_tracks_from_scene_are_in_the_current_ego_frame():
    frames = [_frame(i, 100.0 + 5.0 * i, 120.0 + 2.0 * i) for i in range(6)]
    scene = Scene(SceneMetadata("log", "tok", "map", "t3", 4, 2), frames)
    tr = tracks_from_scene(scene)
    torch.testing.assert_close(tr.times, torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64))
    # current ego at x = 115; box at 126 → 11 m ahead, 2 m left
    torch.testing.assert_close(tr.pose_now(), torch.tensor([[11.0, 2.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(tr.poses[0, -1, :2], torch.tensor([130.0 - 115.0, 2.0], dtype=torch.float64))


def test_render_records_mode_and_moves_object_points():
    rig = RenderCameras.from_rig(nuplan_like_rig(192, 108, ("CAM_F0",)), (192, 108))
    tr = _tracks()
    from inspatio_drive.render import ColoredPoints

    xyz = torch.tensor([[10.0, 3.0, 1.5], [30.0, -3.0, 1.5]])  # a car point, a static point
    pts = ColoredPoints(xyz, torch.full((2, 3), 255, dtype=torch.uint8), torch.tensor([0, -1]), tr)
    traj = torch.zeros(1, 2, 3)
    out = {}
    for mode in ("static", "privileged"):
        rb = render_candidates(pts, traj, rig, dynamic_mode=mode)
        assert rb.dynamic_mode == mode and rb.meta["tracks_source"] == "annotations"
        d = rb.depth[0, :, 0]
        car_depth = d[rb.point_index[0, :, 0] == 0]
        out[mode] = car_depth
    torch.testing.assert_close(out["static"], torch.tensor([10.0 - 1.7] * 2))
    torch.testing.assert_close(out["privileged"], torch.tensor([12.0 - 1.7, 14.0 - 1.7]))
