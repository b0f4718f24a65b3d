"""Comfort checks of the NAVSIM v1.1 PDM score (nuPlan's ego comfort metrics on simulated states).

Derivatives are Savitzky-Golay filters over the ``T`` simulated states (0.1 s apart), with navsim's window
lengths, polynomial orders, 8-decimal rounding and strict bounds. The six checks, in navsim's order:
``lon_acc, lat_acc, jerk, lon_jerk, yaw_acc, yaw_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import get_lapack_funcs, lstsq
from scipy.linalg.lapack import _compute_lwork
from scipy.ndimage import convolve1d
from scipy.signal import savgol_coeffs

from inspatio_drive.pdm.types import StateIndex

__all__ = ["COMFORT_CHECKS", "ComfortThresholds", "checks_from_signals", "comfort_bounds", "comfort_checks", "comfort_ratio",
           "comfort_signals"]

COMFORT_CHECKS = ("lon_acc", "lat_acc", "jerk", "lon_jerk", "yaw_acc", "yaw_rate")


@dataclass(frozen=True)
class ComfortThresholds:
    """Bounds (exclusive) of nuPlan's comfort metrics, SI units."""

    min_lon_accel: float = -4.05  # m/s²
    max_lon_accel: float = 2.40  # m/s²
    max_abs_lat_accel: float = 4.89  # m/s²
    max_abs_mag_jerk: float = 8.37  # m/s³
    max_abs_lon_jerk: float = 4.13  # m/s³
    max_abs_yaw_accel: float = 1.93  # rad/s²
    max_abs_yaw_rate: float = 0.95  # rad/s


@lru_cache(maxsize=64)
def _savgol_plan(
    window: int, poly: int, deriv: float, delta: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Data-independent parts of scipy's ``savgol_filter(mode="interp")`` for one setting, computed once:
    convolution coefficients ``[W]``, scaled Vandermonde matrix of the edge fit ``[W, poly + 1]``, its column
    scales ``[poly + 1]`` and the edge sample positions ``[W // 2, 1]``."""
    coeffs = savgol_coeffs(window, poly, deriv=deriv, delta=delta)
    x = np.arange(0, window, dtype=np.float64)
    powers = np.flip(np.arange(poly + 1, dtype=np.float64))
    lhs = x[:, None] ** powers[None, :]
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))
    lhs /= scale
    positions = np.arange(0, window // 2, dtype=np.float64).reshape(-1, 1)
    return coeffs, lhs, scale, positions


@lru_cache(maxsize=256)
def _gelsd_workspace(m: int, n: int, nrhs: int, cond: float) -> tuple[int, int]:
    """LAPACK ``dgelsd`` workspace sizes, as ``scipy.linalg.lstsq`` computes them."""

    (lwork_query,) = get_lapack_funcs(("gelsd_lwork",), (np.zeros((1, 1)),))
    lwork, iwork = _compute_lwork(lwork_query, m, n, nrhs, cond)
    return int(lwork), int(iwork)


def _lstsq(a: NDArray[np.float64], b: NDArray[np.float64], cond: float) -> NDArray[np.float64]:
    """``scipy.linalg.lstsq(a, b, cond=cond)[0]`` (driver gelsd) for ``a [M, N]`` (M ≥ N), ``b [M, K]`` float64:
    the same LAPACK call with the same workspace, without scipy's per-call checks and workspace query.
    Non-finite input goes through scipy itself (which raises)."""
    m, n = a.shape
    if m < n or not np.isfinite(b).all():
        return lstsq(a, b, cond=cond)[0]
    try:
        lwork, iwork = _gelsd_workspace(m, n, b.shape[1], cond)
    except ImportError:  # scipy without the private helper: its public path, same numbers
        return lstsq(a, b, cond=cond)[0]
    (gelsd,) = get_lapack_funcs(("gelsd",), (a, b))
    x, _, _, info = gelsd(a, b, lwork, iwork, cond, False, False)
    if info != 0:
        return lstsq(a, b, cond=cond)[0]
    return x[:n]


def savgol(
    values: NDArray[np.float64], window: int, poly: int, deriv: int = 0, delta: float = 1.0
) -> NDArray[np.float64]:
    """``scipy.signal.savgol_filter(values, window, poly, deriv, delta, axis=-1, mode="interp")`` for ``[..., T]``
    float64 values: the same arithmetic step by step (bit-identical, tested against scipy), with the
    data-independent parts (filter coefficients, edge-fit Vandermonde matrix) computed once per setting."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:  # scipy fits every 1-D slice as one column, like the rows of [-1, T]
        if values.ndim == 0:
            raise ValueError(f"savgol: expected [..., T >= {window}] values, got a scalar")
        return savgol(values.reshape(-1, values.shape[-1]), window, poly, deriv, delta).reshape(values.shape)
    x = np.ascontiguousarray(values)
    n = x.shape[-1]
    if window > n:
        raise ValueError(f"savgol: expected [..., T >= {window}] values, got {x.shape}")
    coeffs, lhs, scale, positions = _savgol_plan(window, poly, deriv, delta)
    y = convolve1d(x, coeffs, axis=-1, mode="constant")
    half = window // 2
    # left edge: fit on the first `window` samples, evaluate at 0…half-1; right edge: fit on the last
    # `window` samples, evaluate at window-half…window-1 (scipy's _fit_edges_polyfit)
    for side, start, at in ((0, 0, positions), (1, n - window, positions + (window - half))):
        c = _lstsq(lhs, x[:, start : start + window].T, window * np.finfo(np.float64).eps)
        c = (c.T / scale).T
        if deriv > 0:
            m = c.shape[0]
            if m <= deriv:
                c = np.zeros_like(c[:1])
            else:
                c = c[:-deriv].copy()
                for k in range(deriv):
                    c *= np.arange(m - k - 1, deriv - k - 1, -1, dtype=np.float64).reshape(m - deriv, 1)
        v = np.zeros_like(at)
        for j in range(c.shape[0]):
            v = v * at + c[j]
        v = v / (delta**deriv)
        if side == 0:
            y[:, :half] = v.T
        else:
            y[:, n - half :] = v.T
    return y


def _smooth(values: NDArray[np.float64], window: int, poly: int) -> NDArray[np.float64]:
    """Savitzky-Golay smoothing along the last axis, rounded to 8 decimals."""
    return np.round(savgol(values, min(window, values.shape[-1]), poly), 8)


def _derivative(
    values: NDArray[np.float64], dt: float, window: int, poly: int, order: int
) -> NDArray[np.float64]:
    """Savitzky-Golay ``order``-th derivative along the last axis (sample spacing ``dt``), rounded to 8 decimals."""
    return np.round(savgol(values, min(window, values.shape[-1]), poly, order, dt), 8)


def _unwrap(headings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Phase-unwrap headings along the last axis (nuPlan ``_phase_unwrap``: steps rounded to 2π multiples)."""
    two_pi = 2.0 * np.pi
    adjust = np.zeros_like(headings)
    adjust[..., 1:] = np.cumsum(np.round(np.diff(headings, axis=-1) / two_pi), axis=-1)
    return headings - two_pi * adjust


def _within(values: NDArray[np.float64], low: float, high: float) -> NDArray[np.bool_]:
    return np.all((values > low) & (values < high), axis=-1)


def comfort_signals(states: NDArray[np.float64], step_s: float = 0.1) -> dict[str, NDArray[np.float64]]:
    """The six filtered comfort signals of simulated states, navsim's arithmetic (windows, orders, rounding).

    Args:
        states: ``[B, T, 11]`` simulated ego states (:class:`~inspatio_drive.pdm.types.StateIndex`), ``step_s`` apart.
        step_s: time between states (s).

    Returns:
        ``{name: [B, T]}`` for the names of :data:`COMFORT_CHECKS` (m/s², m/s³, rad/s², rad/s).
    """
    s = np.asarray(states, dtype=np.float64)
    n_time = s.shape[1]
    times = np.arange(n_time, dtype=np.float64) * step_s
    dt = float(np.diff(times).mean())
    ax = s[..., StateIndex.ACCELERATION_X]
    ay = s[..., StateIndex.ACCELERATION_Y]
    heading = _unwrap(s[..., StateIndex.HEADING])
    # one filter call per signal: scipy's least-squares edge fit is not bit-stable under stacking more rows
    return {
        "lon_acc": _smooth(ax, n_time, 2),
        "lat_acc": _smooth(ay, n_time, 2),
        # jerks: accelerations smoothed with navsim's default window 8, derivative window = all states
        "jerk": _derivative(_smooth(np.hypot(ax, ay), 8, 2), dt, n_time, 2, 1),
        "lon_jerk": _derivative(_smooth(ax, 8, 2), dt, n_time, 2, 1),
        # yaw derivatives: navsim ends up with the derivative helper's default window of 5 here
        "yaw_acc": _derivative(heading, dt, 5, 3, 2),
        "yaw_rate": _derivative(heading, dt, 5, 2, 1),
    }


def comfort_bounds(limits: ComfortThresholds) -> dict[str, tuple[float, float]]:
    """Exclusive ``(low, high)`` bounds per check name."""
    return {
        "lon_acc": (limits.min_lon_accel, limits.max_lon_accel),
        "lat_acc": (-limits.max_abs_lat_accel, limits.max_abs_lat_accel),
        "jerk": (-limits.max_abs_mag_jerk, limits.max_abs_mag_jerk),
        "lon_jerk": (-limits.max_abs_lon_jerk, limits.max_abs_lon_jerk),
        "yaw_acc": (-limits.max_abs_yaw_accel, limits.max_abs_yaw_accel),
        "yaw_rate": (-limits.max_abs_yaw_rate, limits.max_abs_yaw_rate),
    }


def comfort_checks(
    states: NDArray[np.float64], step_s: float = 0.1, limits: ComfortThresholds = ComfortThresholds()
) -> NDArray[np.bool_]:
    """Evaluate the six comfort checks.

    Args:
        states: ``[B, T, 11]`` simulated ego states (:class:`~inspatio_drive.pdm.types.StateIndex`), ``step_s`` apart.
        step_s: time between states (s).
        limits: the bounds.

    Returns:
        ``[B, 6]`` bool, True = within bounds, columns :data:`COMFORT_CHECKS`.
    """
    return checks_from_signals(comfort_signals(states, step_s), limits)


def checks_from_signals(
    signals: dict[str, NDArray[np.float64]], limits: ComfortThresholds = ComfortThresholds()
) -> NDArray[np.bool_]:
    """``[B, 6]`` bool checks (columns :data:`COMFORT_CHECKS`) of signals from :func:`comfort_signals`."""
    bounds = comfort_bounds(limits)
    return np.stack([_within(signals[name], *bounds[name]) for name in COMFORT_CHECKS], axis=-1)


def comfort_ratio(
    signals: dict[str, NDArray[np.float64]], limits: ComfortThresholds = ComfortThresholds()
) -> NDArray[np.float64]:
    """``[B]`` largest signal / bound over the six checks and all times (each value divided by the bound on its
    side: ``< 1`` ⇔ every check of :func:`comfort_checks` passes, up to the rounding of that division for a value
    within an ulp of its bound; navsim's bounds are exclusive). ``signals`` as returned by :func:`comfort_signals`."""
    bounds = comfort_bounds(limits)
    worst = []
    for name in COMFORT_CHECKS:
        v = signals[name]
        low, high = bounds[name]
        worst.append(np.where(v >= 0, v / high, v / low).max(axis=-1))
    return np.max(np.stack(worst, axis=-1), axis=-1)
