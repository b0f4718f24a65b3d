"""Torch pose helpers for candidates: SE(2) poses ``(x, y, heading)`` in the current rear-axle frame.

Conventions: ego frame = rear axle, x forward, y left, z up (metres, radians); cameras OpenCV (x right,
y down, z forward); ``T_a_b`` maps coordinates of frame ``b`` into frame ``a`` (4×4, homogeneous).
"""

from __future__ import annotations

import torch
from torch import Tensor

from inspatio_drive.geometry.se3 import se2_to_se3 as geometry_se2_to_se3
from inspatio_drive.geometry.se3 import wrap_angle_t


def check_candidates(candidates: Tensor) -> Tensor:
    """Validate candidate poses ``[K, T, 3]`` and return them as a floating tensor."""
    if not isinstance(candidates, Tensor):
        candidates = torch.as_tensor(candidates)
    if candidates.ndim != 3 or candidates.shape[-1] != 3:
        raise ValueError(
            f"candidates: expected [K, T, 3] (x, y, heading), got shape {tuple(candidates.shape)}"
        )
    if not candidates.is_floating_point():
        candidates = candidates.double()
    if not torch.isfinite(candidates).all():
        raise ValueError("candidates: contain NaN or inf")
    return candidates


def check_view_maps(a: Tensor, b: Tensor, names: str) -> tuple[Tensor, Tensor]:
    """Two per-view maps as tensors ``[K, T, C, H, W]`` of equal shapes (a singleton axis 3 of a 6-d map, e.g.
    a channel, is dropped); ``names`` (``"depth/valid"``) name them in the error."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.ndim == 6 and a.shape[3] == 1:
        a = a.squeeze(3)
    if b.ndim == 6 and b.shape[3] == 1:
        b = b.squeeze(3)
    if a.ndim != 5 or a.shape != b.shape:
        raise ValueError(f"{names}: expected equal shapes [K, T, C, H, W], got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def with_origin(candidates: Tensor) -> Tensor:
    """Prepend the current pose (0, 0, 0) at t = 0: ``[K, T, 3]`` → ``[K, T + 1, 3]``."""
    zero = candidates.new_zeros(candidates.shape[0], 1, 3)
    return torch.cat([zero, candidates], dim=1)


def interpolate_poses(candidates: Tensor, substeps: int) -> Tensor:
    """Linearly interpolate poses between t = 0 (origin) and every candidate pose.

    Args:
        candidates: ``[K, T, 3]`` poses at t = dt, 2·dt, …, T·dt.
        substeps: number of samples per interval (1 = the poses themselves).

    Returns:
        ``[K, T·substeps, 3]`` poses at t = dt/substeps, 2·dt/substeps, …, T·dt; headings interpolated
        along the shortest arc and wrapped to [−π, π).
    """
    if substeps < 1:
        raise ValueError(f"substeps must be >= 1, got {substeps}")
    full = with_origin(candidates)
    start, end = full[:, :-1], full[:, 1:]  # [K, T, 3]
    frac = torch.arange(1, substeps + 1, dtype=candidates.dtype, device=candidates.device) / substeps
    frac = frac.view(1, 1, -1, 1)  # [1, 1, S, 1]
    delta = end - start
    dpsi = wrap_angle_t(delta[..., 2])
    delta = torch.stack([delta[..., 0], delta[..., 1], dpsi], dim=-1)
    out = start.unsqueeze(2) + frac * delta.unsqueeze(2)  # [K, T, S, 3]
    out[..., 2] = wrap_angle_t(out[..., 2])
    return out.reshape(candidates.shape[0], -1, 3)


def se2_to_se3(poses: Tensor) -> Tensor:
    """``[..., 3]`` (x, y, heading) → ``[..., 4, 4]`` planar SE(3) matrices (z = pitch = roll = 0), in the
    dtype of ``poses`` (:func:`inspatio_drive.geometry.se3.se2_to_se3` with ``keep_dtype=True``)."""
    return geometry_se2_to_se3(poses, keep_dtype=True)


def camera_to_ego0(candidates: Tensor, T_ego_cam: Tensor) -> Tensor:
    """Camera → current-ego transforms along every candidate.

    Args:
        candidates: ``[K, T, 3]`` ego poses in the current rear-axle frame.
        T_ego_cam: ``[C, 4, 4]`` camera → ego (rear axle) extrinsics (OpenScene ``sensor2lidar_*``).

    Returns:
        ``[K, T, C, 4, 4]`` = ``T_ego0_egot @ T_ego_cam``.
    """
    T_ego_cam = torch.as_tensor(T_ego_cam, dtype=candidates.dtype, device=candidates.device)
    if T_ego_cam.ndim != 3 or T_ego_cam.shape[-2:] != (4, 4):
        raise ValueError(f"T_ego_cam: expected [C, 4, 4], got {tuple(T_ego_cam.shape)}")
    ego = se2_to_se3(candidates)  # [K, T, 4, 4]
    return ego.unsqueeze(2) @ T_ego_cam  # [K, T, C, 4, 4]


def relative_camera_motion(cam_to_ego0: Tensor) -> Tensor:
    """Relative motion between consecutive frames of the same camera.

    Args:
        cam_to_ego0: ``[K, T, C, 4, 4]`` camera → current-ego transforms.

    Returns:
        ``[K, T-1, C, 4, 4]`` ``T_{t+1 ← t}``: maps camera-t coordinates into camera-(t+1) coordinates.
    """
    return torch.linalg.inv(cam_to_ego0[:, 1:]) @ cam_to_ego0[:, :-1]
