"""SE(2) pose arithmetic on ``(x, y, heading)`` arrays, float64 numpy, any leading batch shape.

The one home of the project's SE(2) helpers. Semantics match navsim's ``convert_absolute_to_relative_se2_array``
(subtract the origin, rotate by −heading, wrap the heading to [−π, π)) and nuplan's ``relative_to_absolute_poses``
(SE(2) product). Two variants keep another library's exact floating-point operation order where results must
match it bit for bit: :func:`absolute_to_relative_se2_navsim` (navsim's data loading) and
:func:`local_to_global_se2` (the PDM simulation). Angle wraps: :func:`principal_value` / :func:`wrap_angle`
(modulo, nuplan) and :func:`normalize_angle` (``atan2(sin, cos)``, navsim).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def principal_value(angle: ArrayLike, min_: float = -np.pi) -> NDArray[np.float64]:
    """Wrap angles (rad) into ``[min_, min_ + 2π)`` (nuplan ``principal_value``)."""
    a = np.asarray(angle, dtype=np.float64)
    return (a - min_) % (2 * np.pi) + min_


def wrap_angle(angle: ArrayLike) -> NDArray[np.float64]:
    """Wrap angles (rad) to [−π, π) (bit for bit ``(a + π) % 2π − π``)."""
    return principal_value(angle)


def normalize_angle(angle: ArrayLike) -> NDArray[np.float64]:
    """Wrap angles into ``[-π, π]`` via ``atan2(sin, cos)`` (navsim ``normalize_angle``)."""
    a = np.asarray(angle, dtype=np.float64)
    return np.arctan2(np.sin(a), np.cos(a))


def absolute_to_relative_se2(origin: ArrayLike, poses: ArrayLike) -> NDArray[np.float64]:
    """Express global poses in the local frame of ``origin``.

    Args:
        origin: ``[3]`` (x, y, heading) of the new frame, in the same frame as ``poses``.
        poses: ``[..., 3]`` poses.

    Returns:
        ``[..., 3]`` poses relative to ``origin``; heading wrapped to [−π, π).
    """
    o = np.asarray(origin, dtype=np.float64)
    p = np.asarray(poses, dtype=np.float64)
    if o.shape != (3,) or p.shape[-1:] != (3,):
        raise ValueError(f"expected origin [3] and poses [..., 3], got {o.shape} and {p.shape}")
    c, s = np.cos(o[2]), np.sin(o[2])
    dx, dy = p[..., 0] - o[0], p[..., 1] - o[1]
    out = np.empty_like(p)
    out[..., 0] = c * dx + s * dy
    out[..., 1] = -s * dx + c * dy
    out[..., 2] = wrap_angle(p[..., 2] - o[2])
    return out


def absolute_to_relative_se2_navsim(origin: NDArray[np.float64], poses: NDArray[np.float64]) -> NDArray[np.float64]:
    """Global ``[N, 3]`` (x, y, heading) → frame of ``origin`` ``[3]``, with the exact floating-point
    operation order of navsim's ``convert_absolute_to_relative_se2_array`` (``(p - o)[:2] @ R(−ψ).T``,
    heading wrapped with ``arctan2(sin, cos)``), so results match navsim bit for bit."""
    origin = np.asarray(origin, dtype=np.float64)
    theta = -origin[2]
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    rel = np.asarray(poses, dtype=np.float64) - origin[None, :]
    rel[..., :2] = rel[..., :2] @ rot.T
    rel[:, 2] = normalize_angle(rel[:, 2])
    return rel


def relative_to_absolute_se2(origin: ArrayLike, poses: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`absolute_to_relative_se2` (heading not wrapped, like nuplan)."""
    o = np.asarray(origin, dtype=np.float64)
    p = np.asarray(poses, dtype=np.float64)
    if o.shape != (3,) or p.shape[-1:] != (3,):
        raise ValueError(f"expected origin [3] and poses [..., 3], got {o.shape} and {p.shape}")
    c, s = np.cos(o[2]), np.sin(o[2])
    out = np.empty_like(p)
    out[..., 0] = o[0] + c * p[..., 0] - s * p[..., 1]
    out[..., 1] = o[1] + s * p[..., 0] + c * p[..., 1]
    out[..., 2] = o[2] + p[..., 2]
    return out


def local_to_global_se2(origin: ArrayLike, poses: ArrayLike) -> NDArray[np.float64]:
    """Compose SE(2) poses given in the frame of ``origin`` into the global frame, in the PDM simulation's
    operation order (nuplan's matrix product: heading = ``atan2`` of the composed rotation, in ``(-π, π]``).

    Args:
        origin: ``[3]`` global (x, y, heading) of the reference frame (the rear axle at t0).
        poses: ``[..., 3]`` (x, y, heading) in that frame (x forward, y left).

    Returns:
        ``[..., 3]`` global poses.
    """
    o = np.asarray(origin, dtype=np.float64)
    p = np.asarray(poses, dtype=np.float64)
    co, so = np.cos(o[2]), np.sin(o[2])
    cp, sp = np.cos(p[..., 2]), np.sin(p[..., 2])
    out = np.empty(p.shape, dtype=np.float64)
    out[..., 0] = co * p[..., 0] - so * p[..., 1] + o[0]
    out[..., 1] = so * p[..., 0] + co * p[..., 1] + o[1]
    out[..., 2] = np.arctan2(so * cp + co * sp, co * cp - so * sp)
    return out


def se2_to_matrix(poses: ArrayLike) -> NDArray[np.float64]:
    """``[..., 3]`` (x, y, heading) → ``[..., 4, 4]`` SE(3) matrices with planar motion (z = 0)."""
    p = np.asarray(poses, dtype=np.float64)
    m = np.zeros((*p.shape[:-1], 4, 4))
    c, s = np.cos(p[..., 2]), np.sin(p[..., 2])
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    m[..., 2, 2] = m[..., 3, 3] = 1.0
    m[..., 0, 3], m[..., 1, 3] = p[..., 0], p[..., 1]
    return m
