"""Compiled (numba) IDM unrolling of PDM-Closed's proposals, leading-agent search included.

The numpy / shapely path of :mod:`inspatio_drive.pdm.cache.pdm_closed` (``_Generator.update_leaders_many``,
:func:`~inspatio_drive.pdm.cache.pdm_closed.idm_step`, :class:`~inspatio_drive.pdm.cache.path.PathBundle`)
is the reference; this kernel runs the same sequential steps for every proposal without per-step Python work:

1. Python side (:func:`unroll_compiled`): for every forecast sample an update step reads, the corridor query
   of every path (one STRtree call per sample for all paths; same order as one call per path), minus the
   objects collided at t = 0, and the arc length of every hit's centroid along its path (shapely
   ``line_locate_point``, as the reference's progress table). Hit polygons go in as coordinate rings.
2. Kernel (:func:`_unroll`): per step and proposal, the nearest hit ahead of the ego progress by GEOS's
   polygon distance (a vertex of one inside / on the other → 0, else the smallest segment-to-segment
   distance, GEOS's formulas), navsim's shared leading-agent buffer, one IDM step and the path
   interpolation.

Arithmetic follows the reference in the same order with no fused multiply-add; numpy's SIMD ``pow`` / ``tan``
and the C library's can differ in the last bit, so trajectories agree to ~1e-13 (tests: ≤ 1e-12 and the
same selected proposal, scores and cache contents).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.pdm.cache.forecast import RED_LIGHT_TOKEN
from inspatio_drive.pdm.simulation_numba import _clip  # the same scalar clip, compiled once

if TYPE_CHECKING:
    from inspatio_drive.pdm.cache.pdm_closed import _Generator

try:  # numba is a core dependency; the numpy path stays the fallback
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "polygon_distance", "unroll_compiled"]


# --------------------------------------------------------------------------------------------------------------
# GEOS distance between an ego box and a polygon (DistanceOp: containment, then facets)
# --------------------------------------------------------------------------------------------------------------


def _point_distance(px: float, py: float, ax: float, ay: float) -> float:
    dx, dy = px - ax, py - ay
    return math.sqrt(dx * dx + dy * dy)


def _point_to_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """GEOS ``Distance::pointToSegment``."""
    if ax == bx and ay == by:
        return _point_distance(px, py, ax, ay)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return _point_distance(px, py, ax, ay)
    if r >= 1.0:
        return _point_distance(px, py, bx, by)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


def _segment_to_segment(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> float:
    """GEOS ``Distance::segmentToSegment`` (0 when the segments intersect)."""
    if ax == bx and ay == by:
        return _point_to_segment(ax, ay, cx, cy, dx, dy)
    if cx == dx and cy == dy:
        return _point_to_segment(dx, dy, ax, ay, bx, by)
    no_intersection = False
    if (
        max(ax, bx) < min(cx, dx)
        or min(ax, bx) > max(cx, dx)
        or max(ay, by) < min(cy, dy)
        or min(ay, by) > max(cy, dy)
    ):
        no_intersection = True
    else:
        denom = (bx - ax) * (dy - cy) - (by - ay) * (dx - cx)
        if denom == 0.0:
            no_intersection = True
        else:
            r_num = (ay - cy) * (dx - cx) - (ax - cx) * (dy - cy)
            s_num = (ay - cy) * (bx - ax) - (ax - cx) * (by - ay)
            s = s_num / denom
            r = r_num / denom
            if r < 0.0 or r > 1.0 or s < 0.0 or s > 1.0:
                no_intersection = True
    if no_intersection:
        return min(
            _point_to_segment(ax, ay, cx, cy, dx, dy),
            min(
                _point_to_segment(bx, by, cx, cy, dx, dy),
                min(_point_to_segment(cx, cy, ax, ay, bx, by), _point_to_segment(dx, dy, ax, ay, bx, by)),
            ),
        )
    return 0.0


def _ring_location(px: float, py: float, xy: NDArray[np.float64], start: int, end: int) -> int:
    """Point vs closed ring ``xy[start:end]``: 0 outside, 1 inside, 2 on the boundary (ray crossing)."""
    crossings = 0
    for i in range(start + 1, end):
        x1, y1 = xy[i - 1, 0], xy[i - 1, 1]
        x2, y2 = xy[i, 0], xy[i, 1]
        if x1 < px and x2 < px:
            continue
        if px == x2 and py == y2:
            return 2
        if y1 == py and y2 == py:
            if min(x1, x2) <= px <= max(x1, x2):
                return 2
            continue
        if (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
            cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
            if cross == 0.0:
                return 2
            if (cross > 0.0) == (y2 > y1):
                crossings += 1
    return 1 if crossings % 2 == 1 else 0


def _not_exterior(
    px: float, py: float, xy: NDArray[np.float64], ring_ptr: NDArray[np.int64], r0: int, r1: int
) -> bool:
    """Point inside or on the boundary of the polygon with rings ``r0 … r1 - 1`` (shell first, then holes)."""
    loc = _ring_location(px, py, xy, ring_ptr[r0], ring_ptr[r0 + 1])
    if loc != 1:
        return loc == 2
    for r in range(r0 + 1, r1):
        hole = _ring_location(px, py, xy, ring_ptr[r], ring_ptr[r + 1])
        if hole == 2:
            return True
        if hole == 1:
            return False
    return True


def _polygon_distance(
    ego: NDArray[np.float64], xy: NDArray[np.float64], ring_ptr: NDArray[np.int64], r0: int, r1: int
) -> float:
    """GEOS distance between the closed ego ring ``ego [5, 2]`` and a polygon (rings ``r0 … r1 - 1``)."""
    if _not_exterior(ego[0, 0], ego[0, 1], xy, ring_ptr, r0, r1):
        return 0.0
    first = ring_ptr[r0]
    if _ring_location(xy[first, 0], xy[first, 1], ego, 0, 5) != 0:
        return 0.0
    best = np.inf
    for i in range(4):
        ax, ay, bx, by = ego[i, 0], ego[i, 1], ego[i + 1, 0], ego[i + 1, 1]
        for r in range(r0, r1):
            for j in range(ring_ptr[r] + 1, ring_ptr[r + 1]):
                d = _segment_to_segment(ax, ay, bx, by, xy[j - 1, 0], xy[j - 1, 1], xy[j, 0], xy[j, 1])
                if d < best:
                    best = d
                    if best <= 0.0:
                        return best
    return best


def _ego_ring(x: float, y: float, h: float, geo: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """Ego box ring ``out [5, 2]`` (FL, RL, RR, FR, FL) of a rear-axle pose (``geometry.ego_corners``).

    ``geo``: rear axle → centre, half length, half width."""
    d, hl, hw = geo[0], geo[1], geo[2]
    cos, sin = math.cos(h), math.sin(h)
    cx, cy = x + d * cos, y + d * sin
    cos_l, sin_l = math.cos(h + math.pi / 2.0), math.sin(h + math.pi / 2.0)
    for k in range(4):
        s_lon = 1.0 if k == 0 or k == 3 else -1.0
        s_lat = 1.0 if k < 2 else -1.0
        a, b = s_lat * hw, s_lon * hl
        out[k, 0] = cx + (a * cos_l + b * cos)
        out[k, 1] = cy + (a * sin_l + b * sin)
    out[4, 0] = out[0, 0]
    out[4, 1] = out[0, 1]


# --------------------------------------------------------------------------------------------------------------
# the unrolling kernel
# --------------------------------------------------------------------------------------------------------------


def _unroll(
    rows: NDArray[np.int64],
    lat_of: NDArray[np.int64],
    target: NDArray[np.float64],
    t_from: int,
    t_to: int,
    rate: int,
    step_to_sample: NDArray[np.int64],
    n_lat: int,
    hit_ptr: NDArray[np.int64],
    hit_tok: NDArray[np.int64],
    hit_poly: NDArray[np.int64],
    hit_progress: NDArray[np.float64],
    poly_ring_ptr: NDArray[np.int64],
    ring_ptr: NDArray[np.int64],
    xy: NDArray[np.float64],
    tok_red: NDArray[np.bool_],
    tok_agent: NDArray[np.bool_],
    tok_heading: NDArray[np.float64],
    tok_speed: NDArray[np.float64],
    path_ptr: NDArray[np.int64],
    path_x: NDArray[np.float64],
    path_y: NDArray[np.float64],
    path_slope: NDArray[np.float64],
    path_len: NDArray[np.float64],
    idm: NDArray[np.float64],
    lead: NDArray[np.float64],
    states: NDArray[np.float64],
    params: NDArray[np.float64],
) -> None:
    """Steps ``t_from … t_to`` of the proposals ``rows`` (ascending, grouped by path) in place.

    ``idm [P, T, 2]`` (progress, velocity), ``lead [P, T, 3]`` (progress, velocity, rear length),
    ``states [P, T, 11]`` (x, y, heading written). Hits of (sample ``s``, path ``l``) are
    ``hit_ptr[s·n_lat + l] … hit_ptr[s·n_lat + l + 1]``: token index, polygon index (rings
    ``poly_ring_ptr[g] … poly_ring_ptr[g + 1]`` of ``ring_ptr`` / ``xy``) and centroid arc length. Paths are
    concatenated (``path_ptr`` offsets) sorted arc lengths ``path_x``, values ``path_y [., 3]`` and slopes.
    ``params``: s0, headway, a_max, b_max, exponent, 2·sqrt(a·b), dt, ego length / 2, rear axle → centre,
    half length, half width.
    """
    s0, headway, a_max, b_max, expo, two_sqrt_ab, dt = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
        params[5],
        params[6],
    )
    half_length = params[7]
    geo = params[8:11]
    ego = np.empty((5, 2))
    for t in range(t_from, t_to + 1):
        if t % rate != 0:
            for r in rows:
                lead[r, t, 0] = lead[r, t - 1, 0]
                lead[r, t, 1] = lead[r, t - 1, 1]
                lead[r, t, 2] = lead[r, t - 1, 2]
        else:
            s = step_to_sample[t]
            prev_lat = -1
            buf_progress, buf_velocity, buf_rear = 0.0, 0.0, 0.0
            for r in rows:
                lat = lat_of[r]
                if lat != prev_lat:  # navsim's buffer is per path batch
                    buf_progress, buf_velocity, buf_rear = 0.0, 0.0, 0.0
                    prev_lat = lat
                ego_progress = idm[r, t - 1, 0]
                key = s * n_lat + lat
                best = np.inf
                best_j = -1
                have_ego = False
                for j in range(hit_ptr[key], hit_ptr[key + 1]):
                    if hit_progress[j] > ego_progress:
                        if not have_ego:
                            _ego_ring(states[r, t - 1, 0], states[r, t - 1, 1], states[r, t - 1, 2], geo, ego)
                            have_ego = True
                        g = hit_poly[j]
                        d = _polygon_distance(ego, xy, ring_ptr, poly_ring_ptr[g], poly_ring_ptr[g + 1])
                        if best_j < 0 or d < best:
                            best = d
                            best_j = j
                if best_j >= 0:
                    buf_progress = ego_progress + best
                    tok = hit_tok[best_j]
                    if not tok_red[tok]:
                        if tok_agent[tok]:
                            diff = tok_heading[tok] - states[r, t - 1, 2]
                            # twin of geometry.se2.normalize_angle, parity-tested in
                            # tests/inspatio_drive/pdm/cache/test_pdm_closed_numba.py (backends give the same PDM-Closed)
                            rel = math.atan2(math.sin(diff), math.cos(diff))
                            buf_velocity = tok_speed[tok] * math.cos(rel)
                        else:
                            buf_velocity = 0.0
                else:
                    buf_progress = path_len[lat]
                    buf_rear = half_length
                lead[r, t, 0] = buf_progress
                lead[r, t, 1] = buf_velocity
                lead[r, t, 2] = buf_rear
        for r in rows:
            # IDM (pdm_closed.idm_step)
            x, v = idm[r, t - 1, 0], idm[r, t - 1, 1]
            x_lead, v_lead, l_rear = lead[r, t, 0], lead[r, t, 1], lead[r, t, 2]
            s_star = s0 + v * headway + (v * (v - v_lead)) / two_sqrt_ab
            gap = x_lead - x - l_rear
            s_alpha = gap if gap != gap or gap >= s0 else s0
            ratio = s_star / s_alpha
            accel = a_max * (1 - (v / target[r]) ** expo - ratio * ratio)
            accel = _clip(accel, -b_max, a_max)
            nx = x + dt * v
            idm[r, t, 0] = nx
            idm[r, t, 1] = v + dt * accel
            # path interpolation (path.PathBundle.interpolate)
            lat = lat_of[r]
            p0, p1 = path_ptr[lat], path_ptr[lat + 1]
            d = _clip(nx if nx != nx or nx >= 1e-5 else 1e-5, -np.inf, path_len[lat])
            lo_i, hi_i = p0, p1  # first index with path_x >= d (searchsorted, side="left")
            while lo_i < hi_i:
                mid = (lo_i + hi_i) // 2
                if path_x[mid] < d:
                    lo_i = mid + 1
                else:
                    hi_i = mid
            seg = min(max(lo_i - p0, 1), p1 - p0 - 1) - 1 + p0
            off = d - path_x[seg]
            for c in range(3):
                val = path_slope[seg, c] * off + path_y[seg, c]
                if c == 2:  # twin of geometry.se2.normalize_angle, parity-tested in tests/inspatio_drive/pdm/cache/test_pdm_closed_numba.py
                    val = math.atan2(math.sin(val), math.cos(val))
                states[r, t, c] = 0.0 if val != val else val


if HAVE_NUMBA:
    _point_distance = njit(cache=True, nogil=True, error_model="numpy")(_point_distance)
    _point_to_segment = njit(cache=True, nogil=True, error_model="numpy")(_point_to_segment)
    _segment_to_segment = njit(cache=True, nogil=True, error_model="numpy")(_segment_to_segment)
    _ring_location = njit(cache=True, nogil=True, error_model="numpy")(_ring_location)
    _not_exterior = njit(cache=True, nogil=True, error_model="numpy")(_not_exterior)
    _polygon_distance = njit(cache=True, nogil=True, error_model="numpy")(_polygon_distance)
    _ego_ring = njit(cache=True, nogil=True, error_model="numpy")(_ego_ring)
    _unroll = njit(cache=True, nogil=True, error_model="numpy")(_unroll)


def polygon_distance(ego_ring: NDArray[np.float64], polygon: shapely.Polygon) -> float:
    """The kernel's GEOS-style distance between a closed ego ring ``[5, 2]`` and a polygon (for tests)."""
    _, xy, (ring_ptr, poly_ptr) = shapely.to_ragged_array([polygon], include_z=False)
    return float(
        _polygon_distance(
            np.ascontiguousarray(ego_ring, dtype=np.float64),
            np.ascontiguousarray(xy, dtype=np.float64),
            ring_ptr.astype(np.int64),
            int(poly_ptr[0]),
            int(poly_ptr[1]),
        )
    )


# --------------------------------------------------------------------------------------------------------------
# Python side: gather the kernel's inputs from the generator
# --------------------------------------------------------------------------------------------------------------


def unroll_compiled(gen: _Generator, rows: list[int], t_from: int, t_to: int) -> bool:
    """Unroll proposals ``rows`` (ascending) of ``gen`` over steps ``t_from … t_to`` with the kernel.

    Returns False (nothing written) when the kernel cannot take the input (numba missing, a forecast
    polygon that is not a plain polygon); the caller then runs the reference path.
    """
    if not HAVE_NUMBA or not rows or t_to < t_from:
        return False
    fc, cfg = gen.fc, gen.cfg
    rate = cfg.leading_agent_update_rate
    lats = sorted({p // gen.n_long for p in rows})
    n_lat = len(gen.paths)
    samples = sorted({int(fc.step_to_sample[t]) for t in range(t_from, t_to + 1) if t % rate == 0})
    corridors = np.array([gen.corridor(lat) for lat in lats], dtype=object)

    # hits per (sample, path), STRtree order, collided objects removed
    keys, toks, poly_sample = [], [], []
    for s in samples:
        which, idx = fc.query_many(s, corridors)
        keep = ~gen.collided_mask[idx]
        which, idx = which[keep], idx[keep]
        keys.append(s * n_lat + np.asarray(lats, dtype=np.int64)[which])
        toks.append(idx)
        poly_sample.append(np.full(len(idx), s, dtype=np.int64))
    n_keys = (int(fc.step_to_sample.max()) + 1) * n_lat
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    tok = np.concatenate(toks).astype(np.int64) if toks else np.zeros(0, dtype=np.int64)
    sample_of = np.concatenate(poly_sample) if poly_sample else np.zeros(0, dtype=np.int64)
    # the query returns hits grouped by sample then path: a stable sort by key keeps each group's order
    order = np.argsort(key, kind="stable")
    key, tok, sample_of = key[order], tok[order], sample_of[order]
    hit_ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.add.at(hit_ptr, key + 1, 1)
    hit_ptr = np.cumsum(hit_ptr)

    # polygons of the hits (one entry per distinct (sample, token)) and their centroids' arc lengths
    pair = sample_of * len(fc.tokens) + tok
    uniq, hit_poly = np.unique(pair, return_inverse=True)
    polys = fc.polygons[uniq // len(fc.tokens), uniq % len(fc.tokens)]
    if len(polys):
        if not all(isinstance(p, shapely.Polygon) and not p.is_empty for p in polys):
            return False
        _, xy, (ring_ptr, poly_ring_ptr) = shapely.to_ragged_array(polys, include_z=False)
    else:
        xy, ring_ptr, poly_ring_ptr = np.zeros((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64)
    hit_progress = np.full(len(tok), np.nan)
    if len(tok):
        centroid_xy = shapely.get_coordinates(shapely.centroid(polys))[hit_poly]
        lat_of_hit = key % n_lat
        for lat in lats:
            sel = lat_of_hit == lat
            if sel.any():  # shapely's line_locate_point, compiled (same floats)
                hit_progress[sel] = gen.paths[lat].project(centroid_xy[sel])

    # per-token constants (leader velocity)
    n_tok = len(fc.tokens)
    tok_red = np.array([RED_LIGHT_TOKEN in t for t in fc.tokens], dtype=np.bool_)
    tok_agent = np.zeros(n_tok, dtype=np.bool_)
    tok_heading = np.zeros(n_tok)
    tok_speed = np.zeros(n_tok)
    for i, t in enumerate(fc.tokens):
        if not tok_red[i]:
            _, heading, velocity, is_agent = fc.objects[t]
            tok_agent[i] = is_agent
            tok_heading[i] = heading
            tok_speed[i] = math.hypot(float(velocity[0]), float(velocity[1]))

    bundle = gen.bundle
    path_ptr = np.concatenate([bundle._offsets, [len(bundle._x)]]).astype(np.int64)
    idm_cfg, vehicle = cfg.idm, gen.vehicle
    params = np.array(
        [
            idm_cfg.min_gap_to_lead_agent,
            idm_cfg.headway_time,
            idm_cfg.accel_max,
            idm_cfg.decel_max,
            idm_cfg.acceleration_exponent,
            2 * math.sqrt(idm_cfg.accel_max * idm_cfg.decel_max),
            cfg.step_s,
            vehicle.length / 2,
            vehicle.rear_axle_to_center,
            vehicle.length / 2.0,
            vehicle.width / 2.0,
        ],
        dtype=np.float64,
    )
    all_rows = np.arange(gen.states.shape[0], dtype=np.int64)
    _unroll(
        np.asarray(rows, dtype=np.int64),
        all_rows // gen.n_long,
        gen.targets[all_rows % gen.n_long].astype(np.float64),
        int(t_from),
        int(t_to),
        int(rate),
        fc.step_to_sample.astype(np.int64),
        n_lat,
        hit_ptr,
        tok,
        hit_poly.astype(np.int64).reshape(-1),
        hit_progress,
        poly_ring_ptr.astype(np.int64),
        ring_ptr.astype(np.int64),
        np.ascontiguousarray(xy, dtype=np.float64),
        tok_red,
        tok_agent,
        tok_heading,
        tok_speed,
        path_ptr,
        bundle._x,
        np.ascontiguousarray(bundle._y),
        np.ascontiguousarray(bundle._slope),
        bundle._length.astype(np.float64),
        gen.idm,
        gen.lead,
        gen.states,
        params,
    )
    return True
