"""``InSpatioAgent``: a navsim ``AbstractAgent`` around :class:`~planners.pipeline.PlanningPipeline`.

Works with both constructor signatures of navsim's ``AbstractAgent`` (reference §1.1): v1.1
``__init__(requires_scene=False)`` and v2 ``__init__(trajectory_sampling, requires_scene=False)``; the
signature of the installed navsim is inspected, not assumed. navsim calls ``compute_trajectory`` from its scoring
scripts; the agent overrides it (no feature builders, no ``forward``), so CPU and GPU planners work the same way.

One decision everywhere: the planner node is the same ``configs/planner/<type>.yaml`` node ``evaluate`` builds
(:func:`planners.factory.build_planner`, selection weights included), the FC node is
``configs/scorer/geometric_fc.yaml``'s ``model`` node, and :meth:`InSpatioAgent.get_sensor_config` asks navsim for
exactly what the two read (:meth:`planners.pipeline.PlanningPipeline.sensor_config`), history frames included.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inspatio_drive.config import ConfigError
from inspatio_drive.data.navsim_adapter import agent_input_from_navsim

try:
    from navsim.agents.abstract_agent import AbstractAgent
    from navsim.common.dataclasses import SensorConfig, Trajectory
except ImportError as exc:  # pragma: no cover - exercised only without navsim
    raise ImportError(
        "inspatio_drive.navsim_plugin.agent needs navsim (https://github.com/autonomousvision/navsim, "
        "installed from source; the PyPI package called 'navsim' is unrelated). Without navsim, evaluate "
        "with `inspatio-drive evaluate` instead."
    ) from exc

from inspatio_drive.contracts import FutureConsistency
from planners.factory import build_planner, instantiate_node, selection_weights
from planners.pipeline import PlanningPipeline
from planners.protocol import Planner
from scorers.fusion import resolve_w_fc, w_fc_from_config

log = logging.getLogger(__name__)


def _accepts(fn: Any, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def _default_sampling() -> Any:
    from nuplan.planning.simulation.trajectory.trajectory_sampling import (
        TrajectorySampling,  # lazy: optional: inside a navsim installation only
    )

    return TrajectorySampling(time_horizon=4, interval_length=0.5)


class InSpatioAgent(AbstractAgent):
    """navsim agent: ``planner`` proposes candidates, the FC term re-ranks them, DrivoR's rule selects.

    Args:
        planner: a ``configs/planner/<type>.yaml`` node (``type: drivor`` …; the agent's ``planner`` config group,
            built by :func:`planners.factory.build_planner`) or an object following :class:`planners.protocol.Planner`.
        fc: a future-consistency scorer (or its hydra node), or ``None`` for the planner alone.
        w_fc: the fusion weight of ``+ w_fc · logσ(FC)`` (``None`` = :data:`scorers.fusion.DEFAULT_W_FC`).
        selection: ``None`` = the planner node's selection weights (``agent/planner/selection=v2``; DrivoR v1 for a
            planner object), else a preset name (``v1``, ``v2``) or a mapping of weights.
        sensors: navsim ``SensorConfig`` fields (bool or history indices) replacing the derived ones; ``None`` =
            exactly what the planner and the FC term read.
        num_history_frames: navsim's ``SceneFilter.num_history_frames`` (sensor indices are history frames).
        trajectory_sampling: navsim v2 passes it to ``AbstractAgent``; v1.1 ignores it (8 poses, 0.5 s).
        requires_scene: ask navsim for the privileged ``Scene`` too (only for privileged runs).

    Raises:
        ConfigError: a privileged planner scorer (the PDM oracle needs a metric cache navsim does not hand agents),
            or the planner node's own refusal (e.g. DrivoR without a checkpoint).
    """

    def __init__(
        self,
        planner: Planner | Mapping[str, Any],
        fc: FutureConsistency | Mapping[str, Any] | None = None,
        w_fc: float | None = None,
        selection: str | Mapping[str, Any] | None = None,
        sensors: Mapping[str, bool | Sequence[int]] | None = None,
        num_history_frames: int = 4,
        trajectory_sampling: Any = None,
        requires_scene: bool = False,
        **renamed: Any,
    ) -> None:
        if renamed:  # an agent yaml of an earlier version (agent.fc_weight)
            w_fc_from_config(renamed, where="agent")
            raise TypeError(f"InSpatioAgent: unexpected argument(s) {sorted(renamed)}")
        if _accepts(AbstractAgent.__init__, "trajectory_sampling"):  # navsim v2
            sampling = trajectory_sampling if trajectory_sampling is not None else _default_sampling()
            super().__init__(trajectory_sampling=sampling, requires_scene=requires_scene)
        else:  # navsim v1.1
            super().__init__(requires_scene=requires_scene)
        if isinstance(planner, Mapping):
            spec = build_planner(planner)
            if spec.privileged:
                raise ConfigError("agent.planner.scorer=oracle is privileged (it needs the scene's metric cache, "
                                  "which navsim does not give agents): use null, rules or learned")
            planner_obj, weights = spec.planner, spec.weights
        else:
            planner_obj, weights = planner, selection_weights("v1")
        if selection is not None:
            weights = selection_weights(selection)
        if isinstance(fc, Mapping):  # a node hydra did not instantiate (e.g. _recursive_: false)
            if fc and not fc.get("_target_"):
                raise ConfigError(f"agent.fc: expected null or a node with _target_ (agent/fc=geometric), got keys "
                                  f"{sorted(fc)}")
            fc = instantiate_node(fc) if fc else None
        self.pipeline = PlanningPipeline(planner_obj, weights, fc, resolve_w_fc(w_fc))
        self.num_history_frames = int(num_history_frames)
        derived = self.pipeline.sensor_config(self.num_history_frames)
        self._sensors: dict[str, bool | list[int]] = {
            f.name: getattr(derived, f.name) for f in dataclasses.fields(derived)}
        for key, value in (sensors or {}).items():
            if key not in self._sensors:
                raise ConfigError(f"agent.sensors.{key}: unknown sensor; expected some of {sorted(self._sensors)}")
            self._sensors[key] = value if isinstance(value, bool) else [int(i) for i in value]
        self.random_weights = bool(getattr(planner_obj, "random_weights", False))
        if self.random_weights:
            log.warning("%s: the planner runs untrained (random) weights on request (planner.random_weights=true); "
                        "its scores say nothing about the planner", self.name())
        self.last_plan = None

    def name(self) -> str:
        """``inspatio_<planner>[_random_weights][_fc]`` (navsim logs it; random weights are labelled)."""
        random = "_random_weights" if getattr(self, "random_weights", False) else ""
        suffix = "_fc" if self.pipeline.fc is not None else ""
        return f"inspatio_{self.pipeline.planner.name}{random}{suffix}"

    def initialize(self) -> None:
        """Weights are loaded when the planner is built (hydra instantiates it with the agent)."""

    def get_sensor_config(self) -> Any:
        """navsim ``SensorConfig`` of exactly what the planner and the FC term read (or ``agent.sensors``)."""
        return SensorConfig(**self._sensors)

    def compute_trajectory(self, agent_input: Any, scene: Any = None) -> Any:
        """navsim ``AgentInput`` → navsim ``Trajectory`` (8 poses, current rear-axle frame)."""

        plan = self.pipeline.plan(agent_input_from_navsim(agent_input))
        self.last_plan = plan
        poses = plan.trajectory.detach().cpu().numpy().astype(np.float32)
        sampling = getattr(self, "_trajectory_sampling", None)
        if sampling is not None and _accepts(Trajectory, "trajectory_sampling"):
            return Trajectory(poses, sampling)
        return Trajectory(poses)
