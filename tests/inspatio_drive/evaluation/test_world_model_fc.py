"""The FC study with generated frames (issue 23, item 4a): the per-source features are the FC's own, the oracle
frames are the true views, and the distance / selection tables compute what they say."""

import numpy as np
import pytest
import torch

from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from inspatio_drive.evaluation.world_model_fc import (
    GEN_FEATURES,
    HEAD_SOURCES,
    feature_distances,
    features_with_frames,
    oracle_frames,
    selection_rows,
)
from inspatio_drive.render.types import render_cameras
from inspatio_drive.sandbox.oracle import Oracle
from inspatio_drive.world_model.generator import GeometricGenerator
from planners.constant_velocity import ConstantVelocityPlanner
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer
from scorers.features import FEATURE_NAMES
from scorers.geometric import GeometricFC


@pytest.fixture(scope="module")
def scene_input():
    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    scene = loader.get_scene_from_token(loader.tokens[0])
    agent_input = scene.get_agent_input()
    planner = ScoredPlanner(ConstantVelocityPlanner(yaw_rates=(-0.3, 0.0, 0.3), speed_factors=(0.0, 1.0)),
                            RuleBasedScorer())
    return root, scene, agent_input, planner.propose(agent_input)


def test_features_with_frames_equal_the_fc_own_rows(scene_input):
    """Recomputing the top-G rows from given frames gives exactly what GeometricFC.__call__ gives with a generator
    that makes those frames (here the hole-filled render)."""
    _, _, agent_input, candidates = scene_input
    fc = GeometricFC(image_size=(96, 54), cameras=["CAM_F0"], generate_top=2, generate_size=(64, 32))
    fc.generator = GeometricGenerator(hole_fill="telea")
    out = fc(agent_input, candidates)
    index = out.extras["generated_index"]
    poses = candidates.poses.detach().double()
    cams = render_cameras(agent_input.cameras[-1], ["CAM_F0"])
    frames = fc.generate(agent_input, poses[index], cams)
    rows = features_with_frames(fc, agent_input, poses, out.extras["render"], cams, index, frames)
    assert set(rows) == {"has_generated", *GEN_FEATURES}
    for name in rows:
        np.testing.assert_allclose(rows[name], out.features[name][index].double().numpy(), atol=1e-6, err_msg=name)
    assert rows["has_generated"].tolist() == [1.0, 1.0]


def test_oracle_frames_are_the_true_views(scene_input):
    """The oracle frame of the logged future pose at +0.5 s matches the oracle's own render of that frame."""
    root, scene, agent_input, _ = scene_input
    oracle = Oracle(root / "sensor_blobs" / SAMPLE_SPLIT / scene.scene_metadata.log_name)
    cur, nxt = scene.frames[scene.current_index], scene.frames[scene.current_index + 1]
    origin = np.asarray(cur.ego_status.ego_pose, np.float64)
    from inspatio_drive.geometry.se2 import absolute_to_relative_se2

    rel = absolute_to_relative_se2(origin, np.asarray(nxt.ego_status.ego_pose, np.float64)[None])
    poses = torch.as_tensor(np.concatenate([rel, rel + np.array([[5.0, 0.0, 0.0]])]))[None]  # [1, 2, 3]: logged, then 5 m ahead
    cams = render_cameras(agent_input.cameras[-1], ["CAM_F0"])
    got = oracle_frames(oracle, origin, oracle.time_of(cur.timestamp), poses, cams, (64, 32), (64, 32))
    assert got.shape == (1, 2, 1, 3, 32, 64)
    from inspatio_drive.sandbox.oracle import CameraModel

    rig = cams.resized((64, 32))
    model = CameraModel(rig.intrinsics[0].numpy(), rig.T_ego_cam[0].numpy(), 64, 32)
    truth = oracle.render(model, np.asarray(nxt.ego_status.ego_pose, np.float64), oracle.time_of(nxt.timestamp)).rgb
    err = (got[0, 0, 0].permute(1, 2, 0).numpy() * 255 - truth).astype(np.float64)
    assert np.abs(err).mean() < 1.0  # same view (bilinear resize to the same size: identity up to rounding)
    assert float((got[0, 1, 0] - got[0, 0, 0]).abs().mean()) > 0.01  # 5 m further on is another view


def _records(m=12, k=6, g=2, seed=0):
    rng = np.random.default_rng(seed)
    recs = []
    col = FEATURE_NAMES.index("gen_render_l1")
    for _ in range(m):
        score = rng.uniform(0, 1, k)
        none = rng.uniform(0, 1, (k, len(FEATURE_NAMES))).astype(np.float32)
        index = rng.permutation(k)[:g]
        oracle = none.copy()
        oracle[:, col] = 1.0 - score  # the oracle's feature tells the score
        model = oracle.copy()  # the model's features equal the oracle's
        render = none.copy()
        render[:, col] = rng.uniform(0, 1, k)  # the render's are noise
        recs.append({"features_none": none, "features_oracle": oracle, "features_model": model,
                     "features_render": render, "index": index, "base_log_score": rng.normal(0, 1, k),
                     "score": score, "no_at_fault_collisions": np.ones(k), "drivable_area_compliance": np.ones(k),
                     "driving_direction_compliance": np.ones(k), "time_to_collision_within_bound": np.ones(k),
                     "ego_progress": score, "comfort": np.ones(k)})
    return recs


def test_feature_distances():
    rows = {(r["source"], r["feature"]): r for r in feature_distances(_records())}
    assert {f for _, f in rows} == set(GEN_FEATURES)
    assert rows[("model", "gen_render_l1")]["mean_abs_diff"] == 0 and rows[("model", "gen_render_l1")]["corr"] == pytest.approx(1)
    assert rows[("render", "gen_render_l1")]["mean_abs_diff"] > 0.1 and abs(rows[("render", "gen_render_l1")]["corr"]) < 0.9


def test_selection_rows_fc_helps_when_the_feature_tells_the_score():
    recs = _records(m=16, k=6, g=6)  # every candidate has frames: the oracle feature ranks them all
    cfg = {"folds": 4, "hidden": [], "lr": 0.05, "epochs": 150, "seed": 0, "w_fc": [4.0], "n_boot": 200}
    rows = {(r["source"], r["w_fc"]): r for r in selection_rows(recs, cfg) if r["source"] in HEAD_SOURCES}
    base = selection_rows(recs, {**cfg, "w_fc": []})[0]["pdms"]
    assert set(rows) == {(s, 4.0) for s in HEAD_SOURCES}
    assert rows[("oracle", 4.0)]["pdms"] > base + 0.1
    assert rows[("model", 4.0)]["pdms"] == pytest.approx(rows[("oracle", 4.0)]["pdms"])
    assert rows[("oracle", 4.0)]["privileged"] and not rows[("model", 4.0)]["privileged"]


def test_geometric_generator_hole_fill():
    render = torch.zeros(1, 9, 3, 16, 32)
    render[..., :16] = 0.8
    mask = torch.zeros(1, 9, 16, 32)
    mask[..., :16] = 1
    source = torch.zeros(1, 3, 16, 32)
    black = torch.cat([b.frames for b in GeometricGenerator().generate(source, render, mask)], 1)
    filled = torch.cat([b.frames for b in GeometricGenerator(hole_fill="telea").generate(source, render, mask)], 1)
    assert float(black[..., 16:].max()) == 0.0
    assert float(filled[..., 16:].mean()) > 0.5  # holes inpainted from the rendered half
    assert torch.allclose(filled[..., :16], render[..., :16], atol=1 / 255)
    with pytest.raises(ValueError, match="hole_fill"):
        GeometricGenerator(hole_fill="blur")
