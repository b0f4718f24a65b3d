"""Candidate interpolation, batched LQR tracker and kinematic bicycle model of the NAVSIM v1.1 PDM score.

Every function works on a batch of ``B`` proposals at once (numpy float64); rows never interact, so scoring
``K`` candidates together with the PDM-Closed reference gives the same numbers as navsim's pairwise calls.

Conventions: ego state arrays ``[..., 11]`` in the layout of :class:`~inspatio_drive.pdm.types.StateIndex`
(global rear-axle pose, body-frame velocity / acceleration); time in integer microseconds where navsim uses
``TimePoint``; the simulation runs ``num_steps`` steps of ``step_s`` seconds (40 x 0.1 s) from the logged
initial state.

Semantics follow navsim v1.1 (``pdm_score.transform_trajectory`` / ``get_trajectory_as_array``,
``BatchLQRTracker``, ``BatchKinematicBicycleModel``, ``PDMSimulator``) and nuplan-devkit
(``InterpolatedTrajectory``, ``relative_to_absolute_poses``); the code is written from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.geometry.se2 import local_to_global_se2 as local_to_global_poses
from inspatio_drive.geometry.se2 import normalize_angle, principal_value
from inspatio_drive.pdm import simulation_numba
from inspatio_drive.pdm.simulation_numba import simulate_loop
from inspatio_drive.pdm.types import STATE_SIZE, StateIndex

__all__ = [
    "SIMULATION_BACKENDS",
    "BicycleConfig",
    "LQRConfig",
    "candidate_states",
    "interpolate_states",
    "local_to_global_poses",
    "principal_value",
    "simulate",
]

S = StateIndex
_LINEAR_COLUMNS = np.array(
    [S.X, S.Y, S.VELOCITY_X, S.VELOCITY_Y, S.ACCELERATION_X, S.ACCELERATION_Y, S.STEERING_ANGLE],
    dtype=np.int64,
)
"""Columns nuplan's ``EgoState.to_split_state`` interpolates linearly (heading is interpolated as an angle)."""


@dataclass(frozen=True)
class LQRConfig:
    """Gains and limits of navsim's ``BatchLQRTracker`` (defaults = navsim v1.1)."""

    q_longitudinal: float = 10.0
    r_longitudinal: float = 1.0
    q_lateral: tuple[float, float, float] = (1.0, 10.0, 0.0)
    r_lateral: float = 1.0
    discretization_time: float = 0.1
    tracking_horizon: int = 10
    jerk_penalty: float = 1e-4
    curvature_rate_penalty: float = 1e-2
    initial_curvature_penalty: float = 1e-10
    stopping_proportional_gain: float = 0.5
    stopping_velocity: float = 0.2


@dataclass(frozen=True)
class BicycleConfig:
    """Parameters of navsim's ``BatchKinematicBicycleModel`` (defaults = navsim v1.1)."""

    max_steering_angle: float = np.pi / 3
    accel_time_constant: float = 0.2
    steering_angle_time_constant: float = 0.05


# --------------------------------------------------------------------------------------------------------------
# interpolation (nuplan InterpolatedTrajectory)
# --------------------------------------------------------------------------------------------------------------


def _query_times_us(t0_us: int, num_steps: int, step_s: float) -> NDArray[np.int64]:
    """``[num_steps + 1]`` µs time stamps ``int((k·step + t0_s)·1e6)`` (navsim's float rounding kept)."""
    times_s = np.arange(0.0, num_steps * step_s + step_s, step_s)[: num_steps + 1] + t0_us * 1e-6
    return np.array([int(t * 1e6) for t in times_s], dtype=np.int64)


def interpolate_states(
    node_time_us: ArrayLike, node_states: ArrayLike, query_time_us: ArrayLike
) -> NDArray[np.float64]:
    """Interpolate ego states like nuplan's ``InterpolatedTrajectory.get_state_at_times``.

    x, y, velocities, accelerations and steering angle are interpolated linearly; the heading is unwrapped
    along the nodes, interpolated and wrapped with :func:`principal_value`; steering rate, yaw rate and yaw
    acceleration come out as 0 (nuplan rebuilds the ``EgoState`` without them). Query times are clipped to
    the node span.

    Args:
        node_time_us: ``[N]`` increasing node times (µs), shared by the batch.
        node_states: ``[B, N, 11]`` states at the nodes.
        query_time_us: ``[T]`` query times (µs).

    Returns:
        ``[B, T, 11]`` interpolated states.
    """
    xt = np.asarray(node_time_us, dtype=np.float64)
    ys = np.asarray(node_states, dtype=np.float64)
    if ys.ndim != 3 or ys.shape[1] != len(xt) or ys.shape[2] != STATE_SIZE:
        raise ValueError(f"node_states: expected [B, {len(xt)}, {STATE_SIZE}], got {ys.shape}")
    if len(xt) < 2 or np.any(np.diff(xt) <= 0):
        raise ValueError("node_time_us: need at least 2 strictly increasing node times")
    q = np.clip(np.asarray(query_time_us, dtype=np.int64), int(xt[0]), int(xt[-1])).astype(np.float64)
    hi = np.clip(np.searchsorted(xt, q, side="left"), 1, len(xt) - 1)
    lo = hi - 1
    w = (q - xt[lo])[None, :, None]
    span = (xt[hi] - xt[lo])[None, :, None]

    def lerp(values: NDArray[np.float64]) -> NDArray[np.float64]:
        slope = (values[:, hi] - values[:, lo]) / span
        return slope * w + values[:, lo]

    out = np.zeros((ys.shape[0], len(q), STATE_SIZE), dtype=np.float64)
    out[..., _LINEAR_COLUMNS] = lerp(ys[..., _LINEAR_COLUMNS])
    heading = np.unwrap(ys[..., S.HEADING], axis=1)[..., None]
    out[..., S.HEADING] = principal_value(lerp(heading)[..., 0])
    return out


def candidate_states(
    initial_state: ArrayLike,
    initial_time_us: int,
    poses_local: ArrayLike,
    pose_interval_s: float = 0.5,
    num_steps: int = 40,
    step_s: float = 0.1,
) -> NDArray[np.float64]:
    """Candidate poses → the simulator's reference states (navsim ``transform_trajectory`` + sampling).

    Args:
        initial_state: ``[11]`` logged ego state at t0 (global).
        initial_time_us: t0 (µs).
        poses_local: ``[K, P, 3]`` (x, y, heading) at t0 + pose_interval_s·(1…P) in the t0 rear-axle frame.
        pose_interval_s: time between candidate poses (s).
        num_steps: number of simulation steps (the result has ``num_steps + 1`` states).
        step_s: simulation step (s).

    Returns:
        ``[K, num_steps + 1, 11]`` global states at t0 + step_s·k (k = 0…num_steps), zero velocities except
        where interpolated from the initial state.
    """
    init = np.asarray(initial_state, dtype=np.float64).reshape(STATE_SIZE)
    poses = np.asarray(poses_local, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise ValueError(f"poses_local: expected [K, P, 3] (x, y, heading), got {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError("poses_local: contains NaN or infinite values")
    k, p, _ = poses.shape
    t0_s = int(initial_time_us) * 1e-6
    pose_times_s = np.arange(0.0, p * pose_interval_s, pose_interval_s)[:p] + pose_interval_s + t0_s
    node_us = np.array([int(initial_time_us)] + [int(t * 1e6) for t in pose_times_s], dtype=np.int64)
    nodes = np.zeros((k, p + 1, STATE_SIZE), dtype=np.float64)
    nodes[:, 0] = init
    nodes[:, 0, S.STEERING_RATE :] = 0.0
    nodes[:, 1:, : S.HEADING + 1] = local_to_global_poses(init[: S.HEADING + 1], poses)
    return interpolate_states(node_us, nodes, _query_times_us(initial_time_us, num_steps, step_s))


def reference_states(
    trajectory_time_us: ArrayLike,
    trajectory_states: ArrayLike,
    initial_time_us: int,
    num_steps: int = 40,
    step_s: float = 0.1,
) -> NDArray[np.float64]:
    """PDM-Closed trajectory of the metric cache → ``[num_steps + 1, 11]`` states at t0 + step_s·k."""
    states = np.asarray(trajectory_states, dtype=np.float64)[None]
    q = _query_times_us(initial_time_us, num_steps, step_s)
    return interpolate_states(trajectory_time_us, states, q)[0]


# --------------------------------------------------------------------------------------------------------------
# velocity / curvature profiles of the references (regularised least squares)
# --------------------------------------------------------------------------------------------------------------


def _batched_lstsq(
    a: NDArray[np.float64], y: NDArray[np.float64], reg: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``argmin ||y - a x||² + xᵀ reg x`` for ``a [B, m, n]``, ``y [B, m]``, ``reg [n, n]``.

    navsim multiplies by ``pinv`` of the normal matrix; the normal matrix is positive definite here,
    so an LU solve gives the same solution (|Δ| ~ 1e-13 on the golden scenes) several times faster. ``pinv``
    remains the fallback for a numerically singular batch.
    """
    at = np.swapaxes(a, 1, 2)
    normal = at @ a + reg
    rhs = at @ y[..., None]
    try:
        return np.linalg.solve(normal, rhs)[..., 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(normal) @ rhs)[..., 0]


def _integrate(initial: NDArray[np.float64], rates: NDArray[np.float64], dt: float) -> NDArray[np.float64]:
    """``[B]`` initial value + ``[B, M]`` rates → ``[B, M + 1]`` Euler-integrated profile."""
    steps = np.cumsum(rates * dt, axis=-1)
    return initial[:, None] + np.concatenate([np.zeros_like(steps[:, :1]), steps], axis=-1)


def velocity_curvature_profiles(
    poses: NDArray[np.float64], cfg: LQRConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit velocity and curvature profiles to reference poses.

    Args:
        poses: ``[B, N, 3]`` reference (x, y, heading) every ``cfg.discretization_time`` seconds.

    Returns:
        ``(velocity [B, N-1], curvature [B, N-1])``.
    """
    dt = cfg.discretization_time
    b, n, _ = poses.shape
    m = n - 1  # displacements
    diff = np.diff(poses, axis=1)
    dxy = diff[..., :2].reshape(b, 2 * m)  # [dx0, dy0, dx1, dy1, ...]
    dheading = normalize_angle(diff[..., 2])

    # 1. initial velocity + accelerations: displacement_i = dt·v0 + dt²·Σ_{j<i} a_j, along heading_i
    direction = np.empty((b, 2 * m), dtype=np.float64)
    direction[:, 0::2] = np.cos(poses[:, :-1, 2])
    direction[:, 1::2] = np.sin(poses[:, :-1, 2])
    a = np.repeat(direction[..., None] * dt**2, m, axis=2)
    a[..., 0] = direction * dt
    strict_upper = np.repeat(np.triu(np.ones((m, m), dtype=bool), k=1), 2, axis=0)
    a[:, strict_upper] = 0.0
    # Regulariser on the m - 1 accelerations exactly as navsim v1.1 builds its "banded difference matrix":
    # its second slice assignment overwrites the +1 super-diagonal, so every row but the last penalises an
    # acceleration itself (-a_i) and only the last row a difference (a_{m-2} - a_{m-3}). Reproduced on purpose.
    jerk = np.zeros((m - 2, m - 1), dtype=np.float64)
    idx = np.arange(m - 2)
    jerk[idx, idx] = -1.0
    jerk[m - 3, m - 2] = 1.0
    r = np.concatenate([np.zeros((m - 2, 1)), jerk], axis=1)
    sol = _batched_lstsq(a, dxy, cfg.jerk_penalty * (r.T @ r))
    velocity = _integrate(sol[:, 0], sol[:, 1:], dt)

    # 2. initial curvature + curvature rates: dheading_i = dt·v_i·κ0 + dt²·v_i·Σ_{j<i} κ'_j
    a2 = np.repeat(np.tri(m, dtype=np.float64)[None], b, axis=0)
    a2[:, :, 0] = velocity * dt
    a2[:, 1:, 1:] *= (velocity * dt**2)[:, 1:, None]
    reg = cfg.curvature_rate_penalty * np.eye(m)
    reg[0, 0] = cfg.initial_curvature_penalty
    sol2 = _batched_lstsq(a2, dheading, reg)
    curvature = _integrate(sol2[:, 0], sol2[:, 1:], dt)
    return velocity, curvature


# --------------------------------------------------------------------------------------------------------------
# LQR tracker
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _step_times(horizon: int, dt: float) -> NDArray[np.float64]:
    """``[H]`` times ``h·dt`` (read-only, cached)."""
    out = np.arange(horizon, dtype=np.float64) * dt
    out.flags.writeable = False
    return out


def _lateral_dynamics(
    velocity: NDArray[np.float64], curvature: NDArray[np.float64], dt: float, wheel_base: float
) -> tuple[NDArray[np.float64], ...]:
    """Compose the linearised lateral dynamics over the horizon: ``e_H = A e_0 + B u + g``.

    The per-step matrices are unit upper-triangular, ``[[1, v·dt, 0], [0, 1, v·dt/L], [0, 0, 1]]`` with input
    ``[0, 0, dt]`` and affine term ``[0, -v·κ·dt, 0]``, so the product keeps that form; its upper entries are
    sums over the horizon (exclusive cumulative sums where a step uses what earlier steps accumulated).

    Args:
        velocity, curvature: ``[B, H]`` linearisation profiles.

    Returns:
        ``(a01, a02, a12, b0, b1, b2, g0, g1)``, each ``[B]`` (``g2 = 0``), for the state
        (lateral error, heading error, steering angle).
    """
    bsz, horizon = velocity.shape
    s01 = velocity * dt
    s12 = s01 / wheel_base  # = velocity * dt / wheel_base, evaluated left to right
    affine = -velocity * curvature * dt
    total = np.add.reduce  # ndarray.sum without its Python wrapper (same reduction)

    def before(x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Exclusive cumulative sum along the horizon: value accumulated before each step."""
        out = np.empty_like(x)
        out[:, 0] = 0.0
        np.add.accumulate(x[:, :-1], axis=1, out=out[:, 1:])
        return out

    b1_steps = s12 * _step_times(horizon, dt)  # b2 before step h is h·dt
    a01, a12 = total(s01, axis=1), total(s12, axis=1)
    a02 = total(s01 * before(s12), axis=1)
    b0 = total(s01 * before(b1_steps), axis=1)
    b1 = total(b1_steps, axis=1)
    b2 = np.full(bsz, horizon * dt)
    g0 = total(s01 * before(affine), axis=1)
    g1 = total(affine, axis=1)
    return a01, a02, a12, b0, b1, b2, g0, g1


def track(
    states: NDArray[np.float64],
    ref_pose: NDArray[np.float64],
    v_ref: NDArray[np.float64],
    curvature: NDArray[np.float64],
    cfg: LQRConfig,
    wheel_base: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One tracker call (navsim ``BatchLQRTracker.track_trajectory``).

    Args:
        states: ``[B, 11]`` current ego states.
        ref_pose: ``[B, 3]`` reference pose at the current step.
        v_ref: ``[B]`` reference velocity ``tracking_horizon`` steps ahead (clamped to the profile end).
        curvature: ``[B, H]`` reference curvature over the horizon (padded with the last one).

    Returns:
        ``(acceleration [B], steering_rate [B])`` commands.
    """
    dt, horizon = cfg.discretization_time, cfg.tracking_horizon
    dx = states[:, S.X] - ref_pose[:, 0]
    dy = states[:, S.Y] - ref_pose[:, 1]
    href = ref_pose[:, 2]
    lat0 = -dx * np.sin(href) + dy * np.cos(href)
    lat1 = normalize_angle(states[:, S.HEADING] - href)
    lat2 = states[:, S.STEERING_ANGLE]
    v0 = states[:, S.VELOCITY_X]

    # stopping P-controller near standstill, LQR otherwise
    stop = (v_ref <= cfg.stopping_velocity) & (v0 <= cfg.stopping_velocity)
    gain_b = horizon * dt
    gain = -1.0 / (gain_b * cfg.q_longitudinal * gain_b + cfg.r_longitudinal) * gain_b * cfg.q_longitudinal
    v_error = v0 - v_ref
    accel = np.where(stop, -cfg.stopping_proportional_gain * v_error, gain * v_error)

    vel_lin = _integrate(v0, np.repeat(accel[:, None], horizon, axis=1), dt)[:, :horizon]
    a01, a02, a12, b0, b1, b2, g0, g1 = _lateral_dynamics(vel_lin, curvature, dt, wheel_base)
    err0 = lat0 + a01 * lat1 + a02 * lat2 + g0
    err1 = normalize_angle(lat1 + a12 * lat2 + g1)
    err2 = normalize_angle(lat2)
    q0, q1, q2 = cfg.q_lateral
    denom = q0 * b0 * b0 + q1 * b1 * b1 + q2 * b2 * b2 + cfg.r_lateral
    steer_rate = np.where(stop, 0.0, -1.0 / denom * (q0 * b0 * err0 + q1 * b1 * err1 + q2 * b2 * err2))
    return accel, steer_rate


# --------------------------------------------------------------------------------------------------------------
# kinematic bicycle
# --------------------------------------------------------------------------------------------------------------


def propagate(
    states: NDArray[np.float64],
    accel_cmd: NDArray[np.float64],
    steer_rate_cmd: NDArray[np.float64],
    dt: float,
    cfg: BicycleConfig,
    wheel_base: float,
) -> NDArray[np.float64]:
    """Advance ``states [B, 11]`` by ``dt`` seconds with first-order actuator lags and Euler integration."""
    accel, steer = states[:, S.ACCELERATION_X], states[:, S.STEERING_ANGLE]
    ideal_steer = dt * steer_rate_cmd + steer
    new_accel = dt / (dt + cfg.accel_time_constant) * (accel_cmd - accel) + accel
    lagged_steer = dt / (dt + cfg.steering_angle_time_constant) * (ideal_steer - steer) + steer
    steer_rate = (lagged_steer - steer) / dt

    v, heading = states[:, S.VELOCITY_X], states[:, S.HEADING]
    out = states.copy()
    out[:, S.X] = states[:, S.X] + v * np.cos(heading) * dt
    out[:, S.Y] = states[:, S.Y] + v * np.sin(heading) * dt
    out[:, S.HEADING] = principal_value(heading + v * np.tan(steer) / wheel_base * dt)
    out[:, S.VELOCITY_X] = v + new_accel * dt
    out[:, S.VELOCITY_Y] = 0.0
    # np.clip without its wrapper overhead (same values, NaN kept)
    out[:, S.STEERING_ANGLE] = np.minimum(
        np.maximum(steer + steer_rate * dt, -cfg.max_steering_angle), cfg.max_steering_angle
    )
    out[:, S.ANGULAR_VELOCITY] = out[:, S.VELOCITY_X] * np.tan(out[:, S.STEERING_ANGLE]) / wheel_base
    out[:, S.ACCELERATION_X] = new_accel
    out[:, S.ACCELERATION_Y] = 0.0
    out[:, S.ANGULAR_ACCELERATION] = (out[:, S.ANGULAR_VELOCITY] - states[:, S.ANGULAR_VELOCITY]) / dt
    out[:, S.STEERING_RATE] = steer_rate
    return out


SIMULATION_BACKENDS = ("auto", "numba", "numpy")
"""``numpy``: the reference, one vectorised tracker / bicycle call per step; ``numba``: the same steps compiled
(:mod:`inspatio_drive.pdm.simulation_numba`, states within 1e-12 of the reference); ``auto``: numba when it
imports."""


def simulate(
    reference: ArrayLike,
    initial_state: ArrayLike,
    vehicle: VehicleParameters = PACIFICA,
    lqr: LQRConfig = LQRConfig(),
    bicycle: BicycleConfig = BicycleConfig(),
    step_us: int = 100_000,
    backend: str = "auto",
) -> NDArray[np.float64]:
    """Track every reference with the LQR controller on the kinematic bicycle (navsim ``PDMSimulator``).

    Args:
        reference: ``[B, N, 11]`` reference states every ``lqr.discretization_time`` seconds (N = 41).
        initial_state: ``[11]`` logged ego state at t0 (with its real velocity / acceleration).
        vehicle: ego parameters (wheel base).
        step_us: simulation step in µs (nuplan computes the step as ``TimePoint`` difference · 1e-6).
        backend: one of :data:`SIMULATION_BACKENDS` (the per-step loop; the profiles are numpy in both).

    Returns:
        ``[B, N, 11]`` simulated states, row 0 = the initial state.
    """
    if backend not in SIMULATION_BACKENDS:
        raise ValueError(f"simulate: backend must be one of {SIMULATION_BACKENDS}, got {backend!r}")
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 3 or ref.shape[2] != STATE_SIZE or ref.shape[1] < 3:
        raise ValueError(f"reference: expected [B, N >= 3, {STATE_SIZE}], got {ref.shape}")
    n = ref.shape[1]
    velocity, curvature = velocity_curvature_profiles(ref[..., : S.HEADING + 1], lqr)
    dt_sim = step_us * 1e-6
    out = np.empty_like(ref)
    out[:, 0] = np.asarray(initial_state, dtype=np.float64).reshape(STATE_SIZE)
    # per-step tracker inputs, gathered once: reference index `horizon` steps ahead (clamped to the profile
    # end) and the curvature window up to it, padded with its last value
    steps = np.arange(n - 1)
    ref_idx = np.minimum(steps + lqr.tracking_horizon, velocity.shape[1] - 1)  # [n-1]
    window = np.minimum(steps[:, None] + np.arange(lqr.tracking_horizon)[None], ref_idx[:, None])  # [n-1, H]
    if backend != "numpy":

        if simulation_numba.HAVE_NUMBA:
            _simulate_compiled(
                out, ref, velocity[:, ref_idx], curvature[:, window], lqr, bicycle, vehicle, dt_sim
            )
            return out
        if backend == "numba":
            raise RuntimeError("simulate: backend 'numba' needs the `numba` package (pip install numba)")
    for i in range(1, n):
        accel, steer_rate = track(
            out[:, i - 1],
            ref[:, i - 1, : S.HEADING + 1],
            velocity[:, ref_idx[i - 1]],
            curvature[:, window[i - 1]],
            lqr,
            vehicle.wheel_base,
        )
        out[:, i] = propagate(out[:, i - 1], accel, steer_rate, dt_sim, bicycle, vehicle.wheel_base)
    return out


def _simulate_compiled(
    out: NDArray[np.float64],
    ref: NDArray[np.float64],
    v_ref: NDArray[np.float64],
    curv: NDArray[np.float64],
    lqr: LQRConfig,
    bicycle: BicycleConfig,
    vehicle: VehicleParameters,
    dt_sim: float,
) -> None:
    """:func:`simulate`'s loop through the numba kernel; the scalar factors are computed here with the
    reference's Python expressions (same roundings)."""

    dt, horizon = lqr.discretization_time, lqr.tracking_horizon
    gain_b = horizon * dt
    gain = -1.0 / (gain_b * lqr.q_longitudinal * gain_b + lqr.r_longitudinal) * gain_b * lqr.q_longitudinal
    simulate_loop(
        out,
        ref[..., : S.HEADING + 1],
        v_ref,
        curv,
        _step_times(horizon, dt),
        dt=dt,
        gain_b=gain_b,
        gain=gain,
        stopping_gain=lqr.stopping_proportional_gain,
        stopping_velocity=lqr.stopping_velocity,
        q_lateral=lqr.q_lateral,
        r_lateral=lqr.r_lateral,
        wheel_base=vehicle.wheel_base,
        dt_sim=dt_sim,
        accel_lag=dt_sim / (dt_sim + bicycle.accel_time_constant),
        steer_lag=dt_sim / (dt_sim + bicycle.steering_angle_time_constant),
        max_steering_angle=bicycle.max_steering_angle,
    )
