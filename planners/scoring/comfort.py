"""Honest comfort of a planner's own candidates: navsim's comfort checks on the candidates' simulated motion.

NAVSIM's comfort sub-score (v1.1) depends only on the ego's simulated states: each candidate is tracked
by the LQR controller on the kinematic bicycle from the current ego state, and the six Savitzky-Golay
filtered signals (longitudinal / lateral acceleration, jerk magnitude, longitudinal jerk, yaw acceleration,
yaw rate) must stay inside nuPlan's bounds. Everything that enters is in the agent input: the candidate
poses and the current ego status (velocity and acceleration in the ego frame; navsim sets the steering and
yaw terms of the initial state to zero). Simulating in the current rear-axle frame instead of the global one
changes the states only by rounding, so this is navsim's comfort as the agent can compute it — no
privileged information.

Frames and units: poses ``[K, T, 3]`` (x, y m; heading rad) in the current rear-axle frame (x forward,
y left), ``interval_s`` apart starting ``interval_s`` after now; velocity m/s and acceleration m/s², ego frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.pdm.comfort import ComfortThresholds, checks_from_signals, comfort_ratio, comfort_signals
from inspatio_drive.pdm.simulation import candidate_states, simulate
from inspatio_drive.pdm.types import STATE_SIZE, StateIndex

__all__ = ["SimulatedComfort", "simulated_comfort"]


@dataclass
class SimulatedComfort:
    """Comfort of ``K`` candidates.

    Attributes:
        ratio: ``[K]`` largest signal / bound over the six checks and 41 states (``< 1`` = comfortable).
        checks: ``[K, 6]`` bool, navsim's checks (columns :data:`~inspatio_drive.pdm.comfort.COMFORT_CHECKS`).
        states: ``[K, 41, 11]`` simulated ego states in the current rear-axle frame (0.1 s apart).
    """

    ratio: NDArray[np.float64]
    checks: NDArray[np.bool_]
    states: NDArray[np.float64]

    @property
    def comfortable(self) -> NDArray[np.bool_]:
        """``[K]`` every check passes (navsim's comfort sub-score = 1)."""
        return self.checks.all(axis=-1)


def simulated_comfort(
    poses: ArrayLike,
    ego_velocity: ArrayLike,
    ego_acceleration: ArrayLike,
    interval_s: float = 0.5,
    limits: ComfortThresholds | None = None,
) -> SimulatedComfort:
    """Simulate every candidate from the current ego status and evaluate navsim's comfort on it.

    Args:
        poses: ``[K, T, 3]`` candidate poses (current rear-axle frame), ``interval_s`` apart.
        ego_velocity: ``[2]`` (vx, vy) m/s, ego frame (navsim ``EgoStatus.ego_velocity``, float32 there).
        ego_acceleration: ``[2]`` (ax, ay) m/s², ego frame.
        interval_s: time between candidate poses (s).
        limits: comfort bounds (default: navsim's).

    Returns:
        :class:`SimulatedComfort` (ratio ``[K]``, checks ``[K, 6]``, states ``[K, 41, 11]``).
    """
    limits = limits or ComfortThresholds()
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or p.shape[0] == 0:
        raise ValueError(f"simulated_comfort: poses must be [K >= 1, T, 3] (x, y, heading), got {p.shape}")
    init = np.zeros(STATE_SIZE, dtype=np.float64)
    for name, value, col in (("ego_velocity", ego_velocity, StateIndex.VELOCITY_X),
                             ("ego_acceleration", ego_acceleration, StateIndex.ACCELERATION_X)):
        v = np.asarray(value, dtype=np.float32).reshape(-1)  # navsim stores the ego status as float32
        if v.shape[0] < 2 or not np.isfinite(v[:2]).all():
            raise ValueError(f"simulated_comfort: {name} must hold 2 finite values (x, y), got {value!r}")
        init[col : col + 2] = v[:2]
    reference = candidate_states(init, 0, p, pose_interval_s=interval_s)
    states = simulate(reference, init)
    signals = comfort_signals(states)
    return SimulatedComfort(
        ratio=comfort_ratio(signals, limits), checks=checks_from_signals(signals, limits), states=states
    )

