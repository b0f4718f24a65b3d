"""``InSpatioAgent``: a navsim ``AbstractAgent`` around :class:`~planners.pipeline.PlanningPipeline`.

Works with both constructor signatures of navsim's ``AbstractAgent`` (reference §1.1): v1.1
``__init__(requires_scene=False)`` and v2 ``__init__(trajectory_sampling, requires_scene=False)``; the
signature of the installed navsim is inspected, not assumed. navsim calls ``compute_trajectory`` from
``run_pdm_score.py``; the agent overrides it (no feature builders, no ``forward``), so CPU and GPU planners work
the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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
from planners.factory import selection_weights
from planners.pipeline import PlanningPipeline
from planners.protocol import Planner
from scorers.fusion import resolve_w_fc, w_fc_from_config

# DrivoR's sensors (current frame of four cameras) plus the four LiDAR sweeps the geometric renderer uses.
DEFAULT_SENSORS: dict[str, bool | list[int]] = {
    "cam_f0": [3], "cam_l0": [3], "cam_l1": False, "cam_l2": False, "cam_r0": [3], "cam_r1": False,
    "cam_r2": False, "cam_b0": [3], "lidar_pc": [0, 1, 2, 3],
}  # fmt: skip


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
        planner: an object following :class:`planners.protocol.Planner` (hydra-instantiated from the yaml).
        fc: a future-consistency scorer, or ``None`` for the planner alone.
        w_fc: the fusion weight of ``+ w_fc · logσ(FC)`` (``None`` = :data:`scorers.fusion.DEFAULT_W_FC`).
        selection: preset name (``v1``, ``v2``) or a mapping of weights (noc, dac, ddc, ttc, ep, comfort).
        sensors: navsim ``SensorConfig`` fields (bool or history indices); default: DrivoR's cameras + LiDAR.
        trajectory_sampling: navsim v2 passes it to ``AbstractAgent``; v1.1 ignores it (8 poses, 0.5 s).
        requires_scene: ask navsim for the privileged ``Scene`` too (only for privileged runs).
    """

    def __init__(
        self,
        planner: Planner,
        fc: FutureConsistency | None = None,
        w_fc: float | None = None,
        selection: str | Mapping[str, Any] = "v1",
        sensors: Mapping[str, bool | Sequence[int]] | None = None,
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
        self._sampling = trajectory_sampling
        weights = selection_weights(selection)
        self.pipeline = PlanningPipeline(planner, weights, fc, resolve_w_fc(w_fc))
        self._sensors = {**DEFAULT_SENSORS, **{k: (v if isinstance(v, bool) else list(v))
                                               for k, v in (sensors or {}).items()}}
        self.last_plan = None

    def name(self) -> str:
        suffix = "_fc" if self.pipeline.fc is not None else ""
        return f"inspatio_{self.pipeline.planner.name}{suffix}"

    def initialize(self) -> None:
        """Weights are loaded when the planner is built (hydra instantiates it with the agent)."""

    def get_sensor_config(self) -> Any:
        return SensorConfig(**self._sensors)

    def compute_trajectory(self, agent_input: Any, scene: Any = None) -> Any:
        """navsim ``AgentInput`` → navsim ``Trajectory`` (8 poses, current rear-axle frame)."""

        plan = self.pipeline.plan(agent_input_from_navsim(agent_input))
        self.last_plan = plan
        poses = plan.trajectory.detach().cpu().numpy().astype(np.float32)
        if _accepts(Trajectory, "trajectory_sampling") and getattr(self, "_trajectory_sampling", None) is not None:
            return Trajectory(poses, self._trajectory_sampling)
        return Trajectory(poses)
