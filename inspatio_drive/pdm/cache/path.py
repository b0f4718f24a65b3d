"""Interpolable path of PDM-Closed proposals (navsim ``PDMPath`` semantics).

The heading is unwrapped along the path; ``interpolate`` clips distances to [1e-5, length], interpolates
(x, y, heading) linearly over the cumulative arc length (scipy ``interp1d``), wraps the heading and replaces
NaN by 0. Duplicated joint vertices (zero-length segments) are allowed.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.ops import substring

from inspatio_drive.geometry.se2 import normalize_angle
from inspatio_drive.pdm.linear_ref import line_locate
from inspatio_drive.pdm.types import cumulative_progress

__all__ = ["PathBundle", "ProposalPath", "parallel_path"]


class ProposalPath:
    """A discrete path ``[N, 3]`` (x, y, heading) with arc-length interpolation and projection."""

    def __init__(self, discrete_path: ArrayLike) -> None:
        p = np.array(discrete_path, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3 or len(p) < 2:
            raise ValueError(f"ProposalPath: expected [N >= 2, 3] (x, y, heading), got {p.shape}")
        self.raw = p.copy()
        p[:, 2] = np.unwrap(p[:, 2], axis=0)
        self.states = p
        self.progress = cumulative_progress(p[:, :2])
        self.linestring = shapely.linestrings(p[:, :2])
        # scipy interp1d sorts x stably (duplicated joint vertices keep their order)
        order = np.argsort(self.progress, kind="mergesort")
        self._x = self.progress[order]
        self._y = self.states[order]
        # per-segment slopes, computed once (zero-length segments are never selected, see interpolate)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._slope = np.diff(self._y, axis=0) / np.diff(self._x)[:, None]
        self._length = float(self.progress[-1])
        self._last = len(self._x) - 1

    @property
    def length(self) -> float:
        """Cumulative arc length (m)."""
        return float(self.progress[-1])

    def project(self, xy: ArrayLike) -> NDArray[np.float64]:
        """``[..., 2]`` points → arc length of the nearest path point."""
        return line_locate(self.states[:, :2], xy)  # shapely's line_locate_point, compiled (same floats)

    def interpolate(self, distances: ArrayLike) -> NDArray[np.float64]:
        """``[K]`` arc lengths → ``[K, 3]`` (x, y, heading)."""
        d = np.minimum(np.maximum(np.asarray(distances, dtype=np.float64), 1e-5), self._length)
        # scipy interp1d's linear rule: hi = first x ≥ d (clipped to 1…N-1), lo = hi - 1; d > x[lo] always,
        # so a zero-length segment (duplicated joint vertex) is never the one interpolated on
        lo = np.minimum(np.maximum(np.searchsorted(self._x, d, side="left"), 1), self._last) - 1
        out = self._slope[lo] * (d - self._x[lo])[..., None] + self._y[lo]
        out[..., 2] = normalize_angle(out[..., 2])
        out[np.isnan(out)] = 0.0
        return out

    def substring(self, start: float, end: float) -> shapely.LineString:
        """Vertices with start ≤ progress ≤ end (shapely ``substring`` if fewer than two)."""
        s = float(np.clip(start, 0.0, self.length))
        e = float(np.clip(end, 0.0, self.length))
        inside = (s <= self.progress) & (self.progress <= e)
        coords = self.states[inside, :2]
        if len(coords) > 1:
            return shapely.LineString(coords)

        return substring(self.linestring, s, e)


class PathBundle:
    """Several :class:`ProposalPath` interpolated in one vectorised call (PDM-Closed's paths at one step).

    ``interpolate(counts, distances)`` equals concatenating ``paths[i].interpolate(d_i)`` (elementwise the same
    arithmetic; tested): only the segment search runs per path.
    """

    def __init__(self, paths: list[ProposalPath]) -> None:
        self.paths = paths
        sizes = [len(p._x) for p in paths]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        self._x = np.concatenate([p._x for p in paths])
        self._y = np.concatenate([p._y for p in paths])
        # one padding row per path keeps the per-path segment index valid in the concatenated slopes
        self._slope = np.concatenate([np.vstack([p._slope, np.zeros((1, 3))]) for p in paths])
        self._length = np.array([p._length for p in paths])

    def interpolate(
        self, path_index: NDArray[np.intp], distances: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``[K]`` path indices (ascending: all points of a path together) and arc lengths → ``[K, 3]``."""
        d = np.minimum(np.maximum(np.asarray(distances, dtype=np.float64), 1e-5), self._length[path_index])
        lo = np.empty(len(d), dtype=np.intp)
        for i, path in enumerate(self.paths):
            rows = path_index == i
            if rows.any():
                found = np.searchsorted(path._x, d[rows], side="left")
                lo[rows] = np.minimum(np.maximum(found, 1), path._last) - 1 + self._offsets[i]
        out = self._slope[lo] * (d - self._x[lo])[..., None] + self._y[lo]
        out[..., 2] = normalize_angle(out[..., 2])
        out[np.isnan(out)] = 0.0
        return out


def parallel_path(discrete_path: ArrayLike, offset: float) -> NDArray[np.float64]:
    """Shift every vertex by ``offset`` (m) to the left of its heading (navsim ``parallel_discrete_path``)."""
    p = np.asarray(discrete_path, dtype=np.float64)
    theta = p[:, 2] + np.pi / 2
    return np.column_stack([p[:, 0] + np.cos(theta) * offset, p[:, 1] + np.sin(theta) * offset, p[:, 2]])
