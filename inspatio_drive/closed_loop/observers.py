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


def _se2(pose: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(pose[2]), np.sin(pose[2])
    return np.array([[c, -s, pose[0]], [s, c, pose[1]], [0.0, 0.0, 1.0]])


def world_points(scene: Scene) -> NDArray[np.float32]:
    """History LiDAR sweeps of ``scene`` merged in the global frame: float32 ``[6, N]`` (x, y global
    metres relative to nothing — UTM; z, intensity, ring, lidar id unchanged)."""
    parts = []
    for frame in scene.frames[: scene.current_index + 1]:
        pc = frame.lidar.points if frame.lidar is not None else None
        if pc is None or pc.size == 0:
            continue
        T = _se2(np.asarray(frame.ego_status.ego_pose, np.float64))
        xy = T[:2, :2] @ pc[:2].astype(np.float64) + T[:2, 2:3]
        out = pc.astype(np.float64).copy()
        out[:2] = xy
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
        inv = np.linalg.inv(_se2(state[:3]))
        out = self.points.copy()
        out[:2] = inv[:2, :2] @ self.points[:2] + inv[:2, 2:3]
        return Lidar(out.astype(np.float32))

    def observe(self, ego_statuses: list[EgoStatus], current_state: NDArray[np.float64], step: int,
                t_us: int) -> AgentInput:
        n = len(ego_statuses)
        lidars = [Lidar(np.zeros((6, 0), np.float32)) for _ in range(n - 1)] + [self.lidar_at(current_state)]
        return AgentInput(ego_statuses, [{} for _ in range(n)], lidars)
