"""Compiled broad + narrow phase of the scorer's box-box intersection test (``scorer._intersecting_pairs``).

For every ego box and every object present at the ego row's observation step: the bounding-circle test, then
the separating-axis gap of the two parallelograms, with the reference's formulas. A pair is decided here only
when the gap is clearly positive or negative (beyond ``margin`` metres, 1 µm by default: far above any
rounding difference between this kernel and numpy); near-touching pairs and non-parallelogram or degenerate
boxes are returned as "ask shapely", exactly like the numpy reference. So both paths give the same pairs.
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

__all__ = ["HAVE_NUMBA", "candidate_pairs"]


def _max_nan(a: float, b: float) -> float:
    """``np.maximum`` for scalars (NaN propagates)."""
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


def _pairs_kernel(
    ego: NDArray[np.float64],
    obj_time: NDArray[np.int64],
    oc: NDArray[np.float64],
    op: NDArray[np.float64],
    oq: NDArray[np.float64],
    o_ok: NDArray[np.bool_],
    o_r: NDArray[np.float64],
    present: NDArray[np.bool_],
    margin: float,
    out_ego: NDArray[np.int64],
    out_obj: NDArray[np.int64],
    out_ask: NDArray[np.bool_],
) -> int:
    """Fill ``out_*[:k]`` with the hit / ask pairs in (ego row, object) order; returns ``k``."""
    n_ego, n_obj = ego.shape[0], oc.shape[0]
    k = 0
    for n in range(n_ego):
        c0x, c0y, c1x, c1y = ego[n, 0, 0], ego[n, 0, 1], ego[n, 1, 0], ego[n, 1, 1]
        c2x, c2y, c3x, c3y = ego[n, 2, 0], ego[n, 2, 1], ego[n, 3, 0], ego[n, 3, 1]
        ecx = (((c0x + c1x) + c2x) + c3x) / 4.0
        ecy = (((c0y + c1y) + c2y) + c3y) / 4.0
        epx, epy = 0.5 * (c0x - c1x), 0.5 * (c0y - c1y)
        eqx, eqy = 0.5 * (c0x - c3x), 0.5 * (c0y - c3y)
        skew = abs((c0x - c1x) - (c3x - c2x)) + abs((c0y - c1y) - (c3y - c2y))
        e_ok = skew <= 1e-9 * (1.0 + abs(ecx) + abs(ecy))
        e_r = math.hypot(epx, epy) + math.hypot(eqx, eqy)
        t = obj_time[n]
        for m in range(n_obj):
            if not present[m, t]:
                continue
            dx, dy = oc[m, t, 0] - ecx, oc[m, t, 1] - ecy
            reach = o_r[m, t] + e_r + margin
            if not (dx * dx + dy * dy <= reach * reach):
                continue
            # separating-axis gap over the 4 edge normals (scorer._axis_gap)
            pbx, pby, qbx, qby = op[m, t, 0], op[m, t, 1], oq[m, t, 0], oq[m, t, 1]
            best = -math.inf
            for e in range(4):
                if e == 0:
                    ex, ey = epx, epy
                elif e == 1:
                    ex, ey = eqx, eqy
                elif e == 2:
                    ex, ey = pbx, pby
                else:
                    ex, ey = qbx, qby
                norm = math.sqrt(ex * ex + ey * ey)
                nx, ny = -ey / norm, ex / norm
                r = (
                    abs(epx * nx + epy * ny)
                    + abs(eqx * nx + eqy * ny)
                    + abs(pbx * nx + pby * ny)
                    + abs(qbx * nx + qby * ny)
                )
                best = _max_nan(best, abs(dx * nx + dy * ny) - r)
            sat_ok = e_ok and o_ok[m, t] and math.isfinite(best)
            gap0 = best if math.isfinite(best) else 0.0
            ask = (not sat_ok) or abs(gap0) <= margin
            if ask or best < -margin:
                out_ego[k] = n
                out_obj[k] = m
                out_ask[k] = ask
                k += 1
    return k


if HAVE_NUMBA:
    _max_nan = njit(cache=True, nogil=True, error_model="numpy")(_max_nan)
    _pairs_kernel = njit(cache=True, nogil=True, error_model="numpy")(_pairs_kernel)


def candidate_pairs(
    ego_corners: NDArray[np.float64],
    obj_time: NDArray[np.int64],
    obj_params: tuple[NDArray[np.float64], ...],
    margin: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """``(ego_idx [P], obj_idx [P], ask [P])``: pairs decided as intersecting, or to be decided by shapely.

    Args:
        ego_corners: ``[N, 4, 2]``; obj_time: ``[N]``.
        obj_params: ``(centre, p, q, ok, radius, present)`` of the objects ``[M, T_obs, ...]``
            (``scorer._parallelograms`` + bounding radius).
    """
    oc, op, oq, o_ok, o_r, present = obj_params
    n, m = len(ego_corners), oc.shape[0]
    out_ego = np.empty(n * m, dtype=np.int64)
    out_obj = np.empty(n * m, dtype=np.int64)
    out_ask = np.empty(n * m, dtype=np.bool_)
    k = _pairs_kernel(
        np.ascontiguousarray(ego_corners, dtype=np.float64),
        np.ascontiguousarray(obj_time, dtype=np.int64),
        np.ascontiguousarray(oc),
        np.ascontiguousarray(op),
        np.ascontiguousarray(oq),
        np.ascontiguousarray(o_ok),
        np.ascontiguousarray(o_r),
        np.ascontiguousarray(present),
        float(margin),
        out_ego,
        out_obj,
        out_ask,
    )
    return out_ego[:k], out_obj[:k], out_ask[:k]
