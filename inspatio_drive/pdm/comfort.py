"""Comfort checks of the NAVSIM v1.1 PDM score (nuPlan's ego comfort metrics on simulated states).

Derivatives are Savitzky-Golay filters over the ``T`` simulated states (0.1 s apart), with navsim's window
lengths, polynomial orders, 8-decimal rounding and strict bounds. The six checks, in navsim's order:
``lon_acc, lat_acc, jerk, lon_jerk, yaw_acc, yaw_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.signal import savgol_filter

from inspatio_drive.pdm.types import StateIndex

__all__ = ["COMFORT_CHECKS", "ComfortThresholds", "comfort_checks"]

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


def _smooth(values: NDArray[np.float64], window: int, poly: int) -> NDArray[np.float64]:
    """Savitzky-Golay smoothing along the last axis, rounded to 8 decimals."""
    return np.round(
        savgol_filter(values, window_length=min(window, values.shape[-1]), polyorder=poly, axis=-1), 8
    )


def _derivative(
    values: NDArray[np.float64], dt: float, window: int, poly: int, order: int
) -> NDArray[np.float64]:
    """Savitzky-Golay ``order``-th derivative along the last axis (sample spacing ``dt``), rounded to 8 decimals."""
    w = min(window, values.shape[-1])
    return np.round(savgol_filter(values, window_length=w, polyorder=poly, deriv=order, delta=dt, axis=-1), 8)


def _unwrap(headings: NDArray[np.float64]) -> NDArray[np.float64]:
    """Phase-unwrap headings along the last axis (nuPlan ``_phase_unwrap``: steps rounded to 2π multiples)."""
    two_pi = 2.0 * np.pi
    adjust = np.zeros_like(headings)
    adjust[..., 1:] = np.cumsum(np.round(np.diff(headings, axis=-1) / two_pi), axis=-1)
    return headings - two_pi * adjust


def _within(values: NDArray[np.float64], low: float, high: float) -> NDArray[np.bool_]:
    return np.all((values > low) & (values < high), axis=-1)


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
    s = np.asarray(states, dtype=np.float64)
    n_time = s.shape[1]
    times = np.arange(n_time, dtype=np.float64) * step_s
    dt = float(np.diff(times).mean())
    ax = s[..., StateIndex.ACCELERATION_X]
    ay = s[..., StateIndex.ACCELERATION_Y]
    heading = _unwrap(s[..., StateIndex.HEADING])

    # calls with equal filter settings share one batched scipy call (same numbers: scipy filters and fits
    # every 1-D slice independently; tested against the unbatched form)
    b = ax.shape[0]
    lon_acc, lat_acc = np.split(_smooth(np.concatenate([ax, ay]), n_time, 2), [b])
    # jerks: accelerations smoothed with navsim's default window 8, derivative window = all states
    smoothed = _smooth(np.concatenate([np.hypot(ax, ay), ax]), 8, 2)
    jerk, lon_jerk = np.split(_derivative(smoothed, dt, n_time, 2, 1), [b])
    # yaw derivatives: navsim ends up with the derivative helper's default window of 5 here
    yaw_acc = _derivative(heading, dt, 5, 3, 2)
    yaw_rate = _derivative(heading, dt, 5, 2, 1)

    out = np.stack(
        [
            _within(lon_acc, limits.min_lon_accel, limits.max_lon_accel),
            _within(lat_acc, -limits.max_abs_lat_accel, limits.max_abs_lat_accel),
            _within(jerk, -limits.max_abs_mag_jerk, limits.max_abs_mag_jerk),
            _within(lon_jerk, -limits.max_abs_lon_jerk, limits.max_abs_lon_jerk),
            _within(yaw_acc, -limits.max_abs_yaw_accel, limits.max_abs_yaw_accel),
            _within(yaw_rate, -limits.max_abs_yaw_rate, limits.max_abs_yaw_rate),
        ],
        axis=-1,
    )
    return out
