"""Fake ``navsim`` / ``nuplan`` packages mirroring the agent API of navsim v1.1 and v2.2 (not a test module).

What is mirrored (navsim ``navsim/agents/abstract_agent.py``, ``navsim/common/dataclasses.py``,
``navsim/common/dataloader.py``; reference §1): ``AbstractAgent`` (``torch.nn.Module``, ABC; v1.1
``__init__(requires_scene=False)``, v2 ``__init__(trajectory_sampling, requires_scene=False)`` storing
``_trajectory_sampling``; abstract ``name``, ``get_sensor_config``, ``initialize``), ``SensorConfig`` (nine fields of
``bool`` or history indices, ``get_sensors_at_iteration``, ``build_all_sensors``, ``build_no_sensors``), the
dataclasses of ``tests/inspatio_drive/data/test_navsim_adapter.py`` (Camera, Cameras, Lidar, EgoStatus, AgentInput,
Trajectory …), and a ``SceneLoader(data_path, original_sensor_path, scene_filter, sensor_config)`` whose
``get_agent_input_from_token`` loads only what ``sensor_config`` asks for — the contract the plugin relies on. The
loader reads with this package's own reader (the OpenScene layout is the same) and converts to navsim types.

:func:`run_agent` is the per-token loop of navsim's scoring scripts: ``instantiate(cfg.agent)``, ``initialize()``,
a ``SceneLoader`` with ``agent.get_sensor_config()``, then ``compute_trajectory`` per token.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib.util
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from inspatio_drive.data import SceneFilter
from inspatio_drive.data import SceneLoader as OurSceneLoader
from inspatio_drive.data import SensorConfig as OurSensorConfig
from inspatio_drive.data import navsim_adapter as na

TESTS = Path(__file__).resolve().parents[2]


def _dataclass_modules(v2: bool) -> dict[str, types.ModuleType]:
    spec = importlib.util.spec_from_file_location("_adapter_fakes", TESTS / "inspatio_drive" / "data" / "test_navsim_adapter.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._fake_navsim(v2)


@dataclass
class SensorConfig:
    """navsim's ``SensorConfig``: per sensor ``True``/``False`` (every / no frame) or a list of history indices."""

    cam_f0: bool | list[int]
    cam_l0: bool | list[int]
    cam_l1: bool | list[int]
    cam_l2: bool | list[int]
    cam_r0: bool | list[int]
    cam_r1: bool | list[int]
    cam_r2: bool | list[int]
    cam_b0: bool | list[int]
    lidar_pc: bool | list[int]

    def get_sensors_at_iteration(self, iteration: int) -> list[str]:
        out = []
        for f in dataclasses.fields(self):
            include = getattr(self, f.name)
            if (isinstance(include, bool) and include) or (isinstance(include, list) and iteration in include):
                out.append(f.name)
        return out

    @classmethod
    def build_all_sensors(cls, include: bool | list[int] = True) -> SensorConfig:
        return cls(**{f.name: include for f in dataclasses.fields(cls)})

    @classmethod
    def build_no_sensors(cls) -> SensorConfig:
        return cls.build_all_sensors(include=False)


def _abstract_agent(v2: bool) -> type:
    if v2:
        class AbstractAgent(torch.nn.Module, abc.ABC):
            def __init__(self, trajectory_sampling, requires_scene: bool = False):
                super().__init__()
                self.requires_scene = requires_scene
                self._trajectory_sampling = trajectory_sampling

            @abc.abstractmethod
            def name(self) -> str: ...

            @abc.abstractmethod
            def get_sensor_config(self) -> SensorConfig: ...

            @abc.abstractmethod
            def initialize(self) -> None: ...
    else:
        class AbstractAgent(torch.nn.Module, abc.ABC):
            def __init__(self, requires_scene: bool = False):
                super().__init__()
                self.requires_scene = requires_scene

            @abc.abstractmethod
            def name(self) -> str: ...

            @abc.abstractmethod
            def get_sensor_config(self) -> SensorConfig: ...

            @abc.abstractmethod
            def initialize(self) -> None: ...
    return AbstractAgent


class SceneLoader:
    """navsim's ``SceneLoader`` signature; loads only the sensors ``sensor_config`` asks for, per history frame."""

    def __init__(self, data_path: Path, original_sensor_path: Path, scene_filter: Any = None,
                 sensor_config: SensorConfig | None = None) -> None:
        sensor_config = sensor_config or SensorConfig.build_no_sensors()
        ours = OurSensorConfig(**{f.name: getattr(sensor_config, f.name) for f in dataclasses.fields(sensor_config)})
        self._loader = OurSceneLoader(Path(data_path), Path(original_sensor_path), SceneFilter(), ours,
                                      show_progress=False)

    @property
    def tokens(self) -> list[str]:
        return list(self._loader.tokens)

    def get_agent_input_from_token(self, token: str) -> Any:
        return na.agent_input_to_navsim(self._loader.get_agent_input_from_token(token))


def navsim_modules(v2: bool) -> dict[str, types.ModuleType]:
    """``sys.modules`` entries of a fake navsim (v2.2 when ``v2``, else v1.1) and nuplan's ``TrajectorySampling``."""
    mods = _dataclass_modules(v2)
    mods["navsim.common.dataclasses"].SensorConfig = SensorConfig
    agents = types.ModuleType("navsim.agents")
    abstract = types.ModuleType("navsim.agents.abstract_agent")
    abstract.AbstractAgent = _abstract_agent(v2)
    loader = types.ModuleType("navsim.common.dataloader")
    loader.SceneLoader = SceneLoader
    mods.update({"navsim.agents": agents, "navsim.agents.abstract_agent": abstract, "navsim.common.dataloader": loader})
    return mods


def run_agent(agent_cfg: Any, logs: Path, blobs: Path, tokens: list[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """navsim's scoring loop for one worker: the agent from its config node, its sensor config, one trajectory per
    token. Returns ``(agent, {token: (Trajectory, PlanResult)})``."""
    from hydra.utils import instantiate

    agent = instantiate(agent_cfg)
    agent.initialize()
    loader = SceneLoader(logs, blobs, None, agent.get_sensor_config())
    out = {}
    for token in tokens or loader.tokens:
        traj = agent.compute_trajectory(loader.get_agent_input_from_token(token))
        out[token] = (traj, agent.last_plan)
    return agent, out
