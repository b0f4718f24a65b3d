"""The navsim agent plugin against fake navsim packages with v1.1's and v2's AbstractAgent signatures."""

from __future__ import annotations

import abc
import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from inspatio_drive.contracts import Candidates, FCOutput
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data import navsim_adapter as na
from inspatio_drive.navsim_plugin import AGENT_YAML

TESTS = Path(__file__).resolve().parents[2]
GOLDEN = TESTS / "data" / "golden" / "pdms"


def _data_layer_fakes():
    spec = importlib.util.spec_from_file_location("_adapter_tests", TESTS / "inspatio_drive" / "data" / "test_navsim_adapter.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._fake_navsim


def _abstract_agent_module(v2: bool) -> types.ModuleType:
    if v2:
        class AbstractAgent(torch.nn.Module, abc.ABC):
            def __init__(self, trajectory_sampling, requires_scene: bool = False):
                super().__init__()
                self.requires_scene = requires_scene
                self._trajectory_sampling = trajectory_sampling
    else:
        class AbstractAgent(torch.nn.Module, abc.ABC):
            def __init__(self, requires_scene: bool = False):
                super().__init__()
                self.requires_scene = requires_scene
    mod = types.ModuleType("navsim.agents.abstract_agent")
    mod.AbstractAgent = AbstractAgent
    return mod


@dataclass
class _SensorConfig:
    cam_f0: object
    cam_l0: object
    cam_l1: object
    cam_l2: object
    cam_r0: object
    cam_r1: object
    cam_r2: object
    cam_b0: object
    lidar_pc: object


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
    mods = _data_layer_fakes()(request.param)
    mods["navsim.agents"] = types.ModuleType("navsim.agents")
    mods["navsim.agents.abstract_agent"] = _abstract_agent_module(request.param)
    mods["navsim.common.dataclasses"].SensorConfig = _SensorConfig
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "inspatio_drive.navsim_plugin.agent", raising=False)
    return importlib.import_module("inspatio_drive.navsim_plugin.agent"), request.param


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
    cfg = base.get_sensor_config()
    assert cfg.cam_f0 == [3] and cfg.cam_l1 is False and cfg.lidar_pc == [0, 1, 2, 3]


def test_agent_yaml_instantiates(agent_module, monkeypatch):
    from hydra.utils import instantiate

    module, _ = agent_module
    cfg = OmegaConf.load(AGENT_YAML)
    cfg.planner = {"_target_": "tests_plugin_planner.ThreePlanner"}
    fake = types.ModuleType("tests_plugin_planner")
    fake.ThreePlanner = _ThreePlanner
    monkeypatch.setitem(sys.modules, "tests_plugin_planner", fake)
    agent = instantiate(cfg)
    assert isinstance(agent, module.InSpatioAgent) and agent.pipeline.weights.ttc == 5.0
    assert agent.get_sensor_config().cam_b0 == [3]


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
