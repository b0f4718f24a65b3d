"""Compiled point-in-polygon test of the drivable-area map: shapely's ``contains_xy`` decisions, fast.

GEOS decides ``contains_xy`` (interior only: a point on the boundary is not contained) with a ray-crossing count
over all ring segments whose y-range holds the point: a vertex or collinear point → boundary, otherwise the
parity of the upward crossings. The only floating-point decision is the orientation of the point against a
crossing segment. :func:`contains_xy_many` repeats the count and decides an orientation itself only when its
sign is certain (``|det| ≥ 1e-15 · (|left| + |right|)``, at least as strict as GEOS's own filter, so GEOS finds
the same sign); any (polygon, point) pair with an uncertain orientation goes to shapely. The result therefore
equals shapely's for every pair (tested on the golden and sandbox maps, boundary points included).

Segments are indexed per polygon in y-bins (a segment in every bin its y-range touches), so a point only visits
the segments near its y.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

try:  # numba is a core dependency; shapely stays the fallback
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "PolygonIndex", "contains_xy_many"]

_SEGMENTS_PER_BIN = 4


class PolygonIndex:
    """Ring segments of ``P`` polygons binned by y (built once per drivable-area map).

    Attributes:
        bounds: ``[P, 4]`` shapely bounds (xmin, ymin, xmax, ymax).
        segments: ``[S, 4]`` (x1, y1, x2, y2), every ring of every polygon, in ring order.
        bin_origin, bin_height: ``[P]`` y of bin 0 and bin height per polygon; bin_count: ``[P]``.
        poly_bins: ``[P + 1]`` offsets of each polygon's bins in ``bin_ptr``.
        bin_ptr: ``[B + 1]`` offsets into ``bin_segments`` (segment ids) per bin.
    """

    def __init__(self, polygons: NDArray[np.object_]) -> None:
        self.polygons = polygons
        self.bounds = np.ascontiguousarray(shapely.bounds(polygons), dtype=np.float64).reshape(-1, 4)
        n = len(polygons)
        # rings of every polygon (exterior, then holes) and their vertices, in ring order
        rings, ring_owner = shapely.get_rings(polygons, return_index=True)
        xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[1:] == coord_ring[:-1]  # consecutive vertices of one ring = a segment
        self.segments = np.ascontiguousarray(
            np.concatenate([xy[:-1][same], xy[1:][same]], axis=1), np.float64
        )
        seg_owner = np.asarray(ring_owner, dtype=np.int64)[coord_ring[:-1][same]]
        per_poly = np.bincount(seg_owner, minlength=n)
        self.bin_count = np.maximum(1, per_poly // _SEGMENTS_PER_BIN).astype(np.int64)
        self.bin_origin = self.bounds[:, 1].copy()
        self.bin_height = (self.bounds[:, 3] - self.bounds[:, 1]) / self.bin_count
        self.poly_bins = np.concatenate([[0], np.cumsum(self.bin_count)]).astype(np.int64)
        # every segment goes into the bins from the bin of its lowest y to the bin of its highest y, computed
        # with the same formula as the query (monotonic in y), so a point's bin holds every segment spanning it
        y_lo = np.minimum(self.segments[:, 1], self.segments[:, 3])
        y_hi = np.maximum(self.segments[:, 1], self.segments[:, 3])
        b_lo = _bins(y_lo, self.bin_origin[seg_owner], self.bin_height[seg_owner], self.bin_count[seg_owner])
        b_hi = _bins(y_hi, self.bin_origin[seg_owner], self.bin_height[seg_owner], self.bin_count[seg_owner])
        span = b_hi - b_lo + 1
        seg_ids = np.repeat(np.arange(len(self.segments), dtype=np.int64), span)
        first = np.repeat(np.cumsum(span) - span, span)
        bin_local = np.repeat(b_lo, span) + (np.arange(len(seg_ids)) - first)
        bin_global = self.poly_bins[seg_owner[seg_ids]] + bin_local
        order = np.argsort(bin_global, kind="stable")
        self.bin_segments = seg_ids[order]
        counts = np.bincount(bin_global, minlength=int(self.poly_bins[-1]))
        self.bin_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _bins(
    y: NDArray[np.float64], origin: NDArray[np.float64], height: NDArray[np.float64], count: NDArray[np.int64]
):
    """Bin of ``y`` (clipped to ``0 … count - 1``), the same formula as the kernel's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(height > 0.0, np.floor((y - origin) / height), 0.0)
    return np.minimum(np.maximum(raw, 0), count - 1).astype(np.int64)


def _contains_kernel(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    bounds: NDArray[np.float64],
    segments: NDArray[np.float64],
    bin_origin: NDArray[np.float64],
    bin_height: NDArray[np.float64],
    bin_count: NDArray[np.int64],
    poly_bins: NDArray[np.int64],
    bin_ptr: NDArray[np.int64],
    bin_segments: NDArray[np.int64],
    out: NDArray[np.bool_],
    unsure: NDArray[np.bool_],
) -> None:
    """``out[p, n]``: point n strictly inside polygon p; ``unsure[p, n]``: decide with shapely instead."""
    n_poly, n_pts = bounds.shape[0], x.shape[0]
    for p in range(n_poly):
        xmin, ymin, xmax, ymax = bounds[p, 0], bounds[p, 1], bounds[p, 2], bounds[p, 3]
        for n in range(n_pts):
            px, py = x[n], y[n]
            if not (px >= xmin and px <= xmax and py >= ymin and py <= ymax):
                continue
            if bin_height[p] > 0.0:
                b = np.floor((py - bin_origin[p]) / bin_height[p])
            else:
                b = 0.0
            b_int = int(min(max(b, 0.0), bin_count[p] - 1))
            k = poly_bins[p] + b_int
            crossings = 0
            status = 0  # 0 counting, 1 boundary, 2 uncertain
            for j in range(bin_ptr[k], bin_ptr[k + 1]):
                s = bin_segments[j]
                x1, y1, x2, y2 = segments[s, 0], segments[s, 1], segments[s, 2], segments[s, 3]
                if x1 < px and x2 < px:
                    continue
                if px == x2 and py == y2:
                    status = 1
                    break
                if y1 == py and y2 == py:
                    if min(x1, x2) <= px <= max(x1, x2):
                        status = 1
                        break
                    continue
                if (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
                    left = (x1 - px) * (y2 - py)
                    right = (y1 - py) * (x2 - px)
                    det = left - right
                    if (left > 0.0 and right > 0.0) or (left < 0.0 and right < 0.0):
                        if abs(det) < 1e-15 * (abs(left) + abs(right)):
                            status = 2
                            break
                    if det == 0.0:
                        status = 1
                        break
                    orient = 1 if det > 0.0 else -1
                    if y2 < y1:
                        orient = -orient
                    if orient == 1:
                        crossings += 1
            if status == 2:
                unsure[p, n] = True
            elif status == 0 and crossings % 2 == 1:
                out[p, n] = True


if HAVE_NUMBA:
    _contains_kernel = njit(cache=True, nogil=True, error_model="numpy")(_contains_kernel)


def contains_xy_many(
    index: PolygonIndex, x: NDArray[np.float64], y: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """``[P, N]`` = ``shapely.contains_xy(polygons[p], x[n], y[n])`` for every polygon and point."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    out = np.zeros((len(index.bounds), len(x)), dtype=bool)
    unsure = np.zeros_like(out)
    _contains_kernel(
        x,
        y,
        index.bounds,
        index.segments,
        index.bin_origin,
        index.bin_height,
        index.bin_count,
        index.poly_bins,
        index.bin_ptr,
        index.bin_segments,
        out,
        unsure,
    )
    pi, ni = np.nonzero(unsure)
    if len(pi):
        out[pi, ni] = shapely.contains_xy(index.polygons[pi], x[ni], y[ni])
    return out
