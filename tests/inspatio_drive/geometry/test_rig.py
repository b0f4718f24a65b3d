import numpy as np
import pytest

from inspatio_drive.geometry.rig import camera_to_ego_rotation, nuplan_like_intrinsics, nuplan_like_rig


def test_rig_rotations_are_proper_and_axes_match_names():
    rig = nuplan_like_rig()
    assert list(rig) == ["CAM_F0", "CAM_L0", "CAM_L1", "CAM_L2", "CAM_R0", "CAM_R1", "CAM_R2", "CAM_B0"]
    for name, (_k, t) in rig.items():
        r = t[:3, :3]
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        # image "down" (OpenCV +y) is ego −z for every zero-pitch camera
        np.testing.assert_allclose(r[:, 1], [0, 0, -1], atol=1e-12)
        optical_axis = r[:, 2]
        if name.startswith("CAM_L"):
            assert optical_axis[1] > 0.5
        if name.startswith("CAM_R"):
            assert optical_axis[1] < -0.5
    np.testing.assert_allclose(rig["CAM_F0"][1][:3, 2], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rig["CAM_B0"][1][:3, 2], [-1, 0, 0], atol=1e-12)


def test_intrinsics_scale_with_image_and_pitch_tilts_down():
    k = nuplan_like_intrinsics(480, 270)
    np.testing.assert_allclose(k[[0, 0, 1, 1], [0, 2, 1, 2]], [1545 / 4, 240, 1545 / 4, 140])
    r = camera_to_ego_rotation(0.0, np.deg2rad(10))
    assert r[2, 2] < 0  # optical axis points below the horizon
    with pytest.raises(KeyError):
        nuplan_like_rig(cameras=("CAM_X",))
