"""PDM oracle and rule-based scorers: logits that DrivoR's selection can rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inspatio_drive.contracts import Candidates
from inspatio_drive.contracts.selection import DRIVOR_V1, select
from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar
from planners.constant_velocity import ConstantVelocityPlanner, constant_turn_poses
from planners.scoring import RULE_FEATURES, PDMOracleScorer, RuleBasedScorer, RuleConfig, probability_to_logit
from planners.scoring.rules import box_clearance, box_clearance_capped, comfort_ratio, kinematics


def _agent_input(points: np.ndarray | None, v=(8.0, 0.0), cmd=(0, 1, 0, 0)) -> AgentInput:
    status = EgoStatus(np.zeros(3), np.asarray(v, np.float32), np.zeros(2, np.float32), np.asarray(cmd))
    return AgentInput([status], [{}], [Lidar(points)])


def _lidar(xyz: np.ndarray) -> np.ndarray:
    """[N, 3] -> navsim [6, N] float32 rows (x, y, z, intensity, ring, lidar_id)."""
    out = np.zeros((6, len(xyz)), np.float32)
    out[:3] = xyz.T
    return out


def _ground(x_max: float = 50.0, half_width: float = 4.0) -> np.ndarray:
    gx, gy = np.meshgrid(np.arange(-5, x_max, 0.5), np.arange(-half_width, half_width + 0.01, 0.5))
    return np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)


def _wall(x: float, y0: float, y1: float) -> np.ndarray:
    ys = np.arange(y0, y1, 0.1)
    return np.stack([np.full_like(ys, x), ys, np.full_like(ys, 1.0)], 1)


# ---------------------------------------------------------------- oracle


def _fake_results(k: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    r = {
        "no_at_fault_collisions": rng.choice([0.0, 0.5, 1.0], k),
        "drivable_area_compliance": rng.choice([0.0, 1.0], k, p=[0.2, 0.8]),
        "driving_direction_compliance": np.ones(k),
        "time_to_collision_within_bound": rng.choice([0.0, 1.0], k),
        "ego_progress": rng.uniform(0, 1, k),
        "comfort": rng.choice([0.0, 1.0], k),
    }
    r["score"] = r["no_at_fault_collisions"] * r["drivable_area_compliance"] * (
        5 * r["time_to_collision_within_bound"] + 5 * r["ego_progress"] + 2 * r["comfort"]
    ) / 12  # fmt: skip
    return r


def test_oracle_selection_picks_best_pdm_score():
    calls = []

    def score_fn(cache, traj):
        calls.append((cache, traj.shape, traj.dtype))
        return _fake_results(len(traj))

    cands = Candidates(torch.randn(32, 8, 3))
    scored = PDMOracleScorer(score_fn)(cands, metric_cache="cache-token")
    assert calls == [("cache-token", (32, 8, 3), np.float64)]
    pdms = scored.extras["pdm_score"]
    sel = select(scored, DRIVOR_V1)
    assert math.isclose(float(pdms[sel.index]), float(pdms.max()), rel_tol=1e-6)
    # logσ(logit(p)) = log p for unclipped p
    ep = torch.as_tensor(_fake_results(32)["ego_progress"])
    torch.testing.assert_close(
        torch.nn.functional.logsigmoid(scored.logits["EP"].double()), ep.log(), atol=2e-4, rtol=1e-4
    )


def test_oracle_rejects_bad_results():
    bad = _fake_results(4)
    bad.pop("comfort")
    with pytest.raises(KeyError, match="comfort"):
        PDMOracleScorer(lambda c, t: bad)(Candidates(torch.zeros(4, 8, 3)), None)
    worse = _fake_results(4)
    worse["ego_progress"] = np.array([0.1, 2.0, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"ego_progress.*\[0, 1\]"):
        PDMOracleScorer(lambda c, t: worse)(Candidates(torch.zeros(4, 8, 3)), None)
    with pytest.raises(ValueError, match="one scene"):
        PDMOracleScorer(lambda c, t: worse)(Candidates(torch.zeros(2, 4, 8, 3)), None)


def test_probability_to_logit_clips():
    lg = probability_to_logit(torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(lg, torch.tensor([-9.2102, 0.0, 9.2102]), atol=1e-3, rtol=0)


# ---------------------------------------------------------------- rules


def test_box_clearance_by_hand():
    poses = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, math.pi / 2]]])
    pts = torch.tensor([[6.0, 0.0], [0.0, -3.0]], dtype=torch.float64)
    d = box_clearance(poses, pts, front=4.0, rear=1.0, half_width=1.0)
    # heading 0: nearest = (6, 0), 2 m ahead of the bumper; heading π/2: box spans y ∈ [-1, 4], x ∈ [-1, 1]
    torch.testing.assert_close(d, torch.tensor([[2.0, 2.0]], dtype=torch.float64))
    inside = box_clearance(poses[:, :1], torch.tensor([[3.5, 0.5]], dtype=torch.float64), 4.0, 1.0, 1.0)
    torch.testing.assert_close(inside, torch.tensor([[-0.5]], dtype=torch.float64))
    assert torch.isinf(box_clearance(poses, torch.zeros(0, 2, dtype=torch.float64), 4.0, 1.0, 1.0)).all()


def test_capped_clearance_equals_dense_clamped():
    g = torch.Generator().manual_seed(0)
    poses = torch.rand(6, 8, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [30.0, 10.0, 1.0], dtype=torch.float64
    )
    pts = (torch.rand(60, 2, generator=g, dtype=torch.float64) - 0.5) * 80
    front = 4.0 + torch.rand(6, 8, generator=g, dtype=torch.float64) * 10  # stretched boxes too
    dense = box_clearance(poses, pts, front, 1.1, 1.15).clamp(max=3.0)
    torch.testing.assert_close(box_clearance_capped(poses, pts, front, 1.1, 1.15, cap=3.0), dense)
    assert (dense < 0).any() and (dense == 3.0).any() and ((dense > 0) & (dense < 3)).any()


def test_kinematics_and_comfort():
    t = torch.arange(1, 9) * 0.5
    smooth = constant_turn_poses(torch.tensor([8.0]), torch.tensor([0.0]), t)
    kin = kinematics(smooth, torch.tensor([8.0, 0.0]), 0.5)
    torch.testing.assert_close(kin["speed"], torch.full((1, 8), 8.0, dtype=torch.float64), atol=1e-5, rtol=0)
    assert comfort_ratio(kin).item() < 1e-3
    stop = torch.zeros(1, 8, 3)  # standing still at once from 8 m/s: -16 m/s² braking
    assert comfort_ratio(kinematics(stop, torch.tensor([8.0, 0.0]), 0.5)).item() > 3.0


def test_rules_avoid_an_obstacle_ahead():
    """A wall across the lane 24 m ahead: driving on at full speed (32 m) hits it, half speed (16 m) stops
    before it, standing still is safe but makes no progress."""
    pts = np.concatenate([_ground(), _wall(24.0, -1.5, 1.5)])
    ai = _agent_input(_lidar(pts), v=(8.0, 0.0))
    planner = ConstantVelocityPlanner(yaw_rates=(0.0,), speed_factors=(0.0, 0.5, 1.0))
    straight = planner.propose(ai).poses  # stop, half speed (16 m), full speed (32 m)
    scorer = RuleBasedScorer()
    scored = scorer(Candidates(straight), ai)
    f = dict(zip(RULE_FEATURES, scored.features.T, strict=True))
    assert f["min_clearance"][2] < 0 and f["min_clearance"][1] > 0 and f["min_clearance"][0] == 5.0  # capped
    assert f["ttc_clearance"][1] < f["min_clearance"][1]
    assert (f["ground_support"] == 1).all()
    assert f["progress_ratio"][1] == 1.0 and f["progress_ratio"][0] == 0.0  # best *safe* progress = 16 m
    sel = select(scored, DRIVOR_V1)
    assert sel.index.item() == 1  # fastest candidate that stops before the wall
    assert scored.logits["NC"][2] < -5 and scored.logits["NC"][1] > 5


def test_rules_ground_and_command():
    pts = _ground(x_max=15.0)  # road observed only up to 15 m
    ai_left = _agent_input(_lidar(pts), v=(8.0, 0.0), cmd=(1, 0, 0, 0))
    t = torch.arange(1, 9) * 0.5
    cands = constant_turn_poses(torch.tensor([8.0, 8.0, 3.0]), torch.tensor([0.4, 0.0, 0.0]), t)
    feats = RuleBasedScorer().features(cands, ai_left)
    f = dict(zip(RULE_FEATURES, feats.T, strict=True))
    assert f["ground_support"][2] == 1.0 and f["ground_support"][1] < 0.6
    assert f["command_agreement"][0] > 0.9 and f["command_agreement"][1] < 0.15  # σ(-2)


def test_rules_need_lidar_unless_told():
    cands = Candidates(torch.zeros(2, 8, 3))
    with pytest.raises(ValueError, match="LiDAR sweep is not loaded"):
        RuleBasedScorer()(cands, _agent_input(None))
    scored = RuleBasedScorer(RuleConfig(require_lidar=False))(cands, _agent_input(None))
    assert set(scored.logits) == {"NC", "DAC", "DDC", "TTC", "EP", "C"}
    assert torch.isfinite(torch.stack(list(scored.logits.values()))).all()
