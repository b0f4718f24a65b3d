"""Scorer-head training on frozen planner features (BCE on PDM sub-scores of every proposal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar
from planners.constant_velocity import ConstantVelocityPlanner
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer
from planners.training import ScoreHeads, collect_training_data, load_heads, pdm_targets, save_heads
from scorers.head_training import TrainConfig, evaluate_heads, masked_bce, train_heads


def _scene(rng: np.random.Generator) -> tuple[AgentInput, float]:
    """Ego at 6-12 m/s, a wall across the road at a random distance; context = the wall's x."""
    speed = rng.uniform(6, 12)
    wall_x = rng.uniform(8, 45)
    gx, gy = np.meshgrid(np.arange(-5, 50, 1.0), np.arange(-6, 6.1, 1.0))
    ys = np.arange(-8, 8, 0.2)
    xyz = np.concatenate(
        [
            np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1),
            np.stack([np.full_like(ys, wall_x), ys, np.ones_like(ys)], 1),
        ]
    )
    pts = np.zeros((6, len(xyz)), np.float32)
    pts[:3] = xyz.T
    status = EgoStatus(
        np.zeros(3), np.array([speed, 0], np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0])
    )
    return AgentInput([status], [{}], [Lidar(pts)]), wall_x


def _true_subscores(cands, wall_x: float) -> dict[str, np.ndarray]:
    """Ground truth of the toy world: a collision iff the front bumper passes the wall."""
    front = cands.poses[:, :, 0].max(-1).values.numpy() + 4.049
    nc = (front < wall_x).astype(float)
    prog = cands.poses[:, -1, 0].numpy()
    ep = prog / max(prog.max(), 1e-6)
    ones = np.ones(len(nc))
    return {"NC": nc, "DAC": ones, "DDC": ones, "TTC": nc, "EP": ep, "C": ones}


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    planner = ScoredPlanner(
        ConstantVelocityPlanner(speed_factors=tuple(np.linspace(0, 1.5, 16))), RuleBasedScorer()
    )
    return collect_training_data([_scene(rng) for _ in range(n)], planner, _true_subscores, progress=False)


def test_pdm_targets_follow_drivor():
    t = pdm_targets(
        {"NC": [1.0, 0.5, 0.0], "DDC": [0.5, 1.0, 0.0], "TTC": [1.0, float("nan"), 0.0]}, ("NC", "DDC", "TTC")
    )
    assert t["NC"].tolist() == [1.0, 0.0, 0.0] and t["DDC"].tolist() == [0.0, 1.0, 0.0]
    assert torch.isnan(t["TTC"][1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pdm_targets({"EP": [1.5]}, ("EP",))
    with pytest.raises(KeyError, match="'C'"):
        pdm_targets({"EP": [1.0]}, ("EP", "C"))


def test_masked_bce_ignores_nan():
    logits = {"A": torch.tensor([[0.0, 100.0]])}
    loss, parts = masked_bce(logits, {"A": torch.tensor([[1.0, float("nan")]])})
    assert abs(float(loss) - float(np.log(2))) < 1e-6 and set(parts) == {"A"}


def test_training_learns_collisions_from_rule_features(tmp_path):
    feats, targets, poses = _data(48, seed=0)
    assert feats.shape == (48, 16, 7) and targets["NC"].shape == (48, 16) and poses.shape == (48, 16, 8, 3)
    vfeats, vtargets, _ = _data(16, seed=1)
    torch.manual_seed(0)
    head = ScoreHeads(7, hidden=32)
    head.fit_normalization(feats)
    before, _ = evaluate_heads(head, vfeats, vtargets)
    cfg = TrainConfig(epochs=40, batch_size=8, lr=3e-3, progress=False)
    result = train_heads(head, feats, targets, cfg, val=(vfeats, vtargets))
    assert len(result.train_loss) == 40 and len(result.val_loss) == 40
    assert result.val_loss[result.best_epoch] == min(result.val_loss)
    after, parts = evaluate_heads(head, vfeats, vtargets)
    assert set(parts) == {"NC", "DAC", "DDC", "TTC", "EP", "C"}
    assert after == pytest.approx(min(result.val_loss), rel=1e-5)  # best epoch restored
    assert after < 0.5 * before
    with torch.no_grad():
        nc = head(vfeats)["NC"] > 0
    majority = max(float(vtargets["NC"].mean()), 1 - float(vtargets["NC"].mean()))  # ≈ 0.53
    assert (nc == (vtargets["NC"] > 0.5)).float().mean() > max(0.85, majority + 0.3)
    path = save_heads(head, tmp_path / "heads.safetensors", {"features": "rules"})
    clone = load_heads(ScoreHeads(7, hidden=32), path)
    torch.testing.assert_close(clone(vfeats)["EP"], head(vfeats)["EP"])
    with pytest.raises(KeyError, match="missing keys"):
        load_heads(ScoreHeads(7, hidden=32, names=("NC", "X")), path)


def test_single_output_head_like_the_fc_head():
    feats, targets, _ = _data(24, seed=2)
    head = torch.nn.Sequential(torch.nn.Linear(7, 1), torch.nn.Flatten(-2))
    fc = {"FC": targets["NC"]}
    with pytest.raises(ValueError, match="not finite"):
        train_heads(
            head, feats / feats.std((0, 1)), fc, TrainConfig(epochs=1, progress=False)
        )  # a constant column
    norm = (feats - feats.mean((0, 1))) / feats.std((0, 1)).clamp(min=1e-6)
    result = train_heads(head, norm, fc, TrainConfig(epochs=25, batch_size=8, lr=1e-2, progress=False))
    assert result.train_loss[-1] < 0.6 * result.train_loss[0]
    with pytest.raises(ValueError, match="one tensor"):
        train_heads(
            head, feats, {"A": targets["NC"], "B": targets["TTC"]}, TrainConfig(epochs=1, progress=False)
        )
    with pytest.raises(ValueError, match=r"expected \(24, 16\)"):
        train_heads(head, feats, {"FC": targets["NC"][:, :3]}, TrainConfig(epochs=1, progress=False))


def test_collect_needs_features():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no per-candidate features"):
        collect_training_data([_scene(rng)], ConstantVelocityPlanner(), _true_subscores, progress=False)


def test_runs_on_the_sandbox_sample():
    """Deliverable 5 on real project data: sandbox sample scenes, metric caches built on the fly, true PDM
    sub-scores of 64 constant-turn candidates, rule features, a few epochs on CPU."""
    from inspatio_drive.data import roots as sample
    from planners.scoring import PDMOracleScorer
    from planners.training import scenes_with_metric_caches

    oracle = PDMOracleScorer()
    fan = ConstantVelocityPlanner(
        yaw_rates=tuple(np.linspace(-0.3, 0.3, 8)), speed_factors=tuple(np.linspace(0.2, 1.4, 8))
    )
    planner = ScoredPlanner(fan, RuleBasedScorer())
    items = scenes_with_metric_caches(sample.sample_root(), sample.SAMPLE_SPLIT, progress=False)
    feats, targets, _poses = collect_training_data(
        items, planner, lambda c, cache: oracle.subscores(c.poses, cache), progress=False
    )
    assert feats.shape[1:] == (64, 7) and len(feats) >= 3
    assert 0 < float(targets["EP"].mean()) < 1
    head = ScoreHeads(7, hidden=16)
    head.fit_normalization(feats)
    result = train_heads(head, feats, targets, TrainConfig(epochs=60, batch_size=3, lr=1e-2, progress=False))
    assert result.train_loss[-1] < 0.6 * result.train_loss[0]  # measured: 4.11 -> 2.15


def test_learned_head_scorer_round_trip(tmp_path):
    """Train heads on rule features, save, reload as an honest scorer that slots into selection."""
    from inspatio_drive.contracts.selection import select
    from planners.scoring import LearnedHeadScorer

    feats, targets, _ = _data(24, seed=3)
    head = ScoreHeads(7, hidden=16)
    head.fit_normalization(feats)
    train_heads(head, feats, targets, TrainConfig(epochs=10, batch_size=8, lr=3e-3, progress=False))
    path = save_heads(head, tmp_path / "heads.safetensors")
    scorer = LearnedHeadScorer.from_file(path)
    ai, _wall = _scene(np.random.default_rng(9))
    cands = ScoredPlanner(
        ConstantVelocityPlanner(speed_factors=tuple(np.linspace(0, 1.5, 16))), scorer
    ).propose(ai)
    assert set(cands.logits) == {"NC", "DAC", "DDC", "TTC", "EP", "C"} and cands.features.shape == (16, 7)
    with torch.no_grad():
        torch.testing.assert_close(cands.logits["NC"], head(cands.features[None])["NC"][0])
    assert 0 <= int(select(cands).index) < 16
    bad = tmp_path / "plain.safetensors"
    save_heads(torch.nn.Linear(7, 1), bad)
    with pytest.raises(ValueError, match="not a ScoreHeads file"):
        LearnedHeadScorer.from_file(bad)
