import numpy as np
import pytest
import torch
from scorers_synthetic import front_camera, intrinsics, render_along

from scorers.features import (
    FEATURE_NAMES,
    FEATURE_SPECS,
    FeatureConfig,
    ScorerInputs,
    compute_features,
    feature_spec,
    scale_intrinsics,
)

H, W = 40, 56


def _scene():
    cand = torch.tensor(
        [
            [[2.0, 0.0, 0.0], [4.0, 0.0, 0.0], [6.0, 0.0, 0.0]],  # straight into the obstacle
            [[2.0, 0.3, 0.15], [3.9, 1.2, 0.3], [5.6, 2.6, 0.45]],  # veers left, passes it
        ],
        dtype=torch.float64,
    )
    pts = torch.tensor([[9.0, 0.0, 1.0], [9.0, -0.5, 1.0]])
    K = intrinsics(H, W, 30.0)
    Tc = front_camera()[None]
    rgb, depth = [], []
    for c in cand.numpy():
        r, d = render_along(c, Tc, K, H, W)
        rgb.append(r)
        depth.append(d)
    rgb, depth = torch.from_numpy(np.stack(rgb)), torch.from_numpy(np.stack(depth))
    valid = torch.ones_like(depth, dtype=torch.bool)
    valid[0, :, :, H // 2 :] = False  # candidate 0 sees no observed ground
    return cand, pts, torch.from_numpy(K)[None], torch.from_numpy(Tc), rgb, depth, valid


def test_specs_are_documented():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_SPECS)
    for s in FEATURE_SPECS:
        assert s.lo < s.hi and s.lo <= s.fill <= s.hi and s.unit and s.description
    assert feature_spec("min_clearance_m").unit == "m"
    with pytest.raises(KeyError, match="unknown feature"):
        feature_spec("nope")


def test_compute_features_all_groups():
    cand, pts, K, Tc, rgb, depth, valid = _scene()
    gen = rgb[1:].clone()  # generated frames for candidate 1 only: identical to the render
    inputs = ScorerInputs(
        candidates=cand, points=pts, intrinsics=K, T_ego_cam=Tc, render_depth=depth, render_valid=valid,
        render_rgb=rgb, generated_rgb=gen, generated_index=torch.tensor([1]),
    )  # fmt: skip
    table = compute_features(inputs, FeatureConfig(min_matches=8, orb_features=500))
    assert table.values.shape == (2, len(FEATURE_NAMES)) and table.values.dtype == torch.float32
    assert torch.isfinite(table.values).all() and not table.privileged
    col = table.column
    assert col("intrusion")[0] == 1 and col("intrusion")[1] == 0
    assert col("min_clearance_m")[0] < 0 < col("min_clearance_m")[1]
    # front bumper reaches x = 9 when the rear axle is at 4.951 m: first 0.25 s sample after is t = 1.25 s
    assert col("time_to_intrusion_s")[0] == 1.25 and col("time_to_intrusion_s")[1] == 1.5  # horizon 1.5 s
    assert col("observed_near_path")[0] < 0.05 and col("observed_near_path")[1] > 0.95
    assert col("view_depth_agreement")[1] > 0.9
    assert col("has_generated").tolist() == [0.0, 1.0]
    assert col("gen_render_l1")[1] == 0.0
    # generated == render here, so the generated frames are as view-consistent as the render
    assert col("gen_view_photometric_error")[1] == pytest.approx(
        col("view_photometric_error")[1].item(), abs=1e-3
    )
    assert torch.isnan(table.raw["gen_render_l1"][0])  # raw keeps "not computable"
    # spec ranges hold
    for i, s in enumerate(FEATURE_SPECS):
        assert (table.values[:, i] >= s.lo).all() and (table.values[:, i] <= s.hi).all()
    assert table.select(["intrusion", "min_clearance_m"]).shape == (2, 2)
    with pytest.raises(KeyError):
        table.select(["nope"])


def test_missing_inputs_get_fill_values():
    cand = _scene()[0]
    table = compute_features(ScorerInputs(candidates=cand))
    for i, s in enumerate(FEATURE_SPECS):
        assert (table.values[:, i] == s.fill).all(), s.name


def test_honest_refuses_privileged_inputs():
    cand, pts = _scene()[:2]
    inputs = ScorerInputs(candidates=cand, points=pts, points_privileged=True)
    with pytest.raises(ValueError, match="privileged"):
        compute_features(inputs)
    assert compute_features(inputs, mode="privileged").privileged
    with pytest.raises(ValueError, match="mode"):
        compute_features(inputs, mode="cheating")


def test_shape_errors_and_config():
    cand, _, K, Tc, rgb, depth, valid = _scene()
    with pytest.raises(ValueError, match="together"):
        compute_features(ScorerInputs(candidates=cand, render_depth=depth))
    with pytest.raises(ValueError, match="render_depth"):
        compute_features(
            ScorerInputs(
                candidates=cand, intrinsics=K, T_ego_cam=Tc, render_depth=depth[:1], render_valid=valid[:1]
            )
        )
    with pytest.raises(ValueError, match="geometric render"):
        compute_features(ScorerInputs(candidates=cand, generated_rgb=rgb))
    cfg = FeatureConfig.from_mapping({"height_band": [0.2, 2.0], "substeps": 4})
    assert cfg.height_band == (0.2, 2.0) and cfg.substeps == 4
    with pytest.raises(KeyError, match="unknown"):
        FeatureConfig.from_mapping({"nope": 1})


def test_scale_intrinsics_pixel_centres():
    K = torch.tensor([[100.0, 0.0, 49.5], [0.0, 100.0, 29.5], [0.0, 0.0, 1.0]])  # 100 × 60 image, centred
    K2 = scale_intrinsics(K, 2.0, 2.0)
    torch.testing.assert_close(K2[:2, 2], torch.tensor([99.5, 59.5]))  # still centred in 200 × 120
    assert K2[0, 0] == 200.0


def test_head_on_features_reranks(tmp_path):
    from scorers.fusion import fused_score_from_logits, select
    from scorers.head import FCHead, load_head, save_head

    cand, pts, K, Tc, _rgb, depth, valid = _scene()
    head = FCHead(["min_clearance_m", "observed_near_path"], hidden=[], outputs=("FC",))
    with torch.no_grad():  # hand-set logistic weights: clearance and observed ground are good
        head.net[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        head.net[0].bias.zero_()
    head, _ = load_head(save_head(tmp_path / "h.safetensors", head, privileged=False, extra={"w_fc": 1.0}))
    table = compute_features(ScorerInputs(cand, pts, intrinsics=K, T_ego_cam=Tc, render_depth=depth, render_valid=valid))
    with torch.no_grad():
        logit = head(table.select(head.feature_names))  # what GeometricFC does
    assert logit.shape == (2,) and logit[1] > logit[0]  # the candidate driving into the obstacle is less consistent
    fused = fused_score_from_logits(torch.tensor([0.0, -0.5]), logit, 1.0)
    assert select(fused.numpy()) == 1 and fused.shape == (2,)
    assert select(fused_score_from_logits(torch.tensor([0.0, -0.5]), logit, 0.0).numpy()) == 0


def test_fc_config_matches_feature_config():
    from inspatio_drive.config import compose

    cfg = compose("scorer/fc", [])
    from omegaconf import OmegaConf

    fcfg = FeatureConfig.from_mapping(OmegaConf.to_container(cfg.scorer.features))  # group package: scorer
    assert fcfg == FeatureConfig(**{**FeatureConfig().__dict__, "height_band": (0.3, 2.5)})


def test_from_render_batch_uses_renderer_poses():
    from types import SimpleNamespace

    from scorers.poses import camera_to_ego0

    cand, pts, K, Tc, rgb, depth, valid = _scene()
    T_cam_ego0 = torch.linalg.inv(camera_to_ego0(cand, Tc))
    batch = SimpleNamespace(
        rgb=(rgb * 255).to(torch.uint8), depth=torch.where(valid, depth, torch.full_like(depth, float("inf"))),
        valid=valid, intrinsics=K, T_cam_ego0=T_cam_ego0, dynamic_mode="static",
    )  # fmt: skip
    inputs = ScorerInputs.from_render_batch(cand, batch, Tc, points=pts)
    a = compute_features(inputs)
    b = compute_features(
        ScorerInputs(
            cand, pts, intrinsics=K, T_ego_cam=Tc, render_depth=depth, render_valid=valid, render_rgb=rgb
        )
    )
    torch.testing.assert_close(a.values, b.values, atol=2e-3, rtol=0)
    batch.dynamic_mode = "privileged"
    with pytest.raises(ValueError, match="privileged"):
        compute_features(ScorerInputs.from_render_batch(cand, batch, Tc))
    batch.T_cam_ego0 = T_cam_ego0[:, :2]
    with pytest.raises(ValueError, match="render_T_cam_ego0"):
        compute_features(ScorerInputs.from_render_batch(cand, batch, Tc), mode="privileged")


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_config_knobs_reach_the_features(monkeypatch, backend):
    import scorers.features as feats

    seen = {}
    real_vc, real_fs = feats.view_consistency, feats.free_space
    region_fn = "observed_near_path" if backend == "numba" else "near_path_mask"
    real_np = getattr(feats, region_fn)

    def spy(name, fn):
        def wrapped(*a, **kw):
            seen.setdefault(name, []).append(kw)
            return fn(*a, **kw)

        return wrapped

    monkeypatch.setattr(feats, "view_consistency", spy("vc", real_vc))
    monkeypatch.setattr(feats, region_fn, spy("np", real_np))
    monkeypatch.setattr(feats, "free_space", spy("fs", real_fs))
    cand, pts, K, Tc, rgb, depth, valid = _scene()
    cfg = FeatureConfig(
        view_stride=3, region_stride=5, grid_resolution=0.2, depth_rel_tol=0.05, exclude_ego_margin=None,
        backend=backend,
    )
    compute_features(
        ScorerInputs(cand, pts, intrinsics=K, T_ego_cam=Tc, render_depth=depth, render_valid=valid, render_rgb=rgb,
                     generated_rgb=rgb[:1], generated_index=torch.tensor([0])),
        cfg,
    )  # fmt: skip
    assert [kw["stride"] for kw in seen["vc"]] == [3, 3] and all(
        kw["depth_rel_tol"] == 0.05 for kw in seen["vc"]
    )
    assert seen["np"][0]["stride"] == 5
    assert seen["fs"][0]["grid_resolution"] == 0.2 and seen["fs"][0]["exclude_ego_margin"] is None
    assert [kw["backend"] for kw in seen["vc"] + seen["fs"]] == [backend] * 3


def test_subset_gives_the_generated_features_of_the_full_set():
    """The world-model FC study computes generated-frame features on ``inputs.subset(index)``: each generated
    feature depends on its own candidate only, so the subset's rows equal the full set's rows at ``index``."""
    cand, pts, K, Tc, rgb, depth, valid = _scene()
    gen = (rgb[1:].float() / 255.0).flip(-1)  # candidate 1's frames, mirrored: not the render
    full = ScorerInputs(candidates=cand, points=pts, intrinsics=K, T_ego_cam=Tc, render_depth=depth,
                        render_valid=valid, render_rgb=rgb, generated_rgb=gen, generated_index=torch.tensor([1]))
    sub = full.subset(torch.tensor([1]))
    assert sub.generated_rgb is None and sub.candidates.shape[0] == 1 and sub.render_depth.shape[0] == 1
    assert sub.points is pts and torch.equal(sub.render_rgb[0], rgb[1])
    sub.generated_rgb, sub.generated_index = gen, torch.tensor([0])
    cfg = FeatureConfig(min_matches=8, orb_features=500)
    a, b = compute_features(full, cfg), compute_features(sub, cfg)
    gen_names = [s.name for s in FEATURE_SPECS if s.group == "generated"]
    assert b.column("has_generated")[0] == 1
    for name in gen_names:
        torch.testing.assert_close(b.column(name)[0], a.column(name)[1])
