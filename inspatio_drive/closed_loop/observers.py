"""Observers: what the planner sees at a simulated pose.

* :class:`LidarWorldObserver` — no weights, no renderer: the scene's history LiDAR sweeps, merged in the
  global frame once, re-expressed in the simulated ego frame at every step (an "imagined" LiDAR of the
  static world, as the geometric renderer sees it); no camera images.
* :class:`GeometricObserver` (``inspatio_drive.closed_loop.geometric``) — adds camera images rendered from the
  coloured point cloud at the simulated pose.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar, Scene
from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2


def _xy0(points: NDArray) -> NDArray[np.float64]:
    """Rows x, y of ``[>=2, N]`` points as ``[N, 3]`` poses with heading 0 (for the SE(2) helpers)."""
    out = np.zeros((points.shape[1], 3))
    out[:, :2] = points[:2].T
    return out


def world_points(scene: Scene) -> NDArray[np.float32]:
    """History LiDAR sweeps of ``scene`` merged in the global frame: float32 ``[6, N]`` (x, y global
    metres relative to nothing — UTM; z, intensity, ring, lidar id unchanged)."""
    parts = []
    for frame in scene.frames[: scene.current_index + 1]:
        pc = frame.lidar.points if frame.lidar is not None else None
        if pc is None or pc.size == 0:
            continue
        out = pc.astype(np.float64).copy()
        out[:2] = relative_to_absolute_se2(np.asarray(frame.ego_status.ego_pose, np.float64), _xy0(pc))[:, :2].T
        parts.append(out)
    if not parts:
        return np.zeros((6, 0), np.float32)
    return np.concatenate(parts, axis=1)  # float64 kept: UTM coordinates need it


class LidarWorldObserver:
    """Agent input at a simulated pose with the static world's LiDAR points (no cameras)."""

    def __init__(self, scene: Scene) -> None:
        self.points = world_points(scene)

    def lidar_at(self, state: NDArray[np.float64]) -> Lidar:
        """The world points in the ego frame of global ``state`` (float32 ``[6, N]``)."""
        out = self.points.copy()
        out[:2] = absolute_to_relative_se2(np.asarray(state[:3], np.float64), _xy0(self.points))[:, :2].T
        return Lidar(out.astype(np.float32))

    def observe(self, ego_statuses: list[EgoStatus], current_state: NDArray[np.float64], step: int,
                t_us: int) -> AgentInput:
        n = len(ego_statuses)
        lidars = [Lidar(np.zeros((6, 0), np.float32)) for _ in range(n - 1)] + [self.lidar_at(current_state)]
        return AgentInput(ego_statuses, [{} for _ in range(n)], lidars)
