"""Bird's-eye view of a scored scene: drivable area, centerline, objects, PDM-Closed and candidates by PDMS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

from inspatio_drive.pdm.scorer import PDMResults, ego_box_coords
from inspatio_drive.pdm.types import MetricCache

__all__ = ["plot_bev"]

_LAYER_COLORS = {
    "ROADBLOCK": "#e8e8e8",
    "INTERSECTION": "#d9d9d9",
    "CARPARK_AREA": "#e3eed8",
    "LANE": "#cfd8e3",
    "LANE_CONNECTOR": "#dcd3e6",
}


def plot_bev(
    cache: MetricCache, results: PDMResults, path: str | Path, radius: float = 45.0, dpi: int = 80
) -> Path:
    """Draw the scene around the initial ego pose and write a PNG.

    Drivable-area polygons (by layer), the route centerline, object boxes at t = 0 (and their future centres),
    the simulated PDM-Closed reference (dashed black) and every simulated candidate coloured by its PDMS
    (red = 0 … green = 1), the ego box at t = 0. Axes are the map frame relative to the initial rear axle.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = cache.initial_state[:2]
    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    dam = cache.drivable_area_map
    for layer in ("ROADBLOCK", "INTERSECTION", "CARPARK_AREA", "LANE", "LANE_CONNECTOR"):
        for i in dam.indices_of([layer]):
            xy = np.asarray(shapely.get_coordinates(dam.polygons[i].exterior)) - origin
            ax.fill(xy[:, 0], xy[:, 1], color=_LAYER_COLORS[layer], ec="#b0b0b0", lw=0.4, zorder=0)
    cl = cache.centerline.path[:, :2] - origin
    ax.plot(cl[:, 0], cl[:, 1], color="#4a78c2", lw=1.0, ls=":", zorder=1, label="centerline")
    obs = cache.observation
    for m in range(obs.num_objects):
        present = np.flatnonzero(obs.present[m])
        if len(present) == 0:
            continue
        box = obs.corners[m, present[0]] - origin
        ax.fill(box[:, 0], box[:, 1], color="#8a5a2b", alpha=0.8, zorder=3)
        track = obs.corners[m, present].mean(axis=1) - origin
        ax.plot(track[:, 0], track[:, 1], color="#8a5a2b", lw=0.8, alpha=0.6, zorder=3)
    cmap = plt.get_cmap("RdYlGn")
    for k in np.argsort(results.score):
        xy = results.states[k, :, :2] - origin
        ax.plot(xy[:, 0], xy[:, 1], color=cmap(float(results.score[k])), lw=1.4, alpha=0.9, zorder=4)
    ref = results.reference.get("states")
    if ref is not None:
        xy = np.asarray(ref)[:, :2] - origin
        ax.plot(xy[:, 0], xy[:, 1], color="black", lw=1.6, ls="--", zorder=5, label="PDM-Closed")
    ego = ego_box_coords(cache.initial_state[None])[0, :4] - origin
    ax.fill(ego[:, 0], ego[:, 1], color="#2b5fa8", zorder=6, label="ego (t = 0)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, fraction=0.046, pad=0.04, label="candidate PDMS")
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    ax.set_xlabel("x - x0 [m]")
    ax.set_ylabel("y - y0 [m]")
    ax.set_title(f"scene {cache.token}: {len(results)} candidates")
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
