"""Interpolation of 2 Hz poses to any frame rate.

Positions: an *interpolating* cubic spline (``scipy.interpolate.CubicSpline``, not-a-knot ends)
that passes exactly through every given pose — unlike InSpatio's ``UnivariateSpline`` with the
default smoothing factor, which misses its keyframes. Rotations: spherical linear interpolation
(``scipy.spatial.transform.Slerp``); for planar poses this is linear interpolation of the unwrapped
heading. The current pose (t = 0, identity / (0, 0, 0)) is prepended by the trajectory helpers,
so frame 0 is always exactly the current pose.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline, interp1d
from scipy.spatial.transform import Rotation, Slerp

from inspatio_drive.geometry.se2 import wrap_angle


def _check_times(times: NDArray[np.float64], query: NDArray[np.float64]) -> None:
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"key times must be 1-D, strictly increasing, >= 2 entries; got {times}")
    if query.min() < times[0] - 1e-9 or query.max() > times[-1] + 1e-9:
        raise ValueError(
            f"query times [{query.min()}, {query.max()}] outside key range [{times[0]}, {times[-1]}]"
        )


def _position_spline(times: NDArray[np.float64], values: NDArray[np.float64], query: NDArray[np.float64]):
    """Interpolating spline along axis 0 (cubic with >= 3 keys, linear with 2)."""
    if len(times) >= 3:
        return CubicSpline(times, values, axis=0, bc_type="not-a-knot")(query)
    return interp1d(times, values, axis=0)(query)


def interpolate_se2(times: ArrayLike, poses: ArrayLike, query_times: ArrayLike) -> NDArray[np.float64]:
    """Interpolate planar poses.

    Args:
        times: ``[T]`` strictly increasing key times (s).
        poses: ``[..., T, 3]`` (x, y, heading) at ``times``.
        query_times: ``[N]`` times within ``[times[0], times[-1]]``.

    Returns:
        float64 ``[..., N, 3]``; exactly the key poses at key times (heading wrapped to [−π, π)).
    """
    t = np.asarray(times, dtype=np.float64)
    q = np.atleast_1d(np.asarray(query_times, dtype=np.float64))
    p = np.asarray(poses, dtype=np.float64)
    if p.shape[-1] != 3 or p.shape[-2] != len(t):
        raise ValueError(f"poses must be [..., {len(t)}, 3] to match times, got {p.shape}")
    _check_times(t, q)
    moved = np.moveaxis(p, -2, 0)  # [T, ..., 3]
    xy = _position_spline(t, moved[..., :2], q)
    heading = np.unwrap(moved[..., 2], axis=0)
    h = interp1d(t, heading, axis=0)(q)  # SLERP about a fixed axis == linear in angle
    out = np.concatenate([xy, wrap_angle(h)[..., None]], axis=-1)
    return np.moveaxis(out, 0, -2)


def interpolate_trajectory(
    trajectory: ArrayLike, fps: float, interval: float = 0.5, include_current: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Resample a NAVSIM trajectory (poses at ``interval``, 2·interval, …) to ``fps`` frames per second.

    Args:
        trajectory: ``[..., T, 3]`` (x, y, heading) at t = interval … T·interval in the current rear-axle
            frame; the current pose (0, 0, 0) at t = 0 is prepended as a key.
        fps: output frame rate (Hz).
        interval: key spacing (s), 0.5 in NAVSIM.
        include_current: keep the t = 0 frame in the output.

    Returns:
        ``(times [N], poses [..., N, 3])`` with ``times = 0, 1/fps, …`` up to the last key time.
    """
    p = np.asarray(trajectory, dtype=np.float64)
    n_keys = p.shape[-2]
    key_times = np.arange(n_keys + 1) * interval
    zero = np.zeros((*p.shape[:-2], 1, 3))
    keys = np.concatenate([zero, p], axis=-2)
    n_out = int(np.floor(key_times[-1] * fps + 1e-9)) + 1
    query = np.arange(n_out) / fps
    if not include_current:
        query = query[1:]
    return query, interpolate_se2(key_times, keys, query)


def interpolate_se3(times: ArrayLike, poses: ArrayLike, query_times: ArrayLike) -> NDArray[np.float64]:
    """Interpolate rigid transforms: spline through the translations, SLERP between rotations.

    Args:
        times: ``[T]`` strictly increasing key times.
        poses: ``[T, 4, 4]`` rigid transforms (e.g. c2w) at ``times``.
        query_times: ``[N]`` within the key range.

    Returns:
        float64 ``[N, 4, 4]``.
    """
    t = np.asarray(times, dtype=np.float64)
    q = np.atleast_1d(np.asarray(query_times, dtype=np.float64))
    m = np.asarray(poses, dtype=np.float64)
    if m.shape != (len(t), 4, 4):
        raise ValueError(f"poses must be [{len(t)}, 4, 4] to match times, got {m.shape}")
    _check_times(t, q)
    out = np.zeros((len(q), 4, 4))
    out[:, :3, :3] = Slerp(t, Rotation.from_matrix(m[:, :3, :3]))(np.clip(q, t[0], t[-1])).as_matrix()
    out[:, :3, 3] = _position_spline(t, m[:, :3, 3], q)
    out[:, 3, 3] = 1.0
    return out
