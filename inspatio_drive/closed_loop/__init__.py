"""Closed-loop world-model simulation and counterfactual scene export (``inspatio-drive closed-loop``,
``inspatio-drive counterfactual``).

Public API: :func:`rollout` (re-plan / track / observe), the observers :class:`LidarWorldObserver`,
:class:`GeometricObserver` and :class:`WorldModelObserver`, :func:`with_agents` (log replay / constant velocity),
and in :mod:`inspatio_drive.closed_loop.counterfactual` the perturbed-ego synthetic scenes.
"""

from inspatio_drive.closed_loop.agents import AGENT_MODES, constant_velocity_observation, with_agents
from inspatio_drive.closed_loop.geometric import (
    GeometricObserver,
    WorldModelObserver,
    psnr_valid,
    sandbox_oracle,
)
from inspatio_drive.closed_loop.observers import LidarWorldObserver, world_points
from inspatio_drive.closed_loop.rollout import (
    RolloutResult,
    StepRecord,
    comfort_per_state,
    driving_command,
    rollout,
)

__all__ = [
    "AGENT_MODES",
    "GeometricObserver",
    "LidarWorldObserver",
    "RolloutResult",
    "StepRecord",
    "WorldModelObserver",
    "comfort_per_state",
    "constant_velocity_observation",
    "driving_command",
    "psnr_valid",
    "rollout",
    "sandbox_oracle",
    "with_agents",
    "world_points",
]
