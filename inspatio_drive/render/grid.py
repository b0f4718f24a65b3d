"""Picture of a :class:`RenderBatch`: a grid of candidates (rows) × time (columns) for one camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

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


def labelled_grid(
    batch: RenderBatch,
    camera: int | str = 0,
    times_s: Sequence[float] | None = None,
    candidate_labels: Sequence[str] | None = None,
    gap: int = 2,
    hole_color: tuple[int, int, int] = (255, 0, 255),
) -> NDArray[np.uint8]:
    """:func:`candidate_grid` with what a reader needs around it: a title line naming the camera, the time of
    every column (``t = +0.5 s`` ...; default: pose ``j`` at ``0.5·(j+1)`` s), the label of every row
    (default ``cand k``) and a legend swatch for the hole colour ("no rendered point").

    Returns:
        uint8 ``[H', W', 3]`` image (white margins: left for the row labels, top for the title and times,
        bottom for the legend)."""
    grid = candidate_grid(batch, camera, gap=gap, hole_color=hole_color)
    c = batch.camera_names.index(camera) if isinstance(camera, str) else int(camera)
    k_count, t_count = batch.valid.shape[:2]
    h, w = batch.valid.shape[-2:]
    times = [0.5 * (j + 1) for j in range(t_count)] if times_s is None else list(times_s)
    labels = [f"cand {k}" for k in range(k_count)] if candidate_labels is None else list(candidate_labels)
    font = ImageFont.load_default()
    line = 14
    left = 8 + max(int(font.getlength(text)) for text in labels)
    top, bottom = 2 * line + 6, line + 8
    out = Image.new("RGB", (left + grid.shape[1] + 4, top + grid.shape[0] + bottom), (255, 255, 255))
    out.paste(Image.fromarray(grid), (left, top))
    draw = ImageDraw.Draw(out)
    black = (0, 0, 0)
    draw.text((4, 2), f"camera {batch.camera_names[c]}: candidates (rows) x time after now (columns)",
              fill=black, font=font)
    for j, t in enumerate(times):
        draw.text((left + j * (w + gap) + 2, line + 4), f"t = +{t:g} s", fill=black, font=font)
    for i, text in enumerate(labels):
        draw.text((4, top + i * (h + gap) + max(0, h // 2 - line // 2)), text, fill=black, font=font)
    y = top + grid.shape[0] + 4
    draw.rectangle((left, y, left + line, y + line - 2), fill=hole_color, outline=black)
    draw.text((left + line + 6, y), "hole: no rendered point (unobserved from the history)", fill=black, font=font)
    return np.asarray(out, dtype=np.uint8)


def save_grid(path: str | Path, grid: NDArray[np.uint8]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)
    return path
