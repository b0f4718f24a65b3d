"""Figures of a sandbox scene: the 8-camera contact sheet and a bird's-eye view (BEV).

    python -m inspatio_drive.sandbox.figures OUT_DIR [scenario] [seed]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from inspatio_drive.sandbox.actors import EGO_LENGTH, EGO_REAR_TO_CENTER, EGO_WIDTH
from inspatio_drive.sandbox.oracle import View
from inspatio_drive.sandbox.world import World

#: contact-sheet layout (rows of camera names; None = blank tile)
SHEET_LAYOUT = (("CAM_L0", "CAM_F0", "CAM_R0"), ("CAM_L1", None, "CAM_R1"), ("CAM_L2", "CAM_B0", "CAM_R2"))
CLASS_COLORS = {"vehicle": "tab:blue", "pedestrian": "tab:red", "bicycle": "tab:orange", "traffic_cone": "orange",
                "barrier": "tab:gray", None: "0.55"}


def contact_sheet(views: dict[str, View], label: bool = True) -> NDArray[np.uint8]:
    """Tile the 8 camera images ``[H, W, 3]`` into a 3×3 sheet ``[3H, 3W, 3]`` (centre tile blank)."""

    h, w = views["CAM_F0"].rgb.shape[:2]
    sheet = np.full((3 * h, 3 * w, 3), 255, np.uint8)
    for r, row in enumerate(SHEET_LAYOUT):
        for c, name in enumerate(row):
            if name is not None:
                sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = views[name].rgb
    if label:
        img = Image.fromarray(sheet)
        draw = ImageDraw.Draw(img)
        for r, row in enumerate(SHEET_LAYOUT):
            for c, name in enumerate(row):
                if name is not None:
                    draw.rectangle([c * w + 3, r * h + 3, c * w + 62, r * h + 16], fill=(0, 0, 0))
                    draw.text((c * w + 6, r * h + 4), name, fill=(255, 255, 255))
        sheet = np.asarray(img)
    return sheet


def _box(x: float, y: float, h: float, length: float, width: float) -> NDArray[np.float64]:
    c, s = np.cos(h), np.sin(h)
    corners = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1], [1, 1]]) * [length / 2, width / 2]
    return corners @ np.array([[c, s], [-s, c]]) + [x, y]


def plot_bev(world: World, t: float, path: str | os.PathLike[str], radius: float = 60.0) -> Path:
    """Bird's-eye view around the ego at ``t``: map layers, actors (by class), ego box and its logged path."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    net = world.network
    ego = world.ego.at(t)["pose"]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=90)

    def poly(p, **kw) -> None:  # type: ignore[no-untyped-def]
        for g in getattr(p, "geoms", [p]):
            ax.fill(*g.exterior.xy, **kw)

    for p in net.walkways.values():
        poly(p, color="0.85", lw=0)
    for p in net.carparks.values():
        poly(p, color="0.7", lw=0)
    for g in net.lane_groups.values():
        poly(g.polygon, color="0.45", lw=0)
    for c in net.connectors.values():
        poly(c.polygon, color="0.5", lw=0, alpha=0.6)
    for p in net.intersections.values():
        poly(p, color="0.5", lw=0)
    for p in net.crosswalks.values():
        poly(p, facecolor="none", edgecolor="w", hatch="||", lw=0)
    for lane in net.lanes.values():
        ax.plot(*lane.baseline.xy, color="w", lw=0.5, ls=(0, (4, 6)))
    red = {f for f, is_red in world.traffic_lights if is_red}
    for c in net.connectors.values():
        ax.plot(*c.baseline.xy, color="tab:red" if c.fid in red else "tab:green", lw=0.6, alpha=0.7)
    ax.plot(*world.route_path.xy, color="gold", lw=2.0, alpha=0.8, label="route")
    poses, _ = world.actor_states(t)
    for k, a in enumerate(world.actors):
        if a.kind in ("building", "wall"):
            ax.fill(*_box(*poses[k], a.size[0], a.size[1]).T, color="0.3", alpha=0.9)
            continue
        b = _box(*poses[k], a.size[0], a.size[1])
        ax.plot(*b.T, color=CLASS_COLORS.get(a.name, "0.55"), lw=1.2)
    traj = world.ego.at(np.arange(0.0, world.frame_times[-1] + 1e-9, 0.5))["pose"]
    ax.plot(traj[:, 0], traj[:, 1], "o-", color="tab:purple", ms=2.5, lw=1.2, label="ego (2 Hz)")
    cx = ego[0] + EGO_REAR_TO_CENTER * np.cos(ego[2])
    cy = ego[1] + EGO_REAR_TO_CENTER * np.sin(ego[2])
    ax.fill(*_box(cx, cy, ego[2], EGO_LENGTH, EGO_WIDTH).T, color="tab:purple")
    ax.set_xlim(ego[0] - radius, ego[0] + radius)
    ax.set_ylim(ego[1] - radius, ego[1] + radius)
    ax.set_aspect("equal")
    ax.set_title(f"{world.name}  t = {t:.1f} s", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
