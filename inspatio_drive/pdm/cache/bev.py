"""Bird's-eye-view picture of a scene's metric cache (matplotlib).

Drawn in the initial ego rear-axle frame, **forward = up, left = left** (plot x = −y_ego, plot y = x_ego):
drivable-area polygons (roadblocks / intersections / car parks filled, lanes and lane connectors outlined,
on-route lanes tinted), the PDM centerline, objects at t = 0 (with their future centre track), the ego box,
the PDM-Closed reference, and candidate trajectories coloured by their PDM score (the chosen one drawn thick).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.geometry.se2 import absolute_to_relative_se2
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.types import MetricCache

__all__ = ["plot_bev", "save_bev"]

_TYPE_COLORS = {
    "vehicle": "#1f77b4",
    "pedestrian": "#d62728",
    "bicycle": "#9467bd",
    "traffic_cone": "#ff7f0e",
    "barrier": "#8c564b",
    "czone_sign": "#e377c2",
    "generic_object": "#7f7f7f",
}


def _to_plot(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ego-frame ``[..., 2]`` (x forward, y left) → plot ``[..., 2]`` (right, up)."""
    return np.stack([-xy[..., 1], xy[..., 0]], axis=-1)


def _local(origin: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    pts = np.concatenate([xy, np.zeros((*xy.shape[:-1], 1))], axis=-1)
    return absolute_to_relative_se2(origin, pts)[..., :2]


def plot_bev(
    cache: MetricCache,
    candidates: ArrayLike | None = None,
    scores: ArrayLike | None = None,
    chosen: int | None = None,
    ax: Any = None,
    radius: float = 45.0,
    title: str | None = None,
    names: Sequence[str] | None = None,
) -> Any:
    """Draw the BEV of ``cache`` on ``ax`` (a new figure when None); returns the axes.

    Args:
        cache: the scene's metric cache.
        candidates: ``[K, P, 3]`` candidate poses (x, y, heading) in the initial rear-axle frame.
        scores: ``[K]`` PDM scores in [0, 1] (colour map red → green); grey when not given.
        chosen: index of the selected candidate (drawn thick with a star at its end).
        radius: half-size (m) of the view around the ego.
        names: optional candidate names; the chosen one is named in the legend.
    """
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first
    from matplotlib import cm, colors  # lazy: plotting only; the Agg backend is chosen first
    from matplotlib.patches import (
        Polygon as MplPolygon,  # lazy: plotting only; the Agg backend is chosen first
    )

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    origin = cache.initial_state[:3]
    dam = cache.drivable_area_map
    route = set(cache.route_lane_ids)
    fill = {
        "ROADBLOCK": "#e6e6e6",
        "INTERSECTION": "#d9d9d9",
        "CARPARK_AREA": "#ece3cf",
        "DRIVABLE_AREA": "#e6e6e6",
    }
    for token, layer, poly in zip(dam.tokens, dam.layers, dam.polygons):
        xy = _to_plot(_local(origin, np.asarray(poly.exterior.coords)))
        if layer in fill:
            ax.add_patch(MplPolygon(xy, closed=True, facecolor=fill[layer], edgecolor="none", zorder=0))
        elif token in route:
            ax.add_patch(
                MplPolygon(xy, closed=True, facecolor="#cfe3f5", edgecolor="#9bbbd9", lw=0.6, zorder=1)
            )
        else:
            ax.add_patch(MplPolygon(xy, closed=True, fill=False, edgecolor="#b0b0b0", lw=0.5, zorder=1))
    cl = _to_plot(_local(origin, cache.centerline.path[:, :2]))
    ax.plot(cl[:, 0], cl[:, 1], ls="--", color="#4d7ea8", lw=1.0, zorder=2, label="centerline")

    obs = cache.observation
    for k in range(obs.num_objects):
        present = np.flatnonzero(obs.present[k])
        if len(present) == 0:
            continue
        color = _TYPE_COLORS.get(obs.types[k], "#7f7f7f")
        first = obs.corners[k, present[0]]
        ax.add_patch(
            MplPolygon(_to_plot(_local(origin, first)), closed=True, facecolor=color, alpha=0.75, zorder=4)
        )
        track = _to_plot(_local(origin, obs.corners[k, present].mean(axis=1)))
        ax.plot(track[:, 0], track[:, 1], color=color, lw=0.8, alpha=0.6, zorder=3)
    ego = _to_plot(ego_corners(np.zeros(3), PACIFICA))
    ax.add_patch(MplPolygon(ego, closed=True, facecolor="#2ca02c", edgecolor="k", lw=0.8, zorder=6))

    pdm = _to_plot(_local(origin, cache.trajectory_states[:, :2]))
    ax.plot(pdm[:, 0], pdm[:, 1], color="k", lw=2.0, zorder=7, label="PDM-Closed")

    if candidates is not None:
        cand = np.asarray(candidates, dtype=np.float64)
        if cand.ndim != 3 or cand.shape[-1] != 3:
            raise ValueError(f"candidates: expected [K, P, 3], got {cand.shape}")
        cmap = plt.get_cmap("RdYlGn")
        norm = colors.Normalize(0.0, 1.0)
        sc = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(len(cand))
        order = np.argsort(sc) if sc is not None else np.arange(len(cand))
        for k in order:
            xy = _to_plot(np.concatenate([np.zeros((1, 2)), cand[k, :, :2]], axis=0))
            c = "#888888" if sc is None else cmap(norm(sc[k]))
            ax.plot(xy[:, 0], xy[:, 1], color=c, lw=1.2, alpha=0.9, zorder=8)
        if chosen is not None:
            xy = _to_plot(np.concatenate([np.zeros((1, 2)), cand[chosen, :, :2]], axis=0))
            label = "chosen" + (f": {names[chosen]}" if names is not None else "")
            if sc is not None:
                label += f" (PDMS {sc[chosen]:.3f})"
            ax.plot(xy[:, 0], xy[:, 1], color="#08306b", lw=3.0, zorder=9, label=label)
            ax.plot(xy[-1, 0], xy[-1, 1], marker="*", ms=14, color="#08306b", zorder=10)
        if sc is not None:
            plt.colorbar(
                cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.035, pad=0.02, label="PDMS"
            )
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius * 0.5, radius * 1.5)
    ax.set_aspect("equal")
    ax.set_xlabel("right [m]  (−y of the ego frame)")
    ax.set_ylabel("forward [m]  (x of the ego frame)")
    ax.set_title(title or f"scene {cache.token}")
    ax.legend(loc="lower left", fontsize=8)
    return ax


def save_bev(path: str | Path, cache: MetricCache, dpi: int = 90, **kwargs: Any) -> Path:
    """:func:`plot_bev` into a PNG file (Agg backend, figure closed afterwards)."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    fig, ax = plt.subplots(figsize=(7, 7))
    plot_bev(cache, ax=ax, **kwargs)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p
