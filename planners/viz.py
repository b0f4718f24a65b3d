"""Bird's-eye-view picture of candidates, their selection scores and the chosen one (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar


def plot_candidates_bev(
    candidates: Candidates,
    scores: torch.Tensor | None = None,
    selected: int | None = None,
    points: np.ndarray | None = None,
    ax: object = None,
    title: str = "",
    extent: tuple[float, float, float, float] = (-10.0, 50.0, -25.0, 25.0),
) -> object:
    """Draw one scene's candidates ``[K, T, 3]`` (x forward = up, y left = left), coloured by the rank of
    ``scores [K]`` (higher = yellower), the ``selected`` one in red, and optional LiDAR ``points [N, >=3]`` (ego frame;
    grey = ground z < 0.2 m, black = obstacles). Returns the matplotlib axes."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    if points is not None and len(points):
        ground = points[:, 2] < 0.2
        ax.scatter(-points[ground, 1], points[ground, 0], s=0.3, c="0.8", lw=0)
        ax.scatter(-points[~ground, 1], points[~ground, 0], s=1.0, c="k", lw=0)
    poses = candidates.poses.detach().cpu().numpy()
    cmap = plt.get_cmap("viridis")
    s = None if scores is None else scores.detach().cpu().double().numpy()
    if s is not None:  # colour by rank (scores span orders of magnitude)
        s = np.nan_to_num(s, nan=-np.inf)
        s = np.argsort(np.argsort(s, kind="stable"), kind="stable") / max(len(s) - 1, 1)
    order = np.argsort(s) if s is not None else range(len(poses))
    for k in order:
        xy = np.vstack([[0.0, 0.0], poses[k, :, :2]])
        ax.plot(-xy[:, 1], xy[:, 0], color=cmap(s[k]) if s is not None else "tab:blue", lw=1.0, alpha=0.9)
    if selected is not None:
        xy = np.vstack([[0.0, 0.0], poses[selected, :, :2]])
        ax.plot(-xy[:, 1], xy[:, 0], color="red", lw=2.5, label="selected")
        ax.legend(loc="lower right", fontsize=8)
    ax.plot([0], [0], marker="^", color="red", ms=8)
    ax.set_xlim(-extent[3], -extent[2])
    ax.set_ylim(extent[0], extent[1])
    ax.set_aspect("equal")
    ax.set_xlabel("-y (m, right)")
    ax.set_ylabel("x (m, forward)")
    ax.set_title(title, fontsize=9)
    return ax


def save_figure(fig: object, path: str | Path, dpi: int = 90) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")  # type: ignore[attr-defined]
    return path


def rules_demo_scene() -> tuple[object, np.ndarray]:
    """A synthetic scene for the README picture: a 10.8 m road between curbs, observed to 45 m, a parked car
    in the ego lane 18-22.5 m ahead, ego at 9 m/s going straight. Returns ``(agent_input, points [N, 3])``."""

    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.arange(-5, 45, 0.4), np.arange(-5, 5.01, 0.4))
    ground = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
    cx, cy, cz = np.meshgrid(np.arange(18, 22.5, 0.15), np.arange(-1.0, 1.0, 0.15), np.arange(0.4, 1.6, 0.3))
    car = np.stack([cx.ravel(), cy.ravel(), cz.ravel()], 1)
    xs = np.arange(-5, 45, 0.2)
    curbs = np.concatenate(
        [np.stack([xs, np.full_like(xs, s * 5.4), np.full_like(xs, 0.5)], 1) for s in (-1, 1)]
    )
    pts = np.concatenate([ground, car, curbs]) + rng.normal(0, 0.02, (len(ground) + len(car) + len(curbs), 3))
    lidar = np.zeros((6, len(pts)), np.float32)
    lidar[:3] = pts.T
    status = EgoStatus(
        np.zeros(3), np.array([9.0, 0], np.float32), np.zeros(2, np.float32), np.array([0, 1, 0, 0])
    )
    return AgentInput([status], [{}], [Lidar(lidar)]), pts
