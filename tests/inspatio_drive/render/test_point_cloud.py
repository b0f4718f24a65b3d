import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from inspatio_drive.render import (
    align_depth,
    build_point_cloud,
    colorize,
    depth_to_points,
    voxel_downsample,
)
from inspatio_drive.render.types import STATIC


def test_point_cloud_from_history_sweeps_is_in_ego0_and_correctly_coloured(small_street):
    street, agent_input = small_street
    pc = build_point_cloud(agent_input, voxel_size=0.0, tracks=street.tracks(np.arange(-3, 9) * 0.5))
    assert pc.meta["sweeps_used"] == 4 and len(pc) > 1000
    assert pc.xyz.dtype == torch.float32 and pc.rgb.dtype == torch.uint8
    # every static point lies on a surface of the street (ego-motion compensated into ego0)
    static = pc.instance == STATIC
    truth = street.points_at(0.0)
    tree = cKDTree(truth.xyz[truth.instance == STATIC].numpy())
    near, idx = tree.query(pc.xyz[static].numpy())
    assert np.quantile(near, 0.99) < 0.2
    # colours match the surface colour (images are renders of the same surfaces)
    err = (pc.rgb[static].float() - truth.rgb[truth.instance == STATIC][idx].float()).abs().mean(-1)
    assert float(err.median()) < 20.0
    # moving car: its points from all sweeps sit in its CURRENT box (object motion compensated)
    car = pc.xyz[pc.instance == 0]
    assert len(car) > 20
    assert float((car[:, 0] - street.car_start).abs().max()) <= street.car_size[0] / 2 + 0.3
    assert float((car[:, 1] - 3.5).abs().max()) <= street.car_size[1] / 2 + 0.3


def test_without_tracks_the_moving_car_smears_along_its_path(small_street):
    street, agent_input = small_street
    pc = build_point_cloud(agent_input, voxel_size=0.0)
    assert pc.meta["tracks_source"] is None and bool((pc.instance == STATIC).all())
    lane = (pc.xyz[:, 1] - 3.5).abs() < 1.0
    on_car = lane & (pc.xyz[:, 2] > 0.3) & (pc.xyz[:, 0] > 0) & (pc.xyz[:, 0] < 20)
    assert float(pc.xyz[on_car, 0].min()) < street.car_start - 4.0  # older sweeps saw it further back


def test_visibility_check_keeps_hidden_points_uncoloured():
    # a red wall at x = 5 m in front of CAM_F0 hides a point at x = 10 m
    k = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    t_ego_cam = np.eye(4)
    t_ego_cam[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:] = [200, 0, 0]
    ys, zs = np.meshgrid(np.arange(-2, 2, 0.05), np.arange(-1.5, 1.5, 0.05))
    wall = np.stack([np.full(ys.size, 5.0), ys.ravel(), zs.ravel()], -1)
    view = [(torch.as_tensor(image), torch.as_tensor(k), torch.as_tensor(t_ego_cam))]
    xyz = torch.tensor(np.concatenate([wall, [[10.0, 0.0, 0.0]]]), dtype=torch.float32)
    rgb, coloured, view_id = colorize(xyz, view)
    assert bool(coloured[:-1].all()) and bool((view_id[:-1] == 0).all())
    assert not bool(coloured[-1]) and view_id[-1] == -1  # hidden behind the wall
    xyz = torch.tensor(np.concatenate([wall, [[3.0, 0.0, 0.0]]]), dtype=torch.float32)
    rgb, coloured, _ = colorize(xyz, view)
    assert bool(coloured[-1]) and rgb[-1].tolist() == [200, 0, 0]  # in front of the wall: visible


def test_voxel_downsample_averages_per_voxel_and_instance():
    xyz = torch.tensor([[0.01, 0.01, 0.01], [0.09, 0.09, 0.09], [0.05, 0.05, 0.05], [0.5, 0.5, 0.5]])
    rgb = torch.tensor([[0, 0, 0], [100, 100, 100], [50, 50, 50], [7, 7, 7]], dtype=torch.uint8)
    inst = torch.tensor([-1, -1, 3, -1])
    x, c, i = voxel_downsample(xyz, rgb, inst, 0.1)
    assert len(x) == 3
    row = int(((x - 0.05).abs().sum(-1) < 1e-6).nonzero()[0])
    assert i[row] == -1 and c[row].tolist() == [50, 50, 50]
    assert sorted(i.tolist()) == [-1, -1, 3]


def test_bad_inputs_raise_clear_errors():
    ego = EgoStatus(np.zeros(3), np.zeros(2, np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0]))
    with pytest.raises(ValueError, match="lidar_pc"):
        build_point_cloud(AgentInput([ego], [{}], [Lidar(None)]))
    with pytest.raises(ValueError, match=r"\[>=3, N\]"):
        build_point_cloud(AgentInput([ego], [{}], [Lidar(np.zeros((2, 5), np.float32))]))
    with pytest.raises(TypeError, match="AgentInput or a Scene"):
        build_point_cloud(object())


def test_robust_depth_alignment_ignores_outliers():
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.05, 1.0, 500)
    target = 37.0 * pred * (1 + rng.normal(0, 0.01, 500))
    target[:60] *= 3.0  # 12 % gross outliers (LiDAR through glass, edges)
    scale, shift = align_depth(pred, target)
    assert scale == pytest.approx(37.0, rel=0.01) and shift == 0.0
    s2, t2 = align_depth(pred, 20.0 * pred + 4.0, affine=True)
    assert s2 == pytest.approx(20.0, rel=1e-4) and t2 == pytest.approx(4.0, abs=1e-3)
    with pytest.raises(ValueError, match=">= 2"):
        align_depth([1.0], [2.0])


def test_depth_to_points_inverts_projection():
    k = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]], dtype=torch.float64)
    depth = torch.full((24, 32), 7.0)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    xyz, pix = depth_to_points(depth, k, pose, stride=2)
    assert xyz.shape == (12 * 16, 3)
    cam = xyz.double() - pose[:3, 3]
    uv = (cam @ k.T)[:, :2] / cam[:, 2:]
    torch.testing.assert_close(uv, pix.double(), atol=1e-4, rtol=0)


class _FakeMonocular:
    """Returns the true depth / 10 (metric up to scale), like a relative depth network would."""

    invariance = "scale"

    def __init__(self, depth):
        self.depth = depth

    def predict(self, image):
        return self.depth / 10.0


def test_dense_depth_backend_adds_scale_aligned_points():
    k = np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]])
    t_ego_cam = np.eye(4)
    t_ego_cam[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    image = np.full((24, 32, 3), 120, dtype=np.uint8)
    cam = Camera("CAM_F0", image, k, t_ego_cam[:3, :3], t_ego_cam[:3, 3])
    ys, zs = np.meshgrid(np.arange(-2, 2, 0.1), np.arange(-1.4, 1.4, 0.1))
    lidar = np.zeros((6, ys.size), np.float32)
    lidar[0], lidar[1], lidar[2] = 8.0, ys.ravel(), zs.ravel()  # a wall 8 m ahead
    ego = EgoStatus(np.zeros(3), np.zeros(2, np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0]))
    ai = AgentInput([ego], [{"CAM_F0": cam}], [Lidar(lidar)])
    pc = build_point_cloud(
        ai,
        voxel_size=0.0,
        remove_ego=False,
        dense_depth=_FakeMonocular(np.full((24, 32), 8.0, np.float32)),
        dense_stride=2,
    )
    assert pc.meta["dense_points"] == 12 * 16
    dense = pc.xyz[-12 * 16 :]
    torch.testing.assert_close(dense[:, 0], torch.full((12 * 16,), 8.0), atol=1e-3, rtol=0)


def test_scene_input_uses_logged_boxes_as_tracks(small_street):
    from inspatio_drive.data.types import Annotations, Frame, Scene, SceneMetadata

    street, agent_input = small_street
    frames = []
    for i in range(12):  # 4 history + 8 future frames, the world frame is ego0
        t = (i - 3) * 0.5
        ego = street.ego_pose(t)
        car = street.car_pose(t)
        box = [car[0] - ego[0], car[1] - ego[1], street.car_z, *street.car_size, 0.0]
        ann = Annotations(np.array([box]), ["vehicle"], np.zeros((1, 3)), [f"i{i}"], ["car"])
        status = EgoStatus(
            ego, np.zeros(2, np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0]), True
        )
        cams = agent_input.cameras[i] if i < 4 else {}
        lidar = agent_input.lidars[i] if i < 4 else Lidar(None)
        frames.append(Frame(f"t{i}", i, [], [], ann, status, lidar, cams))
    frames[5].annotations = None  # a frame without ground truth is skipped
    scene = Scene(SceneMetadata("log", "tok", "map", "t3", 4, 8), frames)
    pc = build_point_cloud(scene, voxel_size=0.0)
    assert pc.meta["tracks_source"] == "annotations" and pc.tracks.tokens == ["car"]
    car = pc.xyz[pc.instance == 0]
    assert len(car) > 20 and float((car[:, 0] - street.car_start).abs().max()) <= street.car_size[0] / 2 + 0.3
    honest = build_point_cloud(scene, voxel_size=0.0, use_annotations=False)
    assert honest.tracks is None and bool((honest.instance == STATIC).all())
