import numpy as np
import pytest
import torch
from scorers_synthetic import front_camera, intrinsics, render_along

from scorers.motion_recovery import direction_angle_deg, motion_recovery, rotation_angle_deg
from scorers.observability import near_path_mask, observability
from scorers.poses import camera_to_ego0, relative_camera_motion, se2_to_se3
from scorers.render_agreement import render_agreement
from scorers.view_consistency import view_consistency

H, W = 48, 64
KM = intrinsics(H, W, 40.0)


def _project(T_ego_cam, K, p_ego):
    p = np.linalg.inv(T_ego_cam) @ np.append(p_ego, 1.0)
    uvw = K @ p[:3]
    return uvw[:2] / uvw[2]


def test_camera_poses_and_relative_motion():
    cand = torch.tensor([[[1.0, 0.0, 0.0], [2.0, 1.0, 0.5]]], dtype=torch.float64)
    Tc = torch.from_numpy(front_camera()[None])
    c2e = camera_to_ego0(cand, Tc)
    assert c2e.shape == (1, 2, 1, 4, 4)
    # camera centre of the first frame is 1.5 m ahead of the rear axle at x = 1
    torch.testing.assert_close(c2e[0, 0, 0, :3, 3], torch.tensor([2.5, 0.0, 1.5], dtype=torch.float64))
    rel = relative_camera_motion(c2e)
    # a point fixed in ego-0 maps consistently: cam1 coords = rel @ cam0 coords
    p0 = torch.tensor([7.0, -2.0, 1.0, 1.0], dtype=torch.float64)
    in_c0 = torch.linalg.inv(c2e[0, 0, 0]) @ p0
    in_c1 = torch.linalg.inv(c2e[0, 1, 0]) @ p0
    torch.testing.assert_close(rel[0, 0, 0] @ in_c0, in_c1)
    torch.testing.assert_close(
        se2_to_se3(torch.zeros(3, dtype=torch.float64)), torch.eye(4, dtype=torch.float64)
    )


def test_near_path_region_geometry():
    T = 4
    straight = torch.stack([torch.arange(1, T + 1) * 2.0, torch.zeros(T), torch.zeros(T)], -1).double()
    left = torch.stack(
        [torch.arange(1, T + 1) * 2.0, torch.arange(1, T + 1) * 2.0, torch.zeros(T)], -1
    ).double()
    Tc = front_camera()
    Kw = intrinsics(H, W, 20.0)  # wide view

    def pixel(p_ego_t):  # (row, col) of a ground point given in the ego frame of the frame's pose
        u, v = np.rint(_project(Tc, Kw, np.array([*p_ego_t, 0.0]))).astype(int)
        assert 0 <= u < W and 0 <= v < H
        return v, u

    mask = near_path_mask(torch.stack([straight, left]), Kw[None], Tc[None], (H, W), corridor_half_width=2.0)
    assert mask.shape == (2, T, 1, H, W) and mask.dtype == torch.bool
    # frame t = 0.5 s of the straight path (pose (2, 0), path up to x = 8): ground 5 m ahead, 0.5 m left
    # is near the path, 3 m left is not, 10 m ahead is past the end of the path
    assert mask[0, 0, 0][pixel((5.0, 0.5))]
    assert not mask[0, 0, 0][pixel((5.0, 3.0))]
    assert not mask[0, 0, 0][pixel((10.0, 0.0))]
    # left-veering path, frame at pose (2, 2): (5, 3.5) there is (7, 5.5) in ego-0, 1.06 m from the path
    assert mask[1, 0, 0][pixel((5.0, 3.5))]
    assert not mask[0, 0, 0][pixel((5.0, 3.5))]
    assert not mask[:, :, :, : H // 2 - 2].any()  # above the horizon nothing hits the ground


def test_observability_share():
    region = torch.zeros(2, 2, 1, 4, 4, dtype=torch.bool)
    region[:, :, :, 2:] = True  # 16 pixels per candidate
    valid = torch.zeros_like(region)
    valid[0] = True
    valid[1, 0, :, 3] = True  # 4 of 16
    res = observability(valid, region)
    torch.testing.assert_close(res.share, torch.tensor([1.0, 0.25], dtype=torch.float64))
    empty = observability(valid, torch.zeros_like(region), empty_value=0.0)
    assert (empty.share == 0).all() and (empty.region_pixels == 0).all()
    with pytest.raises(ValueError, match="equal shapes"):
        observability(valid, region[:, :1])


def _room_sequence(poses, h=H, w=W, f=40.0):
    K = intrinsics(h, w, f)
    Tc = front_camera()[None]
    rgb, depth = render_along(np.asarray(poses), Tc, K, h, w)
    return (
        torch.from_numpy(rgb)[None],
        torch.from_numpy(depth)[None],
        torch.from_numpy(K)[None],
        torch.from_numpy(Tc),
    )


def test_view_consistency_true_motion_beats_wrong_motion():
    poses = [[2.0, 0.0, 0.0], [4.0, 0.3, 0.1], [6.0, 0.9, 0.2]]
    rgb, depth, K, Tc = _room_sequence(poses, h=96, w=128, f=80.0)
    valid = torch.ones_like(depth, dtype=torch.bool)
    good = view_consistency(depth, valid, K, rgb=rgb, candidates=torch.tensor([poses]), T_ego_cam=Tc)
    wrong = torch.tensor([poses]) * torch.tensor([1.0, -1.0, -1.0])  # mirrored turn
    bad = view_consistency(depth, valid, K, rgb=rgb, candidates=wrong, T_ego_cam=Tc)
    assert good.depth_agreement.item() > 0.97
    assert bad.depth_agreement.item() < good.depth_agreement.item() - 0.05
    assert bad.photometric_error.item() > 2 * good.photometric_error.item()
    assert 0 < good.overlap.item() <= 1
    # a strided subsample of the source pixels estimates the same shares
    strided = view_consistency(
        depth, valid, K, rgb=rgb, candidates=torch.tensor([poses]), T_ego_cam=Tc, stride=2
    )
    assert abs(strided.overlap.item() - good.overlap.item()) < 0.02
    assert abs(strided.depth_agreement.item() - good.depth_agreement.item()) < 0.02
    assert abs(strided.photometric_error.item() - good.photometric_error.item()) < 0.02
    # identical frames under zero motion agree exactly
    same_depth = depth[:, :1].expand(1, 2, 1, 96, 128)
    same_rgb = rgb[:, :1].expand(1, 2, 1, 3, 96, 128)
    ident = view_consistency(
        same_depth,
        torch.ones_like(same_depth, dtype=torch.bool),
        K,
        rgb=same_rgb,
        relative_motion=torch.eye(4).expand(1, 1, 1, 4, 4),
    )
    assert ident.depth_agreement.item() == 1.0 and ident.overlap.item() == 1.0
    assert ident.photometric_error.item() < 1e-6
    # invalid pixels are ignored: nothing valid → NaN
    none = view_consistency(depth, torch.zeros_like(valid), K, candidates=torch.tensor([poses]), T_ego_cam=Tc)
    assert torch.isnan(none.depth_agreement).all() and torch.isnan(none.photometric_error).all()


def test_view_consistency_errors():
    d = torch.ones(1, 1, 1, 4, 4)
    with pytest.raises(ValueError, match="at least 2 frames"):
        view_consistency(d, d.bool(), torch.eye(3)[None], relative_motion=torch.eye(4).expand(1, 0, 1, 4, 4))
    d2 = torch.ones(1, 2, 1, 4, 4)
    with pytest.raises(ValueError, match="relative_motion or both"):
        view_consistency(d2, d2.bool(), torch.eye(3)[None])


def test_angles():
    assert rotation_angle_deg(np.eye(3)) == 0.0
    c, s = np.cos(0.3), np.sin(0.3)
    assert rotation_angle_deg(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])) == pytest.approx(np.degrees(0.3))
    assert direction_angle_deg(np.array([1.0, 0, 0]), np.array([0, 2.0, 0])) == pytest.approx(90.0)
    assert np.isnan(direction_angle_deg(np.zeros(3), np.ones(3)))


def test_motion_recovery_on_rendered_room():
    poses = [[1.0, 0.0, 0.0], [2.5, 0.2, 0.08], [4.0, 0.5, 0.15]]
    rgb, _, K, Tc = _room_sequence(poses, h=240, w=320, f=200.0)
    cmd = relative_camera_motion(camera_to_ego0(torch.tensor([poses]), Tc))
    good = motion_recovery(rgb, cmd, K)
    assert good.success_share.item() == 1.0
    assert good.rotation_error_deg.item() < 2.0
    assert good.translation_dir_error_deg.item() < 15.0
    wrong = torch.tensor([poses]) * torch.tensor([1.0, -1.0, -1.0])
    bad = motion_recovery(rgb, relative_camera_motion(camera_to_ego0(wrong, Tc)), K)
    assert bad.rotation_error_deg.item() > good.rotation_error_deg.item() + 3.0
    # uint8 frames work too; a textureless frame fails cleanly
    flat = torch.zeros_like(rgb, dtype=torch.uint8)
    res = motion_recovery(flat, cmd, K)
    assert res.success_share.item() == 0.0 and torch.isnan(res.rotation_error_deg).all()


def test_render_agreement():
    a = torch.rand(2, 2, 1, 3, 4, 4)
    b = a.clone()
    b[1] = (b[1] + 0.5).clamp(max=1.0)
    valid = torch.ones(2, 2, 1, 4, 4, dtype=torch.bool)
    err = render_agreement(a, b, valid)
    assert err[0].item() == 0.0 and err[1].item() > 0.1
    valid[1] = False
    assert torch.isnan(render_agreement(a, b, valid)[1])
    u8 = (a * 255).round().to(torch.uint8)
    assert render_agreement(u8, u8, valid)[0].item() == 0.0
    with pytest.raises(ValueError, match="valid"):
        render_agreement(a, b, valid[:, :1])


def test_near_path_stride_approximates_full_resolution():
    rng = np.random.default_rng(0)
    cand = torch.from_numpy(np.cumsum(rng.uniform(0.5, 3, (5, 8, 1)), 1) * np.array([1.0, 0.2, 0.05]))
    Kw = intrinsics(H, W, 20.0)
    full = near_path_mask(cand, Kw[None], front_camera()[None], (H, W))
    coarse = near_path_mask(cand, Kw[None], front_camera()[None], (H, W), stride=4)
    assert coarse.shape == full.shape
    assert (coarse != full).float().mean() < 0.05  # only block boundaries differ
    share_full = observability(torch.ones_like(full), full).region_pixels.double()
    share_coarse = observability(torch.ones_like(full), coarse).region_pixels.double()
    assert torch.allclose(share_coarse, share_full, rtol=0.15)
