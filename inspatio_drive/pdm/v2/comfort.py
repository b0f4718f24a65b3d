"""History comfort (HC) input and two-frame extended comfort (EC) of NAVSIM v2 (EPDMS).

* HC = v1.1's six comfort checks (:func:`~inspatio_drive.pdm.comfort.comfort_checks`) on the 41 simulated states
  prefixed with the human's past, sampled from the history frames at t = −1.5 … −0.2 s (navsim
  ``arange(start, end, 0.1 s)[:-1]``: 14 states, −0.1 s is missing), all treated as 0.1 s apart.
* EC (navsim ``ego_is_two_frame_extended_comfort``): per feature (acceleration magnitude, jerk, yaw rate, yaw
  acceleration) the RMS over time of the difference between the current plan's simulated states ``[:-overlap]``
  and the previous frame's ``[overlap:]`` (overlap = round(Δt / 0.1 s) = 5); EC = 1 iff every RMS ≤ its
  threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.pdm.comfort import ComfortThresholds, checks_from_signals, savgol
from inspatio_drive.pdm.simulation import interpolate_states
from inspatio_drive.pdm.types import StateIndex

__all__ = [
    "EC_FEATURES",
    "ExtendedComfortThresholds",
    "extended_comfort",
    "history_comfort_checks",
    "history_comfort_signals",
    "history_states",
]

S = StateIndex
EC_FEATURES = ("acceleration", "jerk", "yaw_rate", "yaw_accel")
MAX_INTERVAL_S = 0.55
_COMFORT = ComfortThresholds()


@dataclass(frozen=True)
class ExtendedComfortThresholds:
    """Upper bounds (inclusive) of the RMS differences (navsim ``CM:35-39``)."""

    acceleration: float = 0.7  # m/s²
    jerk: float = 0.5  # m/s³
    yaw_rate: float = 0.1  # rad/s
    yaw_accel: float = 0.1  # rad/s²


def history_states(past_time_us: ArrayLike, past_states: ArrayLike, step_us: int = 100_000) -> NDArray[np.float64]:
    """``[H', 11]`` human past states at ``arange(start, end, step)[:-1]`` (navsim ``_calculate_history_comfort``)."""
    t = np.asarray(past_time_us, dtype=np.int64)
    q = np.arange(t[0], t[-1], step_us, dtype=np.int64)
    q = np.clip(q, t[0], t[-1])[:-1]
    return interpolate_states(t, np.asarray(past_states, dtype=np.float64)[None], q)[0]


def _unwrap(heading: NDArray[np.float64]) -> NDArray[np.float64]:
    """nuPlan ``_phase_unwrap`` along the last axis (steps rounded to multiples of 2π)."""
    two_pi = 2.0 * np.pi
    adjust = np.zeros_like(heading)
    adjust[..., 1:] = np.cumsum(np.round(np.diff(heading, axis=-1) / two_pi), axis=-1)
    return heading - two_pi * adjust


def history_comfort_signals(
    states: ArrayLike, step_s: float = 0.1, vehicle: VehicleParameters = PACIFICA
) -> dict[str, NDArray[np.float64]]:
    """The six comfort signals of navsim v2.2's ``ego_is_comfortable`` (``[B, T]`` each).

    Differs from v1.1 (:func:`~inspatio_drive.pdm.comfort.comfort_signals`): longitudinal / lateral accelerations
    are those of the box centre (navsim ``get_acceleration_shifted``: ``a_x + d·ω² + d·α`` with d the rear-axle
    to centre distance, ``a_y`` unchanged), smoothed with window 8; jerks use window 15; yaw rate / acceleration
    window 5 (all windows capped at T).
    """
    s = np.asarray(states, dtype=np.float64)
    n = s.shape[1]
    dt = float(np.diff(np.arange(n, dtype=np.float64) * step_s).mean())
    d = vehicle.rear_axle_to_center
    omega, alpha = s[..., S.ANGULAR_VELOCITY], s[..., S.ANGULAR_ACCELERATION]
    ax, ay = s[..., S.ACCELERATION_X], s[..., S.ACCELERATION_Y]
    lon = ax + d * omega**2 + d * alpha
    lat = ay + 0.0 * omega**2 + 0.0 * alpha

    def smooth(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.round(savgol(v, min(8, n), 2), 8)

    heading = _unwrap(s[..., S.HEADING])
    return {
        "lon_acc": smooth(lon),
        "lat_acc": smooth(lat),
        "jerk": np.round(savgol(smooth(np.hypot(ax, ay)), min(15, n), 2, 1, dt), 8),
        "lon_jerk": np.round(savgol(smooth(lon), min(15, n), 2, 1, dt), 8),
        "yaw_acc": np.round(savgol(heading, min(5, n), 3, 2, dt), 8),
        "yaw_rate": np.round(savgol(heading, min(5, n), 2, 1, dt), 8),
    }


def history_comfort_checks(
    states: ArrayLike,
    step_s: float = 0.1,
    limits: ComfortThresholds = _COMFORT,
    vehicle: VehicleParameters = PACIFICA,
) -> NDArray[np.bool_]:
    """``[B, 6]`` navsim v2.2 comfort checks (columns ``COMFORT_CHECKS``) of ``[B, T, 11]`` states ``step_s`` apart."""
    return checks_from_signals(history_comfort_signals(states, step_s, vehicle), limits)


def _features(states: NDArray[np.float64], dt: float) -> dict[str, NDArray[np.float64]]:
    """navsim ``extract_features`` of ``[B, T, 11]`` states (rear-axle acceleration magnitude)."""
    n = states.shape[1]
    acc = np.round(savgol(np.hypot(states[..., S.ACCELERATION_X], states[..., S.ACCELERATION_Y]), min(8, n), 2), 8)
    heading = _unwrap(states[..., S.HEADING])
    return {
        "acceleration": acc,
        "jerk": np.round(savgol(acc, min(15, n), 2, 1, dt), 8),
        "yaw_rate": np.round(savgol(heading, min(5, n), 2, 1, dt), 8),
        "yaw_accel": np.round(savgol(heading, min(5, n), 2, 2, dt), 8),
    }


def extended_comfort(
    current: ArrayLike,
    previous: ArrayLike,
    interval_s: float,
    step_s: float = 0.1,
    thresholds: ExtendedComfortThresholds = ExtendedComfortThresholds(),
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """EC of simulated plans at two consecutive frames.

    Args:
        current: ``[K, T, 11]`` simulated states of the plans at the current frame (global).
        previous: ``[K, T, 11]`` (or ``[T, 11]``, broadcast) simulated states of the plans at the frame
            ``interval_s`` earlier.
        interval_s: current time − previous time (s), in (0, 0.55).

    Returns:
        ``ec [K]`` (1.0 / 0.0) and ``rms [K, 4]`` (columns :data:`EC_FEATURES`).
    """
    cur = np.asarray(current, dtype=np.float64)
    prev = np.asarray(previous, dtype=np.float64)
    if prev.ndim == 2:
        prev = np.broadcast_to(prev[None], cur.shape)
    if cur.shape != prev.shape or cur.ndim != 3:
        raise ValueError(f"extended_comfort: current {cur.shape} and previous {prev.shape} must both be [K, T, 11]")
    if not 0.0 < interval_s < MAX_INTERVAL_S:
        raise ValueError(f"extended_comfort: frames {interval_s:.3f} s apart, expected 0 < Δt < {MAX_INTERVAL_S} s")
    overlap = round(interval_s / step_s)
    a, b = cur[:, :-overlap], prev[:, overlap:]
    fa, fb = _features(a, step_s), _features(b, step_s)
    rms = np.stack([np.sqrt(np.mean((fa[k] - fb[k]) ** 2, axis=1)) for k in EC_FEATURES], axis=-1)
    limits = np.array([getattr(thresholds, k) for k in EC_FEATURES])
    return np.all(rms <= limits, axis=-1).astype(np.float64), rms
