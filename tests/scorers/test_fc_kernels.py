"""Parity of the compiled FC kernels (scorers.fc_kernels) with their torch reference twins.

The features must not change (issue 21 item 6): counts — near-path pixels, observed pixels, reprojected pairs,
agreeing pairs, swept-box clearances — are equal; the photometric error (a float sum over ~10⁵ pixels) may differ
by its summation order only, bounded here at 1e-5 relative (float32 sums have ~1e-7 relative error per term).
Inputs: random scenes with invalid / non-finite / behind-camera depth, a ray-cast room with true motion, and
geometric renders of the bundled sandbox sample (the study's 64-candidate vocabulary, 160 × 90 views).
"""

import numpy as np
import pytest
import torch
from scorers_synthetic import front_camera, intrinsics, render_along

from inspatio_drive.commands.bench_fc import synthetic_inputs
from scorers.features import FeatureConfig, ScorerInputs, compute_features
from scorers.free_space import free_space
from scorers.observability import near_path_mask, observability, observed_near_path
from scorers.poses import camera_to_ego0, relative_camera_motion
from scorers.view_consistency import view_consistency

PHOTO_RTOL = 1e-5


def _messy(seed: int, K: int = 6, T: int = 4, C: int = 3, H: int = 30, W: int = 52):
    """Random scene inputs with holes: NaN / inf / zero / negative depth, and some all-invalid frames."""
    inp = synthetic_inputs(K, T, C, H, W, 4000, 0, 16, 16, seed)
    g = torch.Generator().manual_seed(seed)
    depth = inp.render_depth.clone()
    r = torch.rand(depth.shape, generator=g)
    depth[r < 0.03] = float("nan")
    depth[(r >= 0.03) & (r < 0.05)] = float("inf")
    depth[(r >= 0.05) & (r < 0.07)] = 0.0
    depth[(r >= 0.07) & (r < 0.08)] = -1.0
    inp.render_depth = depth
    inp.render_valid = inp.render_valid.clone()
    inp.render_valid[0, 1] = False  # a frame with nothing rendered
    return inp


def _assert_vc_equal(new, ref):
    for name in ("overlap", "depth_agreement", "pairs"):
        a, b = getattr(new, name), getattr(ref, name)
        assert torch.equal(torch.isnan(a), torch.isnan(b)), name
        assert torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)), name
    a, b = new.photometric_error, ref.photometric_error
    assert torch.equal(torch.isnan(a), torch.isnan(b))
    torch.testing.assert_close(torch.nan_to_num(a), torch.nan_to_num(b), rtol=PHOTO_RTOL, atol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_view_consistency_numba_equals_torch_on_random_inputs(seed, stride):
    inp = _messy(seed)
    rel = relative_camera_motion(camera_to_ego0(inp.candidates, inp.T_ego_cam.double()))
    kw = dict(rgb=inp.render_rgb, relative_motion=rel, stride=stride, chunk_pairs=7)
    new = view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="numba", **kw)
    ref = view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="torch", **kw)
    _assert_vc_equal(new, ref)
    assert float(new.pairs.sum()) > 0
    # float colours (world-model frames) and no colours
    rgb_f = inp.render_rgb.float() / 255.0
    kw.update(rgb=rgb_f)
    _assert_vc_equal(view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="numba", **kw),
                     view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="torch", **kw))
    kw.update(rgb=None)
    none = view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="numba", **kw)
    _assert_vc_equal(none, view_consistency(inp.render_depth, inp.render_valid, inp.intrinsics, backend="torch",
                                            **kw))
    assert torch.isnan(none.photometric_error).all()


def test_view_consistency_numba_equals_torch_in_a_room():
    """Structured frames (true motion: most pairs agree), with the 6-d depth layout the renderer writes."""
    poses = np.array([[1.5, 0.0, 0.0], [3.0, 0.2, 0.08], [4.5, 0.6, 0.16], [6.0, 1.2, 0.24]])
    Tc = np.stack([front_camera(), front_camera(yaw=0.6)])
    K = intrinsics(36, 60, 40.0)
    rgb, depth = render_along(poses, Tc, K, 36, 60)
    rgb, depth = torch.from_numpy(rgb)[None], torch.from_numpy(depth)[None].float()
    kw = dict(rgb=rgb, candidates=torch.from_numpy(poses)[None], T_ego_cam=torch.from_numpy(Tc), stride=2)
    valid = torch.isfinite(depth)
    Kc = torch.from_numpy(np.stack([K, K]))
    new = view_consistency(depth[:, :, :, None], valid[:, :, :, None], Kc, backend="numba", **kw)
    ref = view_consistency(depth, valid, Kc, backend="torch", **kw)
    _assert_vc_equal(new, ref)
    assert new.depth_agreement.item() > 0.9


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("stride", [1, 3, 4])
def test_observed_near_path_equals_mask_and_share(seed, stride):
    inp = _messy(seed, H=33, W=50)
    cand, intr, Tc = inp.candidates.double(), inp.intrinsics.double(), inp.T_ego_cam.double()
    H, W = inp.render_valid.shape[-2:]
    for kw in (dict(), dict(corridor_half_width=1.0, max_range=15.0, ground_z=0.2)):
        ref = observability(inp.render_valid, near_path_mask(cand, intr, Tc, (H, W), stride=stride, **kw))
        new = observed_near_path(inp.render_valid, cand, intr, Tc, stride=stride, **kw)
        assert torch.equal(new.region_pixels, ref.region_pixels) and torch.equal(new.share, ref.share)
        assert int(new.region_pixels.sum()) > 0
    # no pixel sees the ground in range: the empty value, as the twin
    empty = observed_near_path(inp.render_valid, cand, intr, Tc, stride=stride, max_range=0.01, empty_value=0.25)
    assert torch.all(empty.region_pixels == 0) and torch.all(empty.share == 0.25)
    with pytest.raises(ValueError, match="does not match"):
        observed_near_path(inp.render_valid[:2], cand, intr, Tc, stride=stride)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_free_space_numba_equals_torch(seed):
    inp = synthetic_inputs(24, 8, 1, 4, 4, 300, 0, 4, 4, seed + 1)
    pts = inp.points.clone()
    pts[:, :2] *= 2.5  # sparse obstacles: some candidates hit one, others pass
    for kw in (dict(), dict(grid_resolution=0.25, margin=0.5, substeps=3, exclude_ego_margin=None)):
        a = free_space(inp.candidates, pts, backend="numba", **kw)
        b = free_space(inp.candidates, pts, backend="torch", **kw)
        assert torch.equal(a.clearance, b.clearance) and torch.equal(a.first_intrusion_s, b.first_intrusion_s)
        assert bool((a.min_clearance < 0).any()) and bool((a.min_clearance > 0).any())
    with pytest.raises(ValueError, match="backend"):
        free_space(inp.candidates, pts, backend="cuda")


def _assert_features_equal(a, b):
    photo = [a.names.index(n) for n in ("view_photometric_error", "gen_view_photometric_error")]
    exact = [i for i in range(len(a.names)) if i not in photo]
    assert torch.equal(a.values[:, exact], b.values[:, exact])
    torch.testing.assert_close(a.values[:, photo], b.values[:, photo], rtol=PHOTO_RTOL, atol=0)


def test_compute_features_backends_agree_on_random_inputs():
    inp = _messy(3)
    inp.generated_rgb = inp.render_rgb[:2].float() / 255.0
    inp.generated_index = torch.tensor([4, 1])
    a = compute_features(inp, FeatureConfig(backend="numba", min_matches=8))
    b = compute_features(inp, FeatureConfig(backend="torch", min_matches=8))
    _assert_features_equal(a, b)
    with pytest.raises(ValueError, match=r"features\.backend"):
        FeatureConfig.from_mapping({"backend": "cuda"})


@pytest.fixture(scope="module")
def sample_renders():
    """Geometric futures of the bundled sandbox scenes at the study's FC settings (vocabulary K = 64, 160 × 90)."""
    from inspatio_drive.assets import VOCAB_SANDBOX
    from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
    from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
    from planners.vocabulary import VocabularyPlanner
    from scorers.geometric import GeometricFC

    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    planner, fc = VocabularyPlanner(VOCAB_SANDBOX), GeometricFC()
    out = []
    for token in loader.tokens:
        agent_input = loader.get_agent_input_from_token(token)
        poses = planner.propose(agent_input).poses.detach().double()[::2]  # 32 of the 64 (test time)
        batch, cams = fc.render(agent_input, poses)
        lidar = agent_input.lidars[-1].points
        out.append(ScorerInputs(
            candidates=poses, points=torch.as_tensor(np.asarray(lidar[:3].T), dtype=torch.float32),
            intrinsics=batch.intrinsics, T_ego_cam=cams.T_ego_cam, render_depth=batch.depth,
            render_valid=batch.valid, render_rgb=batch.rgb, render_poses=poses,
        ))  # fmt: skip
    return out


def test_compute_features_backends_agree_on_sandbox_renders(sample_renders):
    assert len(sample_renders) >= 3
    for inputs in sample_renders:
        a = compute_features(inputs, FeatureConfig(backend="numba"))
        b = compute_features(inputs, FeatureConfig(backend="torch"))
        _assert_features_equal(a, b)
        share = a.column("observed_near_path")
        assert 0 < float(share.min()) and float(share.max()) < 1  # real, partly observed regions
        assert float(a.column("view_overlap").min()) > 0.2
