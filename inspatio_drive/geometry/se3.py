"""Batched SE(2)/SE(3) helpers in torch (float64 by default), any leading batch shape.

Conventions: a 4×4 matrix ``T_a_b`` maps points of frame b into frame a (``p_a = T_a_b @ p_b``);
SE(2) poses are ``(x, y, heading)`` with heading in rad, counter-clockwise from +x. Planar poses lift
to SE(3) as a rotation about +z (z, pitch, roll = 0), the motion model NAVSIM's evaluation uses.
"""

from __future__ import annotations

import torch
from numpy.typing import ArrayLike


def as_float64(x: ArrayLike | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Any array → float64 tensor (on ``device``, default: the tensor's own device or CPU)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype=torch.float64, device=device if device is not None else x.device)
    return torch.as_tensor(x, dtype=torch.float64, device=device)


def wrap_angle_t(angle: torch.Tensor) -> torch.Tensor:
    """Wrap angles (rad) to [−π, π)."""
    return torch.remainder(angle + torch.pi, 2.0 * torch.pi) - torch.pi


def rot_z(yaw: torch.Tensor) -> torch.Tensor:
    """``[...]`` yaw (rad) → ``[..., 3, 3]`` rotation about +z."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(yaw), torch.ones_like(yaw)
    return torch.stack([c, -s, z, s, c, z, z, z, o], dim=-1).reshape(*yaw.shape, 3, 3)


def se2_to_se3(poses: ArrayLike | torch.Tensor, keep_dtype: bool = False) -> torch.Tensor:
    """``[..., 3]`` (x, y, heading) → ``[..., 4, 4]`` float64 SE(3) with planar motion (z = 0);
    ``keep_dtype=True`` keeps a tensor's own dtype and device (no cast, the trigonometry in that dtype)."""
    p = torch.as_tensor(poses) if keep_dtype else as_float64(poses)
    if p.shape[-1] != 3:
        raise ValueError(f"expected SE(2) poses [..., 3], got {tuple(p.shape)}")
    out = torch.zeros(*p.shape[:-1], 4, 4, dtype=p.dtype, device=p.device)
    out[..., :3, :3] = rot_z(p[..., 2])
    out[..., 0, 3] = p[..., 0]
    out[..., 1, 3] = p[..., 1]
    out[..., 3, 3] = 1.0
    return out


def se3_to_se2(matrices: torch.Tensor) -> torch.Tensor:
    """``[..., 4, 4]`` → ``[..., 3]`` (x, y, yaw) — the planar part (yaw of the rotated x axis)."""
    m = as_float64(matrices)
    yaw = torch.atan2(m[..., 1, 0], m[..., 0, 0])
    return torch.stack([m[..., 0, 3], m[..., 1, 3], yaw], dim=-1)


def make_se3(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` rotation and ``[..., 3]`` translation → ``[..., 4, 4]``."""
    shape = torch.broadcast_shapes(rotation.shape[:-2], translation.shape[:-1])
    out = torch.zeros(*shape, 4, 4, dtype=rotation.dtype, device=rotation.device)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def invert_se3(t: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of rigid transforms ``[..., 4, 4]`` (R^T, −R^T t)."""
    r = t[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(t)
    out[..., :3, :3] = r
    out[..., :3, 3] = -(r @ t[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def transform_points(t: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``[..., 4, 4]`` transforms to ``[..., N, 3]`` points (broadcast over the batch)."""
    return points @ t[..., :3, :3].transpose(-1, -2) + t[..., None, :3, 3]


def is_rigid(t: torch.Tensor, atol: float = 1e-6) -> torch.Tensor:
    """``[...]`` bool: rotation block orthonormal with det +1 and last row (0, 0, 0, 1)."""
    r = t[..., :3, :3]
    eye = torch.eye(3, dtype=t.dtype, device=t.device)
    ortho = (r @ r.transpose(-1, -2) - eye).abs().amax(dim=(-1, -2)) < atol
    det = (torch.linalg.det(r) - 1).abs() < atol
    last = (t[..., 3, :] - torch.tensor([0, 0, 0, 1], dtype=t.dtype, device=t.device)).abs().amax(-1) < atol
    return ortho & det & last
