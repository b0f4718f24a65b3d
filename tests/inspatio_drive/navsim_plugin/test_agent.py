"""The navsim agent plugin against fake navsim packages mirroring v1.1's and v2.2's agent API (fake_navsim.py):
installed configs composed with navsim's override syntax, the sensors asked for, and the same decisions as
``inspatio-drive evaluate``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from inspatio_drive.commands.demo import FC_HEAD, VOCAB, chosen_w_fc, demo_overrides
from inspatio_drive.config import compose as compose_ours
from inspatio_drive.contracts import Candidates, FCOutput
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data import navsim_adapter as na
from inspatio_drive.data.roots import sample_root
from inspatio_drive.evaluation.task import EvaluateTask
from inspatio_drive.navsim_plugin import install_agent_configs
from planners.constant_velocity import ConstantVelocityPlanner
from scorers.geometric import GeometricFC

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parents[1] / "data" / "golden" / "pdms"


def _fake():
    spec = importlib.util.spec_from_file_location("_fake_navsim", HERE / "fake_navsim.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve their module's annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


FAKE = _fake()


class _ThreePlanner:
    """Three candidates: 0 is preferred by its logits, 2 is the only one the fake FC likes."""

    name = "three"

    def propose(self, agent_input):
        poses = torch.zeros(3, 8, 3)
        poses[:, :, 0] = torch.arange(1, 9) * torch.tensor([1.0, 2.0, 3.0])[:, None]
        logits = {k: torch.tensor([3.0, 2.0, 1.0]) for k in ("NC", "DAC", "TTC", "EP", "C")}
        return Candidates(poses, logits)


def _fc(agent_input, candidates):
    return FCOutput(logit=torch.tensor([-20.0, -20.0, 20.0]))


@pytest.fixture(params=[False, True], ids=["navsim-v1.1", "navsim-v2"])
def agent_module(request, monkeypatch):
    for name, mod in FAKE.navsim_modules(request.param).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "inspatio_drive.navsim_plugin.agent", raising=False)
    return importlib.import_module("inspatio_drive.navsim_plugin.agent"), request.param


@pytest.fixture
def navsim_config(tmp_path):
    """A navsim-like config tree (``agent`` group with navsim's default agent) with the plugin installed; returns
    ``compose(overrides)`` of a primary config whose defaults pick ``agent``, as navsim's scoring configs do."""
    root = tmp_path / "config"
    (root / "agent").mkdir(parents=True)
    (root / "agent" / "constant_velocity_agent.yaml").write_text("_target_: navsim.agents.ConstantVelocityAgent\n")
    (root / "run_pdm_score.yaml").write_text("defaults:\n  - agent: constant_velocity_agent\n  - _self_\n"
                                             "experiment_name: test\n")
    installed = install_agent_configs(root / "agent")
    assert installed == root / "agent" / "inspatio_agent.yaml"

    def _compose(overrides):
        with initialize_config_dir(str(root), version_base=None):
            return compose("run_pdm_score", ["agent=inspatio_agent", *overrides])

    return _compose


def _navsim_agent_input():
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_a", GOLDEN / "sensor_blobs" / "golden_a", SceneFilter(),
                         SensorConfig.build_drivor(), show_progress=False)
    return na.agent_input_to_navsim(loader.get_agent_input_from_token(loader.tokens[0]))


def test_agent_selects_with_and_without_fc(agent_module):
    module, v2 = agent_module
    nd = sys.modules["navsim.common.dataclasses"]
    base = module.InSpatioAgent(_ThreePlanner())
    with_fc = module.InSpatioAgent(_ThreePlanner(), fc=_fc, w_fc=1.0)
    assert base.name() == "inspatio_three" and with_fc.name() == "inspatio_three_fc"
    assert (getattr(with_fc, "_trajectory_sampling", None) is not None) == v2  # v2's constructor got a sampling
    agent_input = _navsim_agent_input()
    traj = base.compute_trajectory(agent_input)
    assert isinstance(traj, nd.Trajectory) and traj.poses.shape == (8, 3) and traj.poses.dtype == np.float32
    assert traj.poses[-1, 0] == pytest.approx(8.0)  # candidate 0
    assert with_fc.compute_trajectory(agent_input).poses[-1, 0] == pytest.approx(24.0)  # candidate 2
    # a planner object that does not say what it reads gets every sensor (as evaluate loads by default)
    assert base.get_sensor_config() == nd.SensorConfig.build_all_sensors()


def test_sensor_config_is_exactly_what_planner_and_fc_read(agent_module):
    module, _ = agent_module
    nd = sys.modules["navsim.common.dataclasses"]
    cv = module.InSpatioAgent({"type": "constant_velocity"})
    assert cv.get_sensor_config() == nd.SensorConfig.build_no_sensors()
    rules = module.InSpatioAgent({"type": "vocabulary", "vocabulary": str(VOCAB), "scorer": "rules"})
    assert rules.get_sensor_config().get_sensors_at_iteration(3) == ["lidar_pc"]
    assert rules.get_sensor_config().get_sensors_at_iteration(2) == []
    drivor = module.InSpatioAgent({"type": "drivor", "random_weights": True, "model": {"image_size": [224, 126]}})
    cfg = drivor.get_sensor_config()
    assert sorted(cfg.get_sensors_at_iteration(3)) == ["cam_b0", "cam_f0", "cam_l0", "cam_r0"]
    assert cfg.get_sensors_at_iteration(0) == [] and cfg.lidar_pc is False
    # FC colours its cloud from the history images of its cameras and merges the last `sweeps` LiDAR sweeps
    fc = module.InSpatioAgent({"type": "constant_velocity"}, fc=GeometricFC(sweeps=2))
    cfg = fc.get_sensor_config()
    for i in range(4):
        assert sorted(cfg.get_sensors_at_iteration(i)) == sorted(
            ["cam_f0", "cam_l0", "cam_r0", "cam_b0"] + (["lidar_pc"] if i >= 2 else []))
    assert cfg.cam_l1 is False
    explicit = module.InSpatioAgent({"type": "constant_velocity"}, sensors={"cam_l1": [3]})
    assert explicit.get_sensor_config().cam_l1 == [3]


def test_installed_configs_swap_planner_and_fc_with_navsim_overrides(agent_module, navsim_config):
    module, _ = agent_module
    cfg = navsim_config(["agent/planner=constant_velocity", "agent/fc=geometric", "agent.w_fc=0.5",
                         "agent.planner.yaw_rates=[-0.1,0.0,0.1]", "agent/planner/selection=v2"])
    agent = instantiate(cfg.agent)
    assert isinstance(agent, module.InSpatioAgent)
    assert isinstance(agent.pipeline.planner, ConstantVelocityPlanner) and len(agent.pipeline.planner.yaw_rates) == 3
    assert isinstance(agent.pipeline.fc, GeometricFC) and agent.pipeline.w_fc == 0.5
    assert agent.pipeline.weights.ttc == 14.0  # v2 weights from the planner's selection group
    assert agent.name() == "inspatio_constant_velocity_fc"
    plain = instantiate(navsim_config(["agent/planner=constant_velocity"]).agent)
    assert plain.pipeline.fc is None and plain.pipeline.weights.ttc == 5.0


def test_default_agent_refuses_drivor_without_checkpoint(agent_module, navsim_config, monkeypatch):
    monkeypatch.delenv("DRIVOR_CHECKPOINT", raising=False)
    with pytest.raises(InstantiationException) as err:
        instantiate(navsim_config([]).agent)
    message = str(err.value.__cause__ or err.value)
    assert "DRIVOR_CHECKPOINT" in message and "agent.planner.checkpoint" in message and "\n" not in message
    monkeypatch.setenv("DRIVOR_CHECKPOINT", str(HERE / "missing.pth"))
    with pytest.raises(InstantiationException, match=r"missing\.pth"):
        instantiate(navsim_config([]).agent)


def test_random_weights_only_when_asked_and_labelled(agent_module, navsim_config, monkeypatch):
    monkeypatch.delenv("DRIVOR_CHECKPOINT", raising=False)
    agent = instantiate(navsim_config(["agent.planner.random_weights=true",
                                       "agent.planner.model.image_size=[224,126]"]).agent)
    assert agent.random_weights and agent.name() == "inspatio_drivor_random_weights"
    # device: auto runs where the machine can (the shipped yaml said cuda and failed without CUDA)
    assert agent.pipeline.planner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    traj = agent.compute_trajectory(_navsim_agent_input_all_cameras())
    assert traj.poses.shape == (8, 3)


def _navsim_agent_input_all_cameras():
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_a", GOLDEN / "sensor_blobs" / "golden_a", SceneFilter(),
                         SensorConfig.build_drivor(), show_progress=False)
    return na.agent_input_to_navsim(loader.get_agent_input_from_token(loader.tokens[0]))


def test_missing_navsim_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "navsim", None)
    monkeypatch.delitem(sys.modules, "inspatio_drive.navsim_plugin.agent", raising=False)
    with pytest.raises(ImportError, match="PyPI package called 'navsim' is unrelated"):
        importlib.import_module("inspatio_drive.navsim_plugin.agent")


def test_agent_refuses_the_former_fc_weight(agent_module):
    module, _ = agent_module
    with pytest.raises(ValueError, match=r"agent\.fc_weight was renamed: use agent\.w_fc"):
        module.InSpatioAgent(_ThreePlanner(), fc_weight=0.5)
    assert module.InSpatioAgent(_ThreePlanner()).pipeline.w_fc == 1.0


def test_agent_refuses_the_privileged_oracle(agent_module):
    module, _ = agent_module
    with pytest.raises(ValueError, match="privileged"):
        module.InSpatioAgent({"type": "constant_velocity", "scorer": "oracle"})


@pytest.mark.slow
def test_plugin_inside_navsim_decides_as_evaluate(navsim_config, monkeypatch, tmp_path):
    """The demo's planner + FC head on the bundled sample: navsim's loop (fake navsim v2.2, sensors from the agent's
    get_sensor_config) and evaluate's per-scene job choose the same candidates with the same FC logits."""
    for name, mod in FAKE.navsim_modules(True).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "inspatio_drive.navsim_plugin.agent", raising=False)
    root = Path(sample_root())
    agent_cfg = navsim_config(["agent/planner=vocabulary", f"agent.planner.vocabulary={VOCAB}",
                               "agent/planner/selection=v1_comfort", "agent.planner.scorer=rules",
                               "agent/fc=geometric", f"agent.fc.head={FC_HEAD}", f"agent.w_fc={chosen_w_fc()}"]).agent
    _, plugin = FAKE.run_agent(agent_cfg, root / "navsim_logs" / "sample", root / "sensor_blobs" / "sample")

    overrides = [o for o in demo_overrides(str(tmp_path / "ev")) if not o.startswith("eval.")]
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(compose_ours("evaluate", [*overrides, f"eval.output_dir={tmp_path / 'ev'}"]),
                                 resolve=True)
    assert cfg["planner"]["scorer"] == "rules"  # the demo's planner is the one the agent was given
    task = EvaluateTask(cfg)
    assert sorted(task.tokens()) == sorted(plugin) and len(plugin) == 3
    for token, (traj, plan) in plugin.items():
        ours = task.pipeline.plan(task.loader.get_scene_from_token(token).get_agent_input())
        assert (plan.base_index, plan.fc_index) == (ours.base_index, ours.fc_index), token
        torch.testing.assert_close(plan.fc.logit, ours.fc.logit, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(traj.poses, ours.trajectory.numpy().astype(np.float32))
