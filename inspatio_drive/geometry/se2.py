"""SE(2) pose arithmetic on ``(x, y, heading)`` arrays, float64 numpy, any leading batch shape.

Semantics match navsim's ``convert_absolute_to_relative_se2_array`` (subtract the origin, rotate by
−heading, wrap the heading to [−π, π)) and nuplan's ``relative_to_absolute_poses`` (SE(2) product).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def wrap_angle(angle: ArrayLike) -> NDArray[np.float64]:
    """Wrap angles (rad) to [−π, π)."""
    a = np.asarray(angle, dtype=np.float64)
    return (a + np.pi) % (2.0 * np.pi) - np.pi


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


def se2_to_matrix(poses: ArrayLike) -> NDArray[np.float64]:
    """``[..., 3]`` (x, y, heading) → ``[..., 4, 4]`` SE(3) matrices with planar motion (z = 0)."""
    p = np.asarray(poses, dtype=np.float64)
    m = np.zeros((*p.shape[:-1], 4, 4))
    c, s = np.cos(p[..., 2]), np.sin(p[..., 2])
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, -s, s, c
    m[..., 2, 2] = m[..., 3, 3] = 1.0
    m[..., 0, 3], m[..., 1, 3] = p[..., 0], p[..., 1]
    return m
