"""Constant-velocity baseline (navsim ``ConstantVelocityAgent``), optionally fanned out into arcs.

With the defaults it is exactly navsim's agent: one candidate driving straight ahead (heading 0) at the
current speed ``‖(vx, vy)‖``: pose ``i`` = ``((i + 1)·dt·v, 0, 0)``. ``yaw_rates`` (rad/s) and
``speed_factors`` make a grid of constant-speed, constant-yaw-rate arcs (K = len(yaw_rates) ·
len(speed_factors)), a weight-free candidate set for the selection / future-consistency machinery.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput


def constant_turn_poses(speed: torch.Tensor, yaw_rate: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Arcs at constant speed and yaw rate from the origin, heading 0.

    Args:
        speed: ``[K]`` m/s (≥ 0).
        yaw_rate: ``[K]`` rad/s (counter-clockwise positive).
        times: ``[T]`` seconds.

    Returns:
        float32 ``[K, T, 3]`` (x, y, heading), rear-axle frame.
    """
    v, w, t = speed[:, None].double(), yaw_rate[:, None].double(), times[None].double()
    heading = w * t
    small = w.abs() < 1e-6
    w_safe = torch.where(small, torch.ones_like(w), w)
    x = torch.where(small, v * t, v / w_safe * torch.sin(heading))
    y = torch.where(small, 0.5 * v * w * t**2, v / w_safe * (1.0 - torch.cos(heading)))
    return torch.stack([x, y, heading], dim=-1).float()


class ConstantVelocityPlanner:
    """Constant speed along straight lines (default, K = 1, navsim's baseline) or arcs."""

    name = "constant_velocity"

    def __init__(
        self,
        num_poses: int = 8,
        interval_length: float = 0.5,
        yaw_rates: Sequence[float] = (0.0,),
        speed_factors: Sequence[float] = (1.0,),
    ) -> None:
        if num_poses < 1 or interval_length <= 0:
            raise ValueError(
                f"ConstantVelocityPlanner: bad sampling num_poses={num_poses}, dt={interval_length}"
            )
        if not yaw_rates or not speed_factors or min(speed_factors) < 0:
            raise ValueError(
                "ConstantVelocityPlanner: yaw_rates and speed_factors must be non-empty, factors >= 0"
            )
        self.times = torch.arange(1, num_poses + 1, dtype=torch.float64) * interval_length
        grid = np.array([(f, w) for f in speed_factors for w in yaw_rates], dtype=np.float64)
        self.speed_factors = torch.from_numpy(grid[:, 0])
        self.yaw_rates = torch.from_numpy(grid[:, 1])

    def propose(self, agent_input: AgentInput) -> Candidates:
        """Candidates ``[K, T, 3]`` from the current ego velocity."""
        if not agent_input.ego_statuses:
            raise ValueError("ConstantVelocityPlanner: the agent input has no ego status")
        v = np.asarray(agent_input.ego_statuses[-1].ego_velocity, dtype=np.float64)
        speed = float(np.sqrt((v**2).sum(-1)))
        poses = constant_turn_poses(speed * self.speed_factors, self.yaw_rates, self.times)
        return Candidates(poses=poses)

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        """No sensor: the current ego velocity only (see :data:`planners.protocol.SensorNeeds`)."""
        return {}
