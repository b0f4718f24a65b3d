"""Ground-truth observation of the metric cache (navsim v1.1 ``MetricCacheProcessor._interpolate_gt_observation``).

Annotation boxes of the current and the next 10 frames (t = 0, 0.5 … 5 s) are converted to the global
frame and, per track, linearly interpolated (x, y, unwrapped heading, vx, vy; scipy ``interp1d``) to
t = 0, 0.1 … 5 s. An object is present only between its first and last annotated time; an object annotated
at a single time is kept static at *every* step (navsim's rule). Box size, type, heading and velocity used by
the collision rules are those of the first appearance. Frames past the end of a synthetic (navsim v2 second-stage)
scene come from its extended steps (:func:`~inspatio_drive.pdm.cache.scene_input.scene_detections_from_current`).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import interp1d

from inspatio_drive.data.types import Scene
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.geometry import box_corners, normalize_angle
from inspatio_drive.pdm.cache.scene_input import (
    TYPE_ORDER,
    Detections,
    scene_detections_from_current,
)
from inspatio_drive.pdm.types import Observation

__all__ = ["ground_truth_observation", "ground_truth_observation_reference", "observation_times"]


def observation_times(config: MetricCacheConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """(annotation times ``[F]``, interpolation times ``[T]``, frame stride) with navsim's float arithmetic."""
    horizon, res, step = config.observation_horizon_s, config.annotation_interval_s, config.step_s
    ann_times = np.arange(0, (horizon * 1 / res) + 1, 1, dtype=float) * res
    interp_times = np.arange(0, int(horizon / step) + 1, 1, dtype=float) * step
    return ann_times, interp_times, 1


def ground_truth_observation_reference(scene: Scene, config: MetricCacheConfig | None = None) -> Observation:
    """:func:`ground_truth_observation` track by track with scipy ``interp1d`` (the reference)."""
    config = config or MetricCacheConfig()
    ann_times, interp_times, _ = observation_times(config)
    states: dict[str, list[np.ndarray]] = {}
    first: dict[str, tuple[Detections, int]] = {}
    for t, det in zip(ann_times, scene_detections_from_current(scene, len(ann_times))):
        for i, token in enumerate(det.tokens):
            row = np.zeros(6, dtype=np.float64)
            row[:4] = (t, det.centers[i, 0], det.centers[i, 1], det.headings[i])
            if det.is_agent[i]:
                row[4:] = det.velocities[i]
            if token not in states:
                states[token] = [row]
                first[token] = (det, i)
            else:
                states[token].append(row)

    interp_tokens = list(states)
    m, n_t = len(interp_tokens), len(interp_times)
    corners = np.full((m, n_t, 4, 2), np.nan, dtype=np.float64)
    types, headings, velocities, is_agent = [], np.zeros(m), np.zeros((m, 2)), np.zeros(m, dtype=bool)
    for k, token in enumerate(interp_tokens):
        det, i = first[token]
        types.append(det.types[i])
        headings[k] = det.headings[i]
        velocities[k] = det.velocities[i]
        is_agent[k] = det.is_agent[i]
        arr = np.array(states[token], dtype=np.float64)
        time, st = arr[:, 0], arr[:, 1:]
        length, width = det.sizes[i, 0], det.sizes[i, 1]
        if time[0] == time[-1]:  # seen once: static at every step
            corners[k] = det.corners[i][None]
            continue
        st[:, 2] = np.unwrap(st[:, 2], axis=0)
        inside = (time[0] <= interp_times) & (interp_times <= time[-1])
        vals = interp1d(time, st, axis=0)(interp_times[inside])
        heading = normalize_angle(vals[:, 2])
        corners[k, inside] = box_corners(vals[:, :2], heading, length, width)
    # navsim's object order: first appearance over the 51 steps, each step stably sorted by type
    present = np.isfinite(corners).all(axis=(-1, -2))
    rank = np.array([TYPE_ORDER[t] for t in types], dtype=np.int64)
    order: list[int] = []
    seen = np.zeros(m, dtype=bool)
    for step in range(n_t):
        new = [k for k in np.argsort(rank, kind="stable") if present[k, step] and not seen[k]]
        seen[new] = True
        order += new
    idx = np.array(order, dtype=np.int64)
    return Observation(
        tokens=[interp_tokens[k] for k in order],
        types=[types[k] for k in order],
        corners=corners[idx],
        headings=headings[idx],
        velocities=velocities[idx],
        is_agent=is_agent[idx],
        step_s=config.step_s,
    )


def _annotation_tracks(
    scene: Scene, ann_times: np.ndarray
) -> tuple[list[str], dict[str, list[np.ndarray]], dict]:
    """Per track token (first-appearance order): rows (t, x, y, heading, vx, vy) and its first detection."""
    states: dict[str, list[np.ndarray]] = {}
    first: dict[str, tuple[Detections, int]] = {}
    for t, det in zip(ann_times, scene_detections_from_current(scene, len(ann_times))):
        rows = np.zeros((len(det.tokens), 6), dtype=np.float64)
        rows[:, 0] = t
        rows[:, 1:3] = det.centers
        rows[:, 3] = det.headings
        rows[det.is_agent, 4:] = det.velocities[det.is_agent]
        for i, token in enumerate(det.tokens):
            if token not in states:
                states[token] = [rows[i]]
                first[token] = (det, i)
            else:
                states[token].append(rows[i])
    return list(states), states, first


def ground_truth_observation(scene: Scene, config: MetricCacheConfig | None = None) -> Observation:
    """Build the metric cache's :class:`Observation` (``corners [M, 51, 4, 2]``, NaN where absent).

    All tracks are interpolated together: their annotation rows padded to ``[M, F]`` (the last row repeated,
    which changes neither the heading unwrap nor the interpolation of the real rows), scipy ``interp1d``'s
    linear rule (segment = first annotation time ≥ t, clipped to 1…n-1; ``slope · (t - t_lo) + y_lo``) and one
    box-corner call. Element by element the same arithmetic as :func:`ground_truth_observation_reference`
    (tested bit for bit).
    """
    config = config or MetricCacheConfig()
    ann_times, interp_times, _ = observation_times(config)
    tokens, states, first = _annotation_tracks(scene, ann_times)
    m, n_t = len(tokens), len(interp_times)
    corners = np.full((m, n_t, 4, 2), np.nan, dtype=np.float64)
    types = [first[t][0].types[first[t][1]] for t in tokens]
    headings = np.array([first[t][0].headings[first[t][1]] for t in tokens], dtype=np.float64).reshape(m)
    velocities = np.array([first[t][0].velocities[first[t][1]] for t in tokens], dtype=np.float64).reshape(
        m, 2
    )
    is_agent = np.array([first[t][0].is_agent[first[t][1]] for t in tokens], dtype=bool).reshape(m)
    sizes = np.array([first[t][0].sizes[first[t][1], :2] for t in tokens], dtype=np.float64).reshape(m, 2)
    counts = np.array([len(states[t]) for t in tokens], dtype=np.int64)
    rows = np.zeros((m, max(int(counts.max()), 1) if m else 1, 6), dtype=np.float64)
    for k, token in enumerate(tokens):
        arr = np.asarray(states[token], dtype=np.float64)
        rows[k, : len(arr)] = arr
        rows[k, len(arr) :] = arr[-1]
    time = rows[..., 0]
    start, end = time[:, 0], time[np.arange(m), counts - 1]
    once = start == end  # seen once: static at every step
    for k in np.flatnonzero(once):
        det, i = first[tokens[k]]
        corners[k] = det.corners[i][None]
    moving = np.flatnonzero(~once)
    if len(moving):
        st = rows[moving, :, 1:]  # [K, F, 5]
        st[:, :, 2] = np.unwrap(st[:, :, 2], axis=1)
        t_k, n_k = time[moving], counts[moving]
        inside = (start[moving, None] <= interp_times[None]) & (
            interp_times[None] <= end[moving, None]
        )  # [K, T]
        kk, tt = np.nonzero(inside)
        q = interp_times[tt]
        # searchsorted(time_k, q, side="left") = number of real annotation times < q
        valid = np.arange(t_k.shape[1])[None] < n_k[kk, None]
        hi = np.minimum(np.maximum(((t_k[kk] < q[:, None]) & valid).sum(axis=1), 1), n_k[kk] - 1)
        lo = hi - 1
        x_lo, x_hi = t_k[kk, lo], t_k[kk, hi]
        y_lo, y_hi = st[kk, lo], st[kk, hi]
        slope = (y_hi - y_lo) / (x_hi - x_lo)[:, None]
        vals = slope * (q - x_lo)[:, None] + y_lo
        heading = normalize_angle(vals[:, 2])
        box = box_corners(vals[:, :2], heading, sizes[moving[kk], 0], sizes[moving[kk], 1])
        corners[moving[kk], tt] = box
    # navsim's object order: first appearance over the 51 steps, each step stably sorted by type
    present = np.isfinite(corners).all(axis=(-1, -2))
    rank = np.array([TYPE_ORDER[t] for t in types], dtype=np.int64)
    seen = present.any(axis=1)
    first_step = np.where(seen, present.argmax(axis=1), n_t)
    idx = np.lexsort((np.arange(m), rank, first_step))[: int(seen.sum())].astype(np.int64)
    return Observation(
        tokens=[tokens[k] for k in idx],
        types=[types[k] for k in idx],
        corners=corners[idx],
        headings=headings[idx],
        velocities=velocities[idx],
        is_agent=is_agent[idx],
        step_s=config.step_s,
    )
