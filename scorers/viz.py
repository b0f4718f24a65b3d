"""Pictures of the FC features: bird's-eye view of candidates against observed points.

``python -m scorers.viz <out.png>`` draws the picture for a procedural scene (the README figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from scorers.free_space import FreeSpaceResult
from scorers.vehicle import PACIFICA


def plot_candidates_bev(
    candidates: Tensor,
    points: Tensor,
    result: FreeSpaceResult,
    path: str | Path,
    *,
    fc_prob: Tensor | None = None,
    title: str = "free space along candidates",
) -> Path:
    """BEV (x forward up, y left to the left) of obstacle points and candidates coloured by min clearance
    (intruding candidates dashed red); with ``fc_prob`` the best candidate by FC is drawn thick."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first
    from matplotlib import colors  # lazy: plotting only; the Agg backend is chosen first

    c = candidates.detach().double().numpy()
    p = torch.as_tensor(points).double().numpy()
    clr = result.min_clearance.numpy()
    fig, ax = plt.subplots(figsize=(4.2, 4.6), dpi=100)
    ax.scatter(-p[:, 1], p[:, 0], s=1, c="0.4", label="observed points")
    norm = colors.Normalize(0, 5)
    cmap = plt.get_cmap("viridis")
    best = int(torch.argmax(fc_prob)) if fc_prob is not None else -1
    for k in range(c.shape[0]):
        xy = np.vstack([[0, 0], c[k, :, :2]])
        intr = bool(torch.isfinite(result.first_intrusion_s[k]))
        ax.plot(
            -xy[:, 1], xy[:, 0], color="red" if intr else cmap(norm(clr[k])), ls="--" if intr else "-",
            lw=3 if k == best else 1, alpha=0.9,
        )  # fmt: skip
    hl, hw, off = PACIFICA.half_length, PACIFICA.half_width, PACIFICA.rear_axle_to_center
    ax.add_patch(plt.Rectangle((-hw, off - hl), 2 * hw, 2 * hl, fc="none", ec="k", lw=1))
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, shrink=0.7, label="min clearance (m); red dashed: intrusion")
    ax.set_aspect("equal")
    ax.set_xlabel("−y (m, right)")
    ax.set_ylabel("x (m, forward)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def demo_scene(seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fan of 24 candidates and point clusters (parked cars, a wall) — procedural, for the figure."""
    rng = np.random.default_rng(seed)
    t = 0.5 * np.arange(1, 9)
    cands = []
    for speed in (4.0, 8.0, 11.0):
        for curv in np.linspace(-0.025, 0.025, 8):
            s = speed * t
            psi = curv * s
            cands.append(
                np.stack(
                    [np.sin(psi) / curv if curv else s, (1 - np.cos(psi)) / curv if curv else 0 * s, psi], -1
                )
            )
    pts = []
    for cx, cy in ((20.0, 0.3), (32.0, -6.0), (14.0, 8.0)):  # car-sized clusters
        pts.append(
            np.column_stack(
                [
                    rng.uniform(cx - 2.3, cx + 2.3, 300),
                    rng.uniform(cy - 1, cy + 1, 300),
                    rng.uniform(0.4, 1.6, 300),
                ]
            )
        )
    pts.append(
        np.column_stack(
            [
                rng.uniform(0, 45, 600),
                np.full(600, -12.0) + rng.normal(0, 0.05, 600),
                rng.uniform(0.3, 2.5, 600),
            ]
        )
    )
    return torch.from_numpy(np.stack(cands)), torch.from_numpy(np.concatenate(pts))
