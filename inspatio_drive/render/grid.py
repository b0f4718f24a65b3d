"""Picture of a :class:`RenderBatch`: a grid of candidates (rows) × time (columns) for one camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inspatio_drive.render.types import RenderBatch


def candidate_grid(
    batch: RenderBatch,
    camera: int | str = 0,
    candidates: Sequence[int] | None = None,
    times: Sequence[int] | None = None,
    gap: int = 2,
    hole_color: tuple[int, int, int] = (255, 0, 255),
) -> NDArray[np.uint8]:
    """uint8 ``[rows·(H+gap), cols·(W+gap), 3]`` image: row = candidate, column = time step.

    Holes (pixels without content) are painted ``hole_color`` so coverage is visible."""
    c = batch.camera_names.index(camera) if isinstance(camera, str) else int(camera)
    k_count, t_count = batch.valid.shape[:2]
    ks = list(range(k_count)) if candidates is None else list(candidates)
    ts = list(range(t_count)) if times is None else list(times)
    h, w = batch.valid.shape[-2:]
    out = np.full((len(ks) * (h + gap) - gap, len(ts) * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, k in enumerate(ks):
        for j, t in enumerate(ts):
            img = batch.rgb[k, t, c].permute(1, 2, 0).cpu().numpy().copy()
            img[~batch.valid[k, t, c].cpu().numpy()] = hole_color
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img
    return out


def save_grid(path: str | Path, grid: NDArray[np.uint8]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)
    return path
