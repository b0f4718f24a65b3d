"""Arc length of the nearest point of a polyline: shapely's ``line_locate_point`` (GEOS ``project``), compiled.

GEOS walks the segments in order and keeps the first segment with the smallest point-to-segment distance; the
result is that segment's start length plus the clipped projection factor times its length (lengths and
distances as ``sqrt(dx² + dy²)``). :func:`line_locate` repeats these formulas in the same order, so it returns
the same float64 values as shapely (tested bit for bit), without building shapely points for every query.
Falls back to shapely when numba is missing or an input is not finite.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

try:  # numba is a core dependency; shapely stays the fallback
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "line_locate"]

_DBL_MAX = float(np.finfo(np.float64).max)


def _locate(line: NDArray[np.float64], points: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """``out[k]`` = GEOS ``LengthIndexOfPoint.indexOf`` of ``points[k]`` on the polyline ``line [N, 2]``.

    (Kept self-contained: numba's cache does not notice changes in other modules' kernels.)
    """
    n = line.shape[0]
    for k in range(points.shape[0]):
        px, py = points[k, 0], points[k, 1]
        min_distance = _DBL_MAX
        measure = -1.0
        start = 0.0
        for i in range(n - 1):
            ax, ay, bx, by = line[i, 0], line[i, 1], line[i + 1, 0], line[i + 1, 1]
            # Distance::pointToSegment
            if ax == bx and ay == by:
                dx, dy = px - ax, py - ay
                dist = math.sqrt(dx * dx + dy * dy)
            else:
                len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
                r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
                if r <= 0.0:
                    dx, dy = px - ax, py - ay
                    dist = math.sqrt(dx * dx + dy * dy)
                elif r >= 1.0:
                    dx, dy = px - bx, py - by
                    dist = math.sqrt(dx * dx + dy * dy)
                else:
                    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
                    dist = abs(s) * math.sqrt(len2)
            # LineSegment::projectionFactor (NaN for a zero-length segment)
            if px == ax and py == ay:
                factor = 0.0
            elif px == bx and py == by:
                factor = 1.0
            else:
                sx, sy = bx - ax, by - ay
                factor = ((px - ax) * sx + (py - ay) * sy) / (sx * sx + sy * sy)
            lx, ly = ax - bx, ay - by
            length = math.sqrt(lx * lx + ly * ly)
            if factor <= 0.0:
                at = start
            elif factor <= 1.0:
                at = start + factor * length
            else:
                at = start + length
            if dist < min_distance and at > -1.0:
                measure = at
                min_distance = dist
            start += length
        out[k] = measure


if HAVE_NUMBA:
    _locate = njit(cache=True, nogil=True, error_model="numpy")(_locate)


def line_locate(line_xy: ArrayLike, points: ArrayLike) -> NDArray[np.float64]:
    """``[..., 2]`` points → ``[...]`` arc length (m) of the nearest point of the polyline ``line_xy [N, 2]``
    (= ``shapely.line_locate_point(shapely.linestrings(line_xy), shapely.points(points))``)."""
    line = np.ascontiguousarray(line_xy, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1] != 2 or line.ndim != 2 or line.shape[1] != 2:
        raise ValueError(
            f"line_locate: expected line [N, 2] and points [..., 2], got {line.shape}, {pts.shape}"
        )
    flat = np.ascontiguousarray(pts.reshape(-1, 2))
    if HAVE_NUMBA and len(line) >= 2 and np.isfinite(line).all() and np.isfinite(flat).all():
        out = np.empty(len(flat), dtype=np.float64)
        _locate(line, flat, out)
    else:
        out = np.asarray(
            shapely.line_locate_point(shapely.linestrings(line), shapely.points(flat)), np.float64
        )
    return out.reshape(pts.shape[:-1])
