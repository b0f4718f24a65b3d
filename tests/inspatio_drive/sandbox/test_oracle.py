"""The oracle: depth, instance ids and LiDAR agree with the scene geometry and with each other."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.sandbox import Oracle
from inspatio_drive.sandbox.oracle import CameraModel, ego_matrix


@pytest.fixture(scope="module")
def oracle(tiny_world, tiny_config):
    return Oracle(tiny_world, tiny_config)


def test_view_shapes_and_dtypes(oracle):
    v = oracle.render("CAM_F0", None, 1.0)
    assert v.rgb.shape == (54, 96, 3) and v.rgb.dtype == np.uint8
    assert v.depth.shape == (54, 96) and v.depth.dtype == np.float32
    assert v.instance.dtype == np.int32
    sky = v.instance == -1
    assert sky.any() and np.all(np.isinf(v.depth[sky])) and np.all(np.isfinite(v.depth[~sky]))
    assert (v.instance == 0).any() and (v.instance > 0).any()


def test_ground_depth_is_exact(oracle):
    """A level camera 1.5 m above flat ground sees the ground at depth = h · fy / (v − cy)."""
    cam = oracle.rig["CAM_F0"]
    v = oracle.render("CAM_F0", None, 1.0)
    rows = np.arange(cam.height)[:, None].repeat(cam.width, 1).astype(np.float64)
    ground = (v.instance == 0) & (rows > cam.K[1, 2] + 1)
    expected = cam.T_ego_cam[2, 3] * cam.K[1, 1] / (rows[ground] - cam.K[1, 2])
    np.testing.assert_allclose(v.depth[ground], expected, rtol=1e-4)


def test_instance_hits_lie_on_their_object(oracle, tiny_world):
    """Back-projected pixels of instance k fall inside actor k's bounding box (planar pose at t)."""
    t = 1.0
    cam = oracle.rig["CAM_F0"]
    v = oracle.render("CAM_F0", None, t)
    T = ego_matrix(tiny_world.ego.at(t)["pose"]) @ cam.T_ego_cam
    vv, uu = np.nonzero(v.instance > 0)
    assert len(vv) > 10
    rays = np.linalg.inv(cam.K) @ np.stack([uu, vv, np.ones_like(uu)]).astype(np.float64)
    pts = (T[:3, :3] @ (rays * v.depth[vv, uu])).T + T[:3, 3]
    poses, _ = tiny_world.actor_states(t)
    ids = v.instance[vv, uu] - 1
    p = poses[ids]
    c, s = np.cos(p[:, 2]), np.sin(p[:, 2])
    dx, dy = pts[:, 0] - p[:, 0], pts[:, 1] - p[:, 1]
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    size = np.array([tiny_world.actors[k].size for k in ids])
    tol = 0.05
    assert np.all(np.abs(lx) <= size[:, 0] / 2 + tol)
    assert np.all(np.abs(ly) <= size[:, 1] / 2 + tol)
    assert np.all(pts[:, 2] >= -tol) and np.all(pts[:, 2] <= size[:, 2] + tol)


def test_lidar_agrees_with_rendered_depth(oracle, tiny_world):
    """LiDAR points projected into every camera land where the rendered depth is the same."""
    t = 2.0
    pc = oracle.lidar(None, t)
    assert pc.shape[0] == 6 and pc.dtype == np.float32 and pc.shape[1] > 500
    assert np.all((pc[3] >= 0) & (pc[3] <= 255)) and set(np.unique(pc[4])) <= set(range(16))
    errors = []
    for name, view in oracle.render_rig(None, t, frame="local").items():
        cam = oracle.rig[name]
        p_cam = np.linalg.inv(cam.T_ego_cam) @ np.vstack([pc[:3].astype(np.float64), np.ones(pc.shape[1])])
        z = p_cam[2]
        front = z > 0.5
        uv = (cam.K @ p_cam[:3, front]) / z[front]
        u, v = np.round(uv[0]).astype(int), np.round(uv[1]).astype(int)
        ok = (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        d = view.depth[v[ok], u[ok]]
        errors.append(np.abs(d - z[front][ok]) / z[front][ok])
    err = np.concatenate(errors)
    assert len(err) > 200
    assert np.median(err) < 0.01  # same surfaces; outliers only at silhouettes (pixel rounding)
    assert np.mean(err < 0.05) > 0.9


def test_global_and_local_poses_agree(oracle, tiny_world):
    t = 0.5
    local = tiny_world.ego.at(t)["pose"]
    a = oracle.render("CAM_L0", local, t, frame="local")
    b = oracle.render("CAM_L0", tiny_world.ego_pose_global(t), t)
    c = oracle.render("CAM_L0", None, t)
    np.testing.assert_array_equal(a.instance, b.instance)
    np.testing.assert_array_equal(a.rgb, c.rgb)
    np.testing.assert_allclose(a.depth, b.depth, rtol=1e-5)


def test_pitch_and_height_move_the_view(oracle, tiny_world):
    t = 0.5
    x, y, h = tiny_world.ego_pose_global(t)
    level = oracle.render("CAM_F0", (x, y, h, 0.0, 0.0, 0.0), t)
    raised = oracle.render("CAM_F0", (x, y, h, 1.0, 0.0, 0.0), t)
    pitched = oracle.render("CAM_F0", (x, y, h, 0.0, 0.1, 0.0), t)  # nose down: more ground
    assert (pitched.instance == 0).sum() > (level.instance == 0).sum()
    g = (level.instance == 0) & (raised.instance == 0)
    assert np.median(raised.depth[g] / level.depth[g]) > 1.3  # 2.5 m vs 1.5 m camera height


def test_custom_camera_and_errors(oracle):
    cam = oracle.rig["CAM_F0"]
    small = CameraModel(cam.K / np.array([[2, 1, 2], [1, 2, 2], [1, 1, 1]]), cam.T_ego_cam, 48, 27)
    assert oracle.render(small, None, 0.0).rgb.shape == (27, 48, 3)
    with pytest.raises(KeyError, match="unknown camera"):
        oracle.render("CAM_X9", None, 0.0)
    with pytest.raises(ValueError, match="ego_pose"):
        oracle.render("CAM_F0", (1.0, 2.0), 0.0)


def test_dynamic_actors_move(oracle, tiny_world):
    moving = [k for k, a in enumerate(tiny_world.actors) if not a.is_static]
    assert moving
    g0, _ = oracle.caster.geometry(0.0)
    g1, _ = oracle.caster.geometry(2.0)
    k = moving[0] + 1
    assert not np.allclose(g0.triangles[g0.instance == k], g1.triangles[g1.instance == k])


def test_threaded_shading_is_identical(tiny_world, tiny_config):
    from dataclasses import replace

    one = Oracle(tiny_world, replace(tiny_config, workers=1)).render_rig(None, 1.0)
    many = Oracle(tiny_world, replace(tiny_config, workers=3)).render_rig(None, 1.0)
    for name in one:
        np.testing.assert_array_equal(one[name].rgb, many[name].rgb)
        np.testing.assert_array_equal(one[name].depth, many[name].depth)


def test_render_batch_equals_single_renders(oracle, tiny_world):
    times = np.array([0.5, 1.0, 0.5])
    poses = np.stack([tiny_world.ego_pose_global(t) for t in times])
    poses[2, 1] += 1.5  # a lateral offset candidate at the same time as pose 0
    batch = oracle.render_batch(["CAM_F0", "CAM_R0"], poses, times)
    assert len(batch) == 3 and len(batch[0]) == 2
    for i, t in enumerate(times):
        single = oracle.render("CAM_R0", poses[i], float(t))
        np.testing.assert_array_equal(batch[i][1].rgb, single.rgb)
        np.testing.assert_array_equal(batch[i][1].instance, single.instance)
    assert not np.array_equal(batch[0][0].rgb, batch[2][0].rgb)
    with pytest.raises(ValueError, match="ego_poses"):
        oracle.render_batch(["CAM_F0"], np.zeros((2, 4)), 0.0)
