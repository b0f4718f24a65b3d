"""Honest simulated comfort (planners.scoring.comfort) against navsim's own comfort sub-scores."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar
from inspatio_drive.pdm.comfort import checks_from_signals, comfort_checks, comfort_ratio, comfort_signals
from inspatio_drive.pdm.golden import load_golden_scene
from inspatio_drive.pdm.types import StateIndex
from planners.scoring.comfort import simulated_comfort
from planners.scoring.rules import RuleBasedScorer, RuleConfig

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "pdms"


@pytest.mark.parametrize("name", ["scene_a", "scene_c"])
def test_equals_navsim_comfort_from_the_agent_side(name):
    """Only the local poses and the ego status go in (no global pose, no map): every candidate's comfort equals
    navsim v1.1's golden comfort sub-score, including scene A's uncomfortable ones."""
    scene = load_golden_scene(GOLDEN / name)
    state = scene.cache.initial_state
    got = simulated_comfort(scene.candidate_poses_local, state[StateIndex.VELOCITY_X : StateIndex.VELOCITY_Y + 1],
                            state[StateIndex.ACCELERATION_X : StateIndex.ACCELERATION_Y + 1])
    golden = np.array([r["pdm_results"]["comfort"] for r in scene.results]) == 1.0
    np.testing.assert_array_equal(got.comfortable, golden)
    np.testing.assert_array_equal(got.ratio < 1.0, golden)
    assert got.states.shape == (len(golden), 41, 11)
    if name == "scene_a":
        assert (~golden).sum() >= 2  # the scene really exercises the failing side


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="poses must be"):
        simulated_comfort(np.zeros((4, 3)), [1.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="ego_velocity"):
        simulated_comfort(np.zeros((2, 8, 3)), [np.nan, 0.0], [0.0, 0.0])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.5, 6.0))
def test_ratio_below_one_iff_checks_pass(seed, scale):
    rng = np.random.default_rng(seed)
    states = np.zeros((6, 41, 11))
    states[..., StateIndex.ACCELERATION_X] = np.cumsum(rng.normal(0, scale / 4, (6, 41)), -1)
    states[..., StateIndex.ACCELERATION_Y] = rng.normal(0, scale, (6, 41))
    states[..., StateIndex.HEADING] = np.cumsum(rng.normal(0, 0.02 * scale, (6, 41)), -1)
    signals = comfort_signals(states)
    np.testing.assert_array_equal(checks_from_signals(signals), comfort_checks(states))
    np.testing.assert_array_equal(comfort_ratio(signals) < 1.0, comfort_checks(states).all(-1))


def test_rule_scorer_comfort_modes():
    """The rule scorer's comfort_ratio column is the simulated ratio by default; 'kinematic' keeps the 0.5 s proxy;
    an unknown mode is an error naming the field."""
    ground = np.zeros((6, 400), np.float32)
    ground[0] = np.repeat(np.arange(-5.0, 45.0, 2.5), 20)
    ground[1] = np.tile(np.linspace(-4.0, 4.0, 20), 20)
    status = EgoStatus(np.zeros(3), np.array([8.0, 0.0], np.float32), np.array([0.5, 0.0], np.float32),
                       np.array([0, 1, 0, 0]))
    ai = AgentInput([status], [{}], [Lidar(ground)])
    poses = torch.zeros(3, 8, 3, dtype=torch.float64)
    poses[:, :, 0] = torch.arange(1, 9, dtype=torch.float64) * torch.tensor([[1.0], [4.0], [0.2]])
    col = 5
    sim = RuleBasedScorer().features(poses, ai)[:, col].double().numpy()
    st_ = ai.ego_statuses[-1]
    want = simulated_comfort(poses.numpy(), st_.ego_velocity, st_.ego_acceleration).ratio
    np.testing.assert_allclose(sim, want, rtol=1e-6)
    kin = RuleBasedScorer(RuleConfig(comfort="kinematic")).features(poses, ai)[:, col]
    assert not np.allclose(kin.double().numpy(), sim)
    with pytest.raises(ValueError, match=r"RuleConfig\.comfort"):
        RuleBasedScorer(RuleConfig(comfort="nope")).features(poses, ai)
