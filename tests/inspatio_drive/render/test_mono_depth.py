"""Camera-only clouds (issue 22): monocular depth backends, the ground-plane scale, fusion, PLY, exposure."""

import numpy as np
import pytest
import torch

from inspatio_drive.config import SettingError
from inspatio_drive.data.types import AgentInput, Lidar
from inspatio_drive.render import build_point_cloud, render_candidates
from inspatio_drive.render.depth_backend import ground_plane_fit, metric_depth
from inspatio_drive.render.mono_depth import (
    DepthAnything3,
    DepthAnythingV2,
    LookupDepth,
    NoisyDepth,
    depth_from_config,
)
from inspatio_drive.render.ply import read_ply
from inspatio_drive.render.point_cloud import fit_exposure
from inspatio_drive.render.types import RenderCameras

K = np.array([[60.0, 0, 63.5], [0, 60.0, 35.5], [0, 0, 1]])


def _front_camera(height: float, pitch_deg: float = 0.0) -> np.ndarray:
    """Camera → ego of a forward camera ``height`` m over the road, pitched down by ``pitch_deg``."""
    p = np.deg2rad(pitch_deg)
    base = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=np.float64)  # OpenCV → ego axes
    pitch = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])  # nose down
    t = np.eye(4)
    t[:3, :3] = pitch @ base
    t[:3, 3] = [1.5, 0.0, height]
    return t


def _road_depth(t_ego_cam: np.ndarray, shape=(72, 128), wall_x: float | None = None) -> np.ndarray:
    """True depth of a flat road (ego z = 0), optionally a wall at ego x = ``wall_x``; inf where sky."""
    h, w = shape
    vv, uu = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rays = np.stack([(uu - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones_like(uu, dtype=float)], -1)
    r_ego = rays @ t_ego_cam[:3, :3].T
    c = t_ego_cam[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        road = np.where(r_ego[..., 2] < -1e-6, -c[2] / r_ego[..., 2], np.inf)
        if wall_x is not None:
            wall = np.where(r_ego[..., 0] > 1e-6, (wall_x - c[0]) / r_ego[..., 0], np.inf)
            road = np.minimum(road, wall)
    return road


def test_ground_plane_scale_recovers_the_camera_height():
    t = _front_camera(1.6, pitch_deg=3.0)
    truth = _road_depth(t, wall_x=30.0)  # a wall hides the far road: outliers for the plane
    pred = np.where(np.isfinite(truth), truth / 7.0, 0.0)  # depth up to scale (a relative network)
    plane = ground_plane_fit(pred, K, t)
    assert plane.scale == pytest.approx(7.0, rel=5e-3)  # the wall's foot is within the inlier band
    assert plane.offset * plane.scale == pytest.approx(1.6, rel=1e-6)
    road = _road_depth(t)
    exact = ground_plane_fit(np.where(np.isfinite(road), road / 7.0, 0.0), K, t)
    assert exact.scale == pytest.approx(7.0, rel=1e-6)
    depth, info = metric_depth(pred, "scale", K, t)
    assert info["scale_from"] == "ground_plane"
    ok = np.isfinite(truth)
    np.testing.assert_allclose(depth[ok], truth[ok], rtol=5e-3)
    # an affine-invariant disparity (Depth Anything V2 relative) is recovered too
    disp = np.where(ok, 0.3 / truth + 0.02, 0.02)
    depth, info = metric_depth(disp, "affine_disparity", K, t)
    assert info["scale"] == pytest.approx(1 / 0.3, rel=1e-2) and info["shift"] == pytest.approx(-0.02 / 0.3, rel=0.05)
    np.testing.assert_allclose(depth[ok & (truth < 40)], truth[ok & (truth < 40)], rtol=0.02)
    # a camera that sees no road cannot be scaled without LiDAR: a clear error
    with pytest.raises(ValueError, match="ground-plane"):
        ground_plane_fit(np.full((72, 128), 5.0), K, _front_camera(1.6, pitch_deg=-60.0))


def test_lidar_scale_wins_when_present():
    t = _front_camera(1.6)
    truth = _road_depth(t, wall_x=12.0)
    pred = np.where(np.isfinite(truth), truth * 0.25, 0.0)
    ok = np.isfinite(truth) & (truth < 40)
    vv, uu = np.nonzero(ok)
    pick = np.arange(0, len(vv), 37)
    z = truth[vv[pick], uu[pick]]
    lidar_cam = np.stack([(uu[pick] - K[0, 2]) / K[0, 0] * z, (vv[pick] - K[1, 2]) / K[1, 1] * z, z], -1)
    depth, info = metric_depth(pred, "scale", K, t, lidar_cam=lidar_cam, camera_height=99.0)  # height ignored
    assert info["scale_from"] == "lidar" and info["scale"] == pytest.approx(4.0, rel=1e-3)
    np.testing.assert_allclose(depth[ok], truth[ok], rtol=1e-3)


@pytest.fixture(scope="module")
def tiny_depth_anything(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    bb = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                                   image_size=56, patch_size=14, reshape_hidden_states=False,
                                   out_features=["stage1", "stage2", "stage3", "stage4"])
    folders = {}
    for kind in ("relative", "metric"):
        cfg = transformers.DepthAnythingConfig(backbone_config=bb, reassemble_hidden_size=32,
                                               neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
                                               head_hidden_size=8, depth_estimation_type=kind, max_depth=80)
        torch.manual_seed(0)
        model = transformers.DepthAnythingForDepthEstimation(cfg)
        with torch.no_grad():  # random weights end in a ReLU that is all zero: make the output positive
            model.head.conv3.bias.fill_(0.5)
        folder = tmp_path_factory.mktemp(f"da_{kind}")
        model.save_pretrained(folder)
        transformers.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True,
                                       ensure_multiple_of=14, do_pad=False).save_pretrained(folder)
        folders[kind] = folder
    return folders


def test_depth_anything_v2_loads_from_a_local_folder(tiny_depth_anything):
    rel = DepthAnythingV2(tiny_depth_anything["relative"])
    assert rel.invariance == "affine_disparity"
    image = np.random.default_rng(0).integers(0, 255, (45, 80, 3), dtype=np.uint8)
    out = rel.predict(image)
    assert out.shape == (45, 80) and out.dtype == np.float32 and np.isfinite(out).all() and (out > 0).all()
    assert DepthAnythingV2(tiny_depth_anything["metric"]).invariance == "metric"
    assert DepthAnythingV2(tiny_depth_anything["metric"], invariance="scale").invariance == "scale"
    with pytest.raises(SettingError, match=r"mono\.model_dir"):
        depth_from_config("depth_anything", {"model_dir": None})
    with pytest.raises(FileNotFoundError, match="not a folder"):
        depth_from_config("depth_anything", {"model_dir": str(tiny_depth_anything["metric"] / "nope")})


def test_da3_without_the_package_is_one_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "depth_anything_3", None)  # not installed
    with pytest.raises(SettingError, match="depth-anything-3 package"):
        DepthAnything3(tmp_path)
    with pytest.raises(SettingError, match="only with a sandbox source"):
        depth_from_config("oracle")
    with pytest.raises(SettingError, match="depth: expected one of"):
        depth_from_config("radar")


def test_full_render_path_with_the_tiny_network(small_street, tiny_depth_anything, tmp_path):
    _, agent_input = small_street
    kw = depth_from_config("depth_anything", {"model_dir": str(tiny_depth_anything["relative"]), "stride": 4,
                                              "ply_dir": str(tmp_path / "ply")})
    pc = build_point_cloud(agent_input, voxel_size=0.2, **kw)
    assert pc.meta["depth"] == "mono" and pc.meta["lidar_points"] == 0 and pc.meta["dense_points"] > 100
    assert {v["scale_from"] for v in pc.meta["mono"].values()} == {"lidar"}  # the street has LiDAR: its scale
    assert len(pc) > 50 and torch.isfinite(pc.xyz).all()
    xyz, rgb = read_ply(tmp_path / "ply" / "fused.ply")
    np.testing.assert_array_equal(xyz, pc.xyz.numpy())
    np.testing.assert_array_equal(rgb, pc.rgb.numpy())
    assert (tmp_path / "ply" / "frame_3.ply").is_file()
    rig = RenderCameras.from_cameras(agent_input.cameras[-1], image_size=(160, 90))
    rb = render_candidates(pc, torch.zeros(1, 2, 3), rig, (64, 36))
    assert rb.rgb.shape == (1, 2, len(rig.names), 3, 36, 64) and bool(rb.valid.any())


def test_fit_exposure_recovers_known_gains():
    rng = np.random.default_rng(1)
    truth = torch.as_tensor(rng.uniform(20, 200, (3000, 3)))
    gains = torch.tensor([[1.0, 1.0, 1.0], [1.3, 1.2, 1.1], [0.8, 0.9, 0.7]], dtype=torch.float64)
    offs = torch.tensor([[0.0, 0.0, 0.0], [-10.0, 5.0, 0.0], [8.0, -4.0, 3.0]], dtype=torch.float64)
    seen = torch.full((3, 3000, 3), float("nan"), dtype=torch.float64)
    for v in range(3):  # raw = (reference − offset) / gain, each camera sees an overlapping part
        part = slice(v * 800, v * 800 + 1600)
        seen[v, part] = (truth[part] - offs[v]) / gains[v]
    seen[1, 900:960] += 80.0  # mis-registered pairs
    gain, offset = fit_exposure(seen, torch.tensor([0, 1, 2]), 3)
    torch.testing.assert_close(gain, gains, atol=0.02, rtol=0)
    torch.testing.assert_close(offset, offs, atol=2.0, rtol=0)


def test_noisy_depth_has_the_asked_error_and_scale():
    depth = np.full((90, 160), 10.0, np.float32)
    inner = LookupDepth({(3, "CAM_F0"): depth})
    noisy = NoisyDepth(inner, absrel=0.08, scale_error=0.0, seed=2)
    out = noisy.predict_view(np.zeros((90, 160, 3), np.uint8), "CAM_F0", 3)
    assert np.mean(np.abs(out - depth) / depth) == pytest.approx(0.08, rel=0.15)
    scaled = NoisyDepth(inner, absrel=0.0, scale_error=0.1).predict_view(np.zeros((90, 160, 3), np.uint8), "CAM_F0", 3)
    assert float(np.median(scaled)) in (pytest.approx(11.0), pytest.approx(9.0))
    again = NoisyDepth(inner, absrel=0.08, seed=2).predict_view(np.zeros((90, 160, 3), np.uint8), "CAM_F0", 3)
    np.testing.assert_array_equal(out, again)  # deterministic


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("embreex")
    from inspatio_drive.sandbox import LidarModel, Oracle, RenderConfig, generate_scene

    world = generate_scene("lead_vehicle_braking", 3, num_frames=14, density=0.5)
    return Oracle(world, RenderConfig(96, 54, LidarModel(channels=32, azimuths=720), texture_res=0.25))


def test_camera_only_sandbox_scene_without_lidar(oracle):
    """A scene with its LiDAR dropped renders from the oracle's true depth (a perfect monocular model) and from
    that depth made relative (scale unknown) and scaled by the ground plane."""
    from inspatio_drive.render.fidelity import sandbox_agent_input, sandbox_fidelity

    agent_input, tracks, _, depths = sandbox_agent_input(oracle, 1.5, with_depth=True)
    camera_only = AgentInput(agent_input.ego_statuses, agent_input.cameras, [Lidar(None)] * 4)
    with pytest.raises(ValueError, match="no LiDAR sweep loaded"):
        build_point_cloud(camera_only)
    relative = {k: v / 9.0 for k, v in depths.items()}
    pc = build_point_cloud(camera_only, tracks=tracks, dense_depth=LookupDepth(relative, "scale"), depth="mono")
    scales = [v["scale"] for v in pc.meta["mono"].values() if "scale" in v]
    assert {v.get("scale_from") for v in pc.meta["mono"].values()} <= {"ground_plane", None}
    assert len(scales) >= 3 and np.median(scales) == pytest.approx(9.0, rel=0.03)
    res = sandbox_fidelity(oracle, 1.5, ["logged"], depth="oracle", mono={"stride": 1}, drop_lidar=True)
    row = {r["t"]: r for r in res.table()}
    assert res.meta["point_cloud"]["depth"] == "mono" and res.meta["point_cloud"]["lidar_points"] == 0
    # measured (96×54, current images only, stride 1): 0.5 s = 17.8 dB / coverage 0.66 / AbsRel 0.051
    assert row[0.5]["psnr"] > 16.0 and row[0.5]["coverage"] > 0.6 and row[0.5]["depth_absrel"] < 0.07


def test_exposure_matching_on_the_sandbox(oracle):
    from inspatio_drive.render.fidelity import sandbox_fidelity

    raw = sandbox_fidelity(oracle, 1.5, ["logged"], exposure_spread=0.3)
    matched = sandbox_fidelity(oracle, 1.5, ["logged"], exposure_spread=0.3, exposure_match=True)
    assert "exposure" in matched.meta["point_cloud"]
    assert float(matched.psnr.nanmean()) > float(raw.psnr.nanmean()) + 0.3
