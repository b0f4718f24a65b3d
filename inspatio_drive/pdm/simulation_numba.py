"""Compiled (numba) LQR tracker + kinematic bicycle loop of :func:`inspatio_drive.pdm.simulation.simulate`.

The numpy path (:func:`~inspatio_drive.pdm.simulation.track` / :func:`~inspatio_drive.pdm.simulation.propagate`,
one vectorised call per step over the batch) is the reference. This kernel runs the same 40 sequential steps
row by row without the per-step numpy overhead, repeating the reference's arithmetic in the same order
(products and sums left to right, numpy's pairwise order for the horizon sums, Python's float ``%`` for the
heading wrap, no fused multiply-add). Transcendental functions come from the C math library here, while numpy
uses its own SIMD ``tan``, which differs in the last bit for a few arguments: states agree to ~1e-13 m / rad
(tests bound the difference by 1e-12 and require identical sub-scores).

Conventions as in :mod:`inspatio_drive.pdm.simulation`: states ``[B, N, 11]`` (:class:`StateIndex` columns),
float64 throughout.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

try:  # numba is a core dependency; the numpy path stays the fallback
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "simulate_loop"]


def _pairwise_sum(x: NDArray[np.float64], n: int) -> float:
    """Sum of ``x[:n]`` in numpy's ``np.add.reduce`` order for contiguous float64 (n ≤ 128)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[i]
        return res
    r0, r1, r2, r3 = x[0], x[1], x[2], x[3]
    r4, r5, r6, r7 = x[4], x[5], x[6], x[7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[i]
        i += 1
    return res


def _clip(x: float, lo: float, hi: float) -> float:
    """``np.minimum(np.maximum(x, lo), hi)`` for a scalar (NaN kept)."""
    if x != x:
        return x
    if x < lo:
        x = lo
    if x > hi:
        x = hi
    return x


def _normalize(a: float) -> float:
    # twin of inspatio_drive.geometry.se2.normalize_angle (scalar, compiled); parity-tested in
    # tests/inspatio_drive/pdm/test_simulation_numba.py (test_normalize_twin_matches_geometry and the backend tests)
    return math.atan2(math.sin(a), math.cos(a))


def _simulate_loop(
    out: NDArray[np.float64],
    ref_pose: NDArray[np.float64],
    v_ref: NDArray[np.float64],
    curv: NDArray[np.float64],
    step_times: NDArray[np.float64],
    params: NDArray[np.float64],
) -> None:
    """Fill ``out[:, 1:]`` from ``out[:, 0]``.

    Args:
        out: ``[B, N, 11]`` states, row 0 set.
        ref_pose: ``[B, N, 3]`` reference poses (the tracker uses step ``i - 1``).
        v_ref: ``[B, N - 1]`` reference velocity ``horizon`` steps ahead of each step.
        curv: ``[B, N - 1, H]`` reference curvature windows.
        step_times: ``[H]`` ``h·dt`` (the reference's ``np.arange(H) * dt``).
        params: ``[15]`` dt, horizon·dt, longitudinal gain, stopping gain, stopping velocity, q0, q1, q2,
            r_lateral, wheel base, dt_sim, accel lag factor, steering lag factor, max steering angle, 2π
            (see :func:`simulate_loop`).
    """
    b, n = out.shape[0], out.shape[1]
    horizon = curv.shape[2]
    dt, gain_b, gain, kp, v_stop = params[0], params[1], params[2], params[3], params[4]
    q0, q1, q2, r_lat, wb = params[5], params[6], params[7], params[8], params[9]
    dt_sim, c_acc, c_steer, max_steer, two_pi = params[10], params[11], params[12], params[13], params[14]
    neg_pi = -math.pi
    s01 = np.empty(horizon)
    s12 = np.empty(horizon)
    aff = np.empty(horizon)
    tmp = np.empty(horizon)
    for row in range(b):
        for i in range(1, n):
            st = out[row, i - 1]
            # ---- tracker (simulation.track) ----
            href = ref_pose[row, i - 1, 2]
            dx = st[0] - ref_pose[row, i - 1, 0]
            dy = st[1] - ref_pose[row, i - 1, 1]
            lat0 = -dx * math.sin(href) + dy * math.cos(href)
            lat1 = _normalize(st[2] - href)
            lat2 = st[7]
            v0 = st[3]
            vr = v_ref[row, i - 1]
            stop = (vr <= v_stop) and (v0 <= v_stop)
            v_error = v0 - vr
            accel = -kp * v_error if stop else gain * v_error
            # velocity profile over the horizon: v0 + exclusive cumulative sum of accel·dt
            step = accel * dt
            acc = 0.0
            for h in range(horizon):
                vel = v0 + acc if h > 0 else v0 + 0.0
                s01[h] = vel * dt
                s12[h] = s01[h] / wb
                aff[h] = -vel * curv[row, i - 1, h] * dt
                acc = step if h == 0 else acc + step
            # lateral dynamics (simulation._lateral_dynamics)
            a01 = _pairwise_sum(s01, horizon)
            a12 = _pairwise_sum(s12, horizon)
            run = 0.0
            for h in range(horizon):
                tmp[h] = s01[h] * run
                run = s12[h] if h == 0 else run + s12[h]
            a02 = _pairwise_sum(tmp, horizon)
            run = 0.0
            for h in range(horizon):
                b1_step = s12[h] * step_times[h]
                tmp[h] = s01[h] * run
                run = b1_step if h == 0 else run + b1_step
            b0 = _pairwise_sum(tmp, horizon)
            for h in range(horizon):
                tmp[h] = s12[h] * step_times[h]
            b1 = _pairwise_sum(tmp, horizon)
            b2 = gain_b
            run = 0.0
            for h in range(horizon):
                tmp[h] = s01[h] * run
                run = aff[h] if h == 0 else run + aff[h]
            g0 = _pairwise_sum(tmp, horizon)
            g1 = _pairwise_sum(aff, horizon)
            err0 = lat0 + a01 * lat1 + a02 * lat2 + g0
            err1 = _normalize(lat1 + a12 * lat2 + g1)
            err2 = _normalize(lat2)
            denom = q0 * b0 * b0 + q1 * b1 * b1 + q2 * b2 * b2 + r_lat
            steer_cmd = 0.0 if stop else -1.0 / denom * (q0 * b0 * err0 + q1 * b1 * err1 + q2 * b2 * err2)
            # ---- kinematic bicycle (simulation.propagate) ----
            acc0, steer = st[5], st[7]
            ideal_steer = dt_sim * steer_cmd + steer
            new_accel = c_acc * (accel - acc0) + acc0
            lagged = c_steer * (ideal_steer - steer) + steer
            steer_rate = (lagged - steer) / dt_sim
            v, heading = st[3], st[2]
            nxt = out[row, i]
            nxt[0] = st[0] + v * math.cos(heading) * dt_sim
            nxt[1] = st[1] + v * math.sin(heading) * dt_sim
            # twin of inspatio_drive.geometry.se2.principal_value (scalar); parity-tested in
            # tests/inspatio_drive/pdm/test_simulation_numba.py (test_simulate_backends_agree)
            nxt[2] = (heading + v * math.tan(steer) / wb * dt_sim - neg_pi) % two_pi + neg_pi
            nxt[3] = v + new_accel * dt_sim
            nxt[4] = 0.0
            nxt[7] = _clip(steer + steer_rate * dt_sim, -max_steer, max_steer)
            nxt[9] = nxt[3] * math.tan(nxt[7]) / wb
            nxt[5] = new_accel
            nxt[6] = 0.0
            nxt[10] = (nxt[9] - st[9]) / dt_sim
            nxt[8] = steer_rate


if HAVE_NUMBA:
    _pairwise_sum = njit(cache=True, nogil=True, error_model="numpy")(_pairwise_sum)
    _clip = njit(cache=True, nogil=True, error_model="numpy")(_clip)
    _normalize = njit(cache=True, nogil=True, error_model="numpy")(_normalize)
    _simulate_loop = njit(cache=True, nogil=True, error_model="numpy")(_simulate_loop)


def simulate_loop(
    out: NDArray[np.float64],
    ref_pose: NDArray[np.float64],
    v_ref: NDArray[np.float64],
    curv: NDArray[np.float64],
    step_times: NDArray[np.float64],
    *,
    dt: float,
    gain_b: float,
    gain: float,
    stopping_gain: float,
    stopping_velocity: float,
    q_lateral: tuple[float, float, float],
    r_lateral: float,
    wheel_base: float,
    dt_sim: float,
    accel_lag: float,
    steer_lag: float,
    max_steering_angle: float,
) -> None:
    """Run the compiled tracker + bicycle loop in place on ``out [B, N, 11]`` (see :func:`_simulate_loop`)."""
    if not HAVE_NUMBA:
        raise RuntimeError("the compiled simulation needs the `numba` package (pip install numba)")
    params = np.array(
        [
            dt,
            gain_b,
            gain,
            stopping_gain,
            stopping_velocity,
            q_lateral[0],
            q_lateral[1],
            q_lateral[2],
            r_lateral,
            wheel_base,
            dt_sim,
            accel_lag,
            steer_lag,
            max_steering_angle,
            2 * np.pi,
        ],
        dtype=np.float64,
    )
    _simulate_loop(
        out,
        np.ascontiguousarray(ref_pose, dtype=np.float64),
        np.ascontiguousarray(v_ref, dtype=np.float64),
        np.ascontiguousarray(curv, dtype=np.float64),
        np.ascontiguousarray(step_times, dtype=np.float64),
        params,
    )
