"""Weight-free baselines: constant velocity and the trajectory-vocabulary planner (+ build-vocab CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspatio_drive.commands.build_vocab import main as build_vocab_main
from inspatio_drive.data.types import (
    AgentInput,
    Annotations,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
)
from planners.constant_velocity import ConstantVelocityPlanner, constant_turn_poses
from planners.protocol import Planner
from planners.vocabulary import (
    COMMANDS,
    Vocabulary,
    VocabularyPlanner,
    build_vocabulary,
    command_index,
    kmeans,
    samples_from_scenes,
)


def _status(v=(5.0, 0.0), cmd=(0, 1, 0, 0), pose=(0.0, 0.0, 0.0)) -> EgoStatus:
    return EgoStatus(
        np.asarray(pose, float), np.asarray(v, np.float32), np.zeros(2, np.float32), np.asarray(cmd)
    )


def _agent_input(v=(5.0, 0.0), cmd=(0, 1, 0, 0), points=None) -> AgentInput:
    return AgentInput([_status(v, cmd)], [{}], [Lidar(points)])


def test_constant_velocity_is_navsims_agent():
    planner = ConstantVelocityPlanner()
    assert isinstance(planner, Planner)
    cands = planner.propose(_agent_input(v=(3.0, 4.0)))
    expected = np.array([[(i + 1) * 0.5 * 5.0, 0.0, 0.0] for i in range(8)], dtype=np.float32)
    assert cands.poses.shape == (1, 8, 3) and cands.poses.dtype == torch.float32
    np.testing.assert_allclose(cands.poses[0].numpy(), expected, rtol=1e-6)


def test_constant_velocity_arcs():
    planner = ConstantVelocityPlanner(yaw_rates=(-0.2, 0.0, 0.2), speed_factors=(0.5, 1.0))
    cands = planner.propose(_agent_input(v=(10.0, 0.0)))
    assert cands.num_candidates == 6
    left = cands.poses[5]  # factor 1.0, yaw 0.2
    np.testing.assert_allclose(left[:, 2].numpy(), 0.2 * 0.5 * np.arange(1, 9), rtol=1e-6)
    radius = 10.0 / 0.2  # every pose lies on the circle of radius v/ω centred at (0, R)
    np.testing.assert_allclose(torch.hypot(left[:, 0], left[:, 1] - radius).numpy(), radius, rtol=1e-5)
    seg = torch.diff(torch.cat([torch.zeros(1, 2), left[:, :2]]), dim=0).norm(dim=-1)
    np.testing.assert_allclose(seg.numpy(), 5.0, rtol=1e-3)  # chord ≈ arc at 5 m / step
    assert (cands.poses[0, :, 1] < 0).all()  # negative yaw rate turns right


def test_constant_turn_small_yaw_rate_is_continuous():
    t = torch.arange(1, 9) * 0.5
    a = constant_turn_poses(
        torch.tensor([8.0], dtype=torch.float64), torch.tensor([0.999e-6], dtype=torch.float64), t
    )
    b = constant_turn_poses(
        torch.tensor([8.0], dtype=torch.float64), torch.tensor([1.001e-6], dtype=torch.float64), t
    )
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)  # the straight-line branch meets the arc formula
    assert a[0, -1, 1] > 0


def test_command_index():
    assert (
        command_index([1, 0, 0, 0]) == 0
        and command_index([0, 0, 1, 0]) == 2
        and command_index([0, 0, 0, 0]) == 3
    )
    with pytest.raises(ValueError, match="one-hot"):
        command_index([1, 0])


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    data = np.concatenate([c + 0.1 * rng.standard_normal((50, 2)) for c in centres])
    found = kmeans(data, 3, seed=1)
    dist = np.linalg.norm(centres[:, None] - found[None], axis=-1)  # [true, found]
    assert sorted(dist.argmin(1).tolist()) == [0, 1, 2] and dist.min(1).max() < 0.05
    np.testing.assert_array_equal(kmeans(data, 3, seed=1), kmeans(data, 3, seed=1))
    with pytest.raises(ValueError, match="3 samples for 4"):
        kmeans(data[:3], 4)


def _synthetic_futures(n: int = 600, seed: int = 0):
    """Left / straight / right arcs at random speeds; the command matches the turn."""
    rng = np.random.default_rng(seed)
    cmd = rng.integers(0, 3, n)
    speed = rng.uniform(0, 15, n)
    yaw = np.where(cmd == 0, 0.3, np.where(cmd == 2, -0.3, 0.0)) + 0.05 * rng.standard_normal(n)
    t = torch.arange(1, 9, dtype=torch.float64) * 0.5
    fut = constant_turn_poses(torch.from_numpy(speed), torch.from_numpy(yaw), t).double().numpy()
    return fut, speed, cmd


def test_vocabulary_is_conditioned_on_command_and_speed(tmp_path):
    fut, speed, cmd = _synthetic_futures()
    vocab = build_vocabulary(fut, speed, cmd, k=16, speed_edges=(5.0, 10.0), seed=0, iters=20)
    assert vocab.trajectories.shape == (4, 3, 16, 8, 3)
    assert int(vocab.counts.sum()) == len(fut) and vocab.counts[3].sum() == 0
    assert (vocab.lookup(0, 12.0)[:, -1, 2] > 0.5).all()  # left cell: all turn left
    assert (vocab.lookup(2, 12.0)[:, -1, 2] < -0.5).all()
    fast, slow = vocab.lookup(1, 12.0)[:, -1, 0], vocab.lookup(1, 2.0)[:, -1, 0]
    assert fast.min() >= 10.0 * 4 - 1e-3 and slow.max() <= 5.0 * 4 + 1e-3  # speed bins respected
    # "unknown" has no sample: it borrows the nearest cells (other commands, same speed bin)
    unknown = vocab.lookup(3, 12.0)
    length = torch.diff(torch.cat([torch.zeros(16, 1, 2), unknown[..., :2]], 1), dim=1).norm(dim=-1).sum(-1)
    assert torch.isfinite(unknown).all() and length.min() > 38.0  # only samples of the >= 10 m/s bin
    path = vocab.save(tmp_path / "vocab.safetensors")
    back = Vocabulary.load(path)
    assert torch.equal(back.trajectories, vocab.trajectories) and back.meta["k"] == 16
    again = build_vocabulary(fut, speed, cmd, k=16, speed_edges=(5.0, 10.0), seed=0, iters=20)
    assert torch.equal(again.trajectories, vocab.trajectories)


def test_vocabulary_errors(tmp_path):
    fut, speed, cmd = _synthetic_futures(20)
    with pytest.raises(ValueError, match="k: 64 trajectories per cell, but the data has only"):
        build_vocabulary(fut, speed, cmd)
    with pytest.raises(ValueError, match="speed_edges must increase"):
        build_vocabulary(fut, speed, cmd, k=4, speed_edges=(5.0, 2.0))
    with pytest.raises(FileNotFoundError, match="build-vocab"):
        Vocabulary.load(tmp_path / "none.safetensors")


def test_vocabulary_planner():
    fut, speed, cmd = _synthetic_futures()
    vocab = build_vocabulary(fut, speed, cmd, k=8, speed_edges=(5.0, 10.0), iters=10)
    planner = VocabularyPlanner(vocab)
    cands = planner.propose(_agent_input(v=(11.0, 0.0), cmd=(1, 0, 0, 0)))
    assert (
        cands.poses.shape == (8, 8, 3)
        and cands.extras["command"] == "left"
        and cands.extras["speed_bin"] == 2
    )
    assert torch.equal(cands.poses, vocab.lookup(0, 11.0))
    seen = []
    scored = VocabularyPlanner(
        vocab, scorer=lambda c, ai: seen.append(ai) or c.with_logits({"X": torch.zeros(8)})
    )
    out = scored.propose(_agent_input())
    assert out.logits is not None and "X" in out.logits and len(seen) == 1


def _scene(i: int, speed: float, yaw_rate: float, cmd: int, n_hist: int = 4, n_fut: int = 8) -> Scene:
    t = (np.arange(n_hist + n_fut) - (n_hist - 1)) * 0.5
    poses = constant_turn_poses(torch.tensor([speed]), torch.tensor([yaw_rate]), torch.from_numpy(t))[
        0
    ].double()
    origin = np.array([100.0 + i, -50.0, 0.7])  # global placement: rotate + translate
    c, s = np.cos(origin[2]), np.sin(origin[2])
    gx = origin[0] + c * poses[:, 0].numpy() - s * poses[:, 1].numpy()
    gy = origin[1] + s * poses[:, 0].numpy() + c * poses[:, 1].numpy()
    one_hot = np.eye(4, dtype=np.int64)[cmd]
    frames = [
        Frame(
            f"tok{i}_{j}",
            j * 500_000,
            [],
            [],
            Annotations.empty(),
            EgoStatus(
                np.array([gx[j], gy[j], origin[2] + poses[j, 2].item()]),
                np.array([speed, 0.0], np.float32),
                np.zeros(2, np.float32),
                one_hot,
                in_global_frame=True,
            ),
            Lidar(None),
            {},
        )
        for j in range(n_hist + n_fut)
    ]
    return Scene(SceneMetadata("log", f"tok{i}_{n_hist - 1}", "map", "tok", n_hist, n_fut), frames)


def test_samples_from_scenes_and_cli(tmp_path, monkeypatch):
    scenes = [_scene(i, speed=2.0 + i % 10, yaw_rate=0.2 * (1 - i % 3), cmd=i % 3) for i in range(40)]
    fut, spd, cmd = samples_from_scenes(scenes)
    assert fut.shape == (40, 8, 3)
    np.testing.assert_allclose(spd[:3], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(cmd[:4], [0, 1, 2, 0])
    expected = constant_turn_poses(torch.tensor([2.0]), torch.tensor([0.2]), torch.arange(1, 9) * 0.5)[0]
    np.testing.assert_allclose(fut[0], expected.numpy(), atol=1e-5)  # back in the current rear-axle frame

    import planners.vocabulary as vocabulary_module

    monkeypatch.setattr(vocabulary_module, "_load_scenes", lambda cfg: iter(scenes))
    out = tmp_path / "v.safetensors"
    rc = build_vocab_main([f"data.data_root={tmp_path}", f"output={out}", "k=4", "iters=5", "speed_edges=[5.0]"])
    assert rc == 0
    vocab = Vocabulary.load(out)
    assert vocab.trajectories.shape == (len(COMMANDS), 2, 4, 8, 3)
    assert vocab.meta["config"]["k"] == 4


def test_build_vocab_cli_on_a_synthetic_split(tmp_path):
    """End to end through the data room's SceneLoader on a synthetic OpenScene split."""
    from inspatio_drive.data.synthetic import write_synthetic_split

    write_synthetic_split(tmp_path / "root", num_logs=2, frames_per_log=30, split="mini", sensors=False)
    out = tmp_path / "vocab.safetensors"
    overrides = [f"data.data_root={tmp_path / 'root'}", "data.split=mini", f"output={out}", "k=8", "iters=5"]
    assert build_vocab_main(overrides) == 0
    vocab = Vocabulary.load(out)
    assert vocab.meta["num_samples"] == 2 * (30 - 4 - 8 + 1)  # every window of 4 history + 8 future frames
    assert vocab.trajectories.shape[2:] == (8, 8, 3) and torch.isfinite(vocab.trajectories).all()
