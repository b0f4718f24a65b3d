"""What the learned DrivoR-form scorer sees of a scene (agent input only, honest):

* ``bev``  — float32 ``[2, H, W]`` LiDAR bird's-eye grid of the current frame, ego frame (x forward, y left, m):
  channel 0 = log(1 + points above ``ground_z``) per cell (obstacles), channel 1 = log(1 + points at or below it)
  (ground / road surface). Rows index x from ``x_range[0]`` (row 0) upwards, columns index y from ``y_range[0]``.
* ``ego``  — float32 ``[8]``: current velocity (vx, vy) m/s, acceleration (ax, ay) m/s², driving command one-hot [4].

:func:`scene_inputs` is used both when the evaluation dumps every candidate (the scorer's training data) and when
the trained scorer runs, so training and inference see the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.data.types import AgentInput

EGO_DIM = 8


@dataclass(frozen=True)
class BevConfig:
    """Grid of :func:`lidar_bev`: ``x_range`` / ``y_range`` (m, ego frame), ``cells`` per side, ``ground_z`` (m,
    LiDAR ``z`` in the ego frame at or below which a point counts as ground)."""

    x_range: tuple[float, float] = (-16.0, 48.0)
    y_range: tuple[float, float] = (-32.0, 32.0)
    cells: int = 32
    ground_z: float = 0.3


def lidar_bev(points: NDArray | None, cfg: BevConfig = BevConfig()) -> NDArray[np.float32]:
    """``points [>=3, N]`` (x, y, z rows, ego frame) → ``[2, cells, cells]`` log-count grid (zeros without points)."""
    grid = np.zeros((2, cfg.cells, cfg.cells), np.float32)
    if points is None or np.asarray(points).size == 0:
        return grid
    p = np.asarray(points, np.float64)
    x, y, z = p[0], p[1], p[2]
    ix = np.floor((x - cfg.x_range[0]) / (cfg.x_range[1] - cfg.x_range[0]) * cfg.cells).astype(np.int64)
    iy = np.floor((y - cfg.y_range[0]) / (cfg.y_range[1] - cfg.y_range[0]) * cfg.cells).astype(np.int64)
    ok = (ix >= 0) & (ix < cfg.cells) & (iy >= 0) & (iy < cfg.cells) & np.isfinite(z)
    ch = (z <= cfg.ground_z).astype(np.int64)
    np.add.at(grid, (ch[ok], ix[ok], iy[ok]), 1.0)
    return np.log1p(grid)


def ego_vector(agent_input: AgentInput) -> NDArray[np.float32]:
    """``[8]`` current ego status: velocity [2], acceleration [2], driving command [4]."""
    if not agent_input.ego_statuses:
        raise ValueError("scene_inputs: the agent input has no ego status")
    s = agent_input.ego_statuses[-1]
    cmd = np.zeros(4, np.float32)
    c = np.asarray(s.driving_command, np.float32).reshape(-1)[:4]
    cmd[: len(c)] = c
    return np.concatenate([np.asarray(s.ego_velocity, np.float32).reshape(2),
                           np.asarray(s.ego_acceleration, np.float32).reshape(2), cmd]).astype(np.float32)


def scene_inputs(agent_input: AgentInput, cfg: BevConfig = BevConfig()) -> dict[str, NDArray[np.float32]]:
    """``{"bev": [2, H, W], "ego": [8]}`` of one scene (current LiDAR sweep and ego status)."""
    lidar = agent_input.lidars[-1].points if agent_input.lidars else None
    return {"bev": lidar_bev(lidar, cfg), "ego": ego_vector(agent_input)}
