"""Candidate ego trajectories → per-camera poses (OpenCV camera axes).

Frames: ``ego0`` = rear axle at t = 0 (the frame of NAVSIM trajectories), ``ego_t`` = rear axle at a
candidate pose, ``cam`` = an OpenCV camera (x right, y down, z forward). The recipe (reference notes
§1.4, InSpatio ``relative_to_source``):

* camera → current ego:   ``T_ego0_cam(k,t,c) = T_ego0_ego(k,t) · T_ego_cam(c)``
* relative to the source camera (camera c at t = 0 is the identity):
  ``T_cam0_cam(k,t,c) = T_ego_cam(c)^-1 · T_ego0_ego(k,t) · T_ego_cam(c)``
* world-to-camera forms are the inverses (``T_cam_ego0``, ``T_cam_cam0``).

Everything is float64; cast to float32 only after composition (projection).
"""

from __future__ import annotations

import torch
from numpy.typing import ArrayLike

from inspatio_drive.geometry.se3 import as_float64, invert_se3, se2_to_se3


def _extrinsics(T_ego_cam: ArrayLike | torch.Tensor, device: torch.device | None) -> torch.Tensor:
    e = as_float64(T_ego_cam, device)
    if e.ndim == 2:
        e = e[None]
    if e.shape[-2:] != (4, 4) or e.ndim != 3:
        raise ValueError(f"expected camera→ego extrinsics [C, 4, 4] or [4, 4], got {tuple(e.shape)}")
    return e


def trajectory_to_ego_poses(trajectories: ArrayLike | torch.Tensor) -> torch.Tensor:
    """``[..., T, 3]`` (x, y, heading in ego0) → ``[..., T, 4, 4]`` ``T_ego0_ego`` (float64)."""
    return se2_to_se3(trajectories)


def camera_to_ego0(
    trajectories: ArrayLike | torch.Tensor, T_ego_cam: ArrayLike | torch.Tensor
) -> torch.Tensor:
    """Camera → current-ego poses ``T_ego0_cam``.

    Args:
        trajectories: ``[K, T, 3]`` (x, y, heading) in the current rear-axle frame (any leading shape).
        T_ego_cam: ``[C, 4, 4]`` camera → ego extrinsics (OpenScene ``sensor2lidar_*``).

    Returns:
        float64 ``[K, T, C, 4, 4]``.
    """
    ego = trajectory_to_ego_poses(trajectories)
    ext = _extrinsics(T_ego_cam, ego.device)
    return ego[..., None, :, :] @ ext


def camera_relative_to_source(
    trajectories: ArrayLike | torch.Tensor, T_ego_cam: ArrayLike | torch.Tensor
) -> torch.Tensor:
    """InSpatio ``relative_to_source`` c2w: ``T_cam0_cam = T_ego_cam^-1 · T_ego0_ego · T_ego_cam``.

    Returns float64 ``[K, T, C, 4, 4]``; identity where the ego pose is (0, 0, 0).
    """
    ego = trajectory_to_ego_poses(trajectories)
    ext = _extrinsics(T_ego_cam, ego.device)
    return invert_se3(ext) @ ego[..., None, :, :] @ ext


def ego0_to_camera(
    trajectories: ArrayLike | torch.Tensor, T_ego_cam: ArrayLike | torch.Tensor
) -> torch.Tensor:
    """World(=ego0)-to-camera ``T_cam_ego0`` ``[K, T, C, 4, 4]``, the form a renderer projects with."""
    return invert_se3(camera_to_ego0(trajectories, T_ego_cam))


def source_to_camera(
    trajectories: ArrayLike | torch.Tensor, T_ego_cam: ArrayLike | torch.Tensor
) -> torch.Tensor:
    """World(=source camera)-to-camera ``T_cam_cam0`` ``[K, T, C, 4, 4]`` (InSpatio v1.5 ``target_tcw``)."""
    return invert_se3(camera_relative_to_source(trajectories, T_ego_cam))
