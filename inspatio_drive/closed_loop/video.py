"""BEV + camera video of a closed-loop rollout: one frame per re-planning step.

Left: bird's-eye view in the initial ego frame (forward = up, left = left): drivable area, route centerline,
other agents at the step's time (log replay), the executed path so far, the ego box and the plan chosen at
this step. Right: the cameras the planner saw (top row, each tile labelled ``planner input: <camera>``) and, on sandbox scenes, the oracle's true views (bottom row, ``oracle (true): <camera>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from inspatio_drive.closed_loop.rollout import RolloutResult, relative_pose
from inspatio_drive.contracts import PACIFICA
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.types import MetricCache


def _to_plot(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ego-frame ``[..., 2]`` (x forward, y left) → plot ``[..., 2]`` (right, up)."""
    return np.stack([-xy[..., 1], xy[..., 0]], axis=-1)


def _local(origin: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(origin[2]), np.sin(origin[2])
    d = np.asarray(xy, np.float64)[..., :2] - origin[:2]
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def _plan_global(state: NDArray[np.float64], plan: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(state[2]), np.sin(state[2])
    return np.stack([state[0] + c * plan[:, 0] - s * plan[:, 1], state[1] + s * plan[:, 0] + c * plan[:, 1]], -1)


def _tile(images: Sequence[NDArray[np.uint8]], scale: int, labels: Sequence[str] | None = None) -> NDArray[np.uint8]:
    """One row of camera images side by side, upscaled by ``scale``, each labelled top-left (white on black)."""
    tiles = [np.repeat(np.repeat(im, scale, axis=0), scale, axis=1) if scale > 1 else im for im in images]
    if labels is not None:
        tiles = [_label(t, text) for t, text in zip(tiles, labels, strict=True)]
    return np.concatenate(tiles, axis=1)


def _label(image: NDArray[np.uint8], text: str) -> NDArray[np.uint8]:
    """``image`` with ``text`` in its top-left corner on a black box (readable on any picture)."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(pil)
    font = ImageFont.load_default()
    width = int(font.getlength(text))
    draw.rectangle((0, 0, width + 5, 13), fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255), font=font)
    return np.asarray(pil)


def bev_frames(result: RolloutResult, cache: MetricCache, size_px: int = 360, radius: float = 40.0) -> NDArray[np.uint8]:
    """uint8 ``[S, size_px, size_px, 3]``: one BEV picture per step of ``result``."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first
    from matplotlib.patches import (
        Polygon as MplPolygon,  # lazy: plotting only; the Agg backend is chosen first
    )

    origin = cache.initial_state[:3]
    dpi = 100
    fig = plt.figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    route = set(cache.route_lane_ids)
    dam = cache.drivable_area_map
    for token, poly in zip(dam.tokens, dam.polygons, strict=True):
        xy = _to_plot(_local(origin, np.asarray(poly.exterior.coords)))
        face = "#cfe3f5" if token in route else "#e3e3e3"
        ax.add_patch(MplPolygon(xy, closed=True, facecolor=face, edgecolor="#b5b5b5", lw=0.4, zorder=0))
    cl = _to_plot(_local(origin, cache.centerline.path[:, :2]))
    ax.plot(cl[:, 0], cl[:, 1], ls="--", color="#4d7ea8", lw=0.8, zorder=1)
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius * 0.4, radius * 1.6)
    ax.set_aspect("equal")
    ax.set_facecolor("white")
    sub = max(1, (len(result.states) - 1) // max(1, len(result.steps)))
    obs = cache.observation
    frames = []
    for r in result.steps:
        i = min(r.step * sub, obs.corners.shape[1] - 1)
        artists: list[Any] = []
        for k in range(obs.num_objects):
            box = obs.corners[k, i]
            if np.isnan(box).any():
                continue
            artists.append(ax.add_patch(MplPolygon(_to_plot(_local(origin, box)), closed=True,
                                                   facecolor="#d62728" if obs.is_agent[k] else "#8c564b",
                                                   alpha=0.8, zorder=3)))
        path = _to_plot(_local(origin, result.states[: r.step * sub + 1, :2]))
        artists += ax.plot(path[:, 0], path[:, 1], color="#2ca02c", lw=2.0, zorder=4)
        state = result.states[r.step * sub]
        if r.step < len(result.plans):
            plan = _to_plot(_local(origin, _plan_global(state, result.plans[r.step])))
            artists += ax.plot(plan[:, 0], plan[:, 1], color="#08306b", lw=1.2, marker="o", ms=2, zorder=5)
        ego = ego_corners(relative_pose(origin, state[:3]), PACIFICA)
        artists.append(ax.add_patch(MplPolygon(_to_plot(ego), closed=True, facecolor="#2ca02c", edgecolor="k",
                                               lw=0.6, zorder=6)))
        flags = ("" if r.in_drivable_area else " off-road") + (" collision" if r.at_fault_collision else "")
        artists.append(ax.text(0.02, 0.98, f"t = {r.t_s:.1f} s  v = {r.speed:.1f} m/s{flags}", transform=ax.transAxes,
                               va="top", fontsize=7, zorder=7))
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        for a in artists:
            a.remove()
    plt.close(fig)
    return np.stack(frames)


def rollout_video_frames(result: RolloutResult, cache: MetricCache, views: Sequence[Any] | None,
                         cameras: Sequence[str] | None = None, scale: int = 2) -> NDArray[np.uint8]:
    """uint8 ``[S, H, W, 3]`` frames: BEV beside the planner's camera images (and the oracle's below them).

    Args:
        views: per step a :class:`~inspatio_drive.closed_loop.geometric.StepView` (``None``: BEV only).
        cameras: camera order (default: every camera of the first view).
        scale: integer upscaling of the camera tiles.
    """
    if not views:
        return bev_frames(result, cache)
    names = list(cameras or views[0].images)
    rows_per = 2 if views[0].oracle is not None else 1
    h = views[0].images[names[0]].shape[0] * scale * rows_per
    bev = bev_frames(result, cache, size_px=max(h, 120))
    out = []
    for b, v in zip(bev, views, strict=False):
        rows = [_tile([v.images[n] for n in names], scale, [f"planner input: {n}" for n in names])]
        if v.oracle is not None:
            rows.append(_tile([v.oracle[n] for n in names], scale, [f"oracle (true): {n}" for n in names]))
        cams = np.concatenate(rows, axis=0)
        height = max(b.shape[0], cams.shape[0])
        canvas = np.full((height, b.shape[1] + cams.shape[1], 3), 255, np.uint8)
        canvas[: b.shape[0], : b.shape[1]] = b
        canvas[: cams.shape[0], b.shape[1]:] = cams
        out.append(canvas)
    return np.stack(out)
