"""Picture of a :class:`RenderBatch`: a grid of candidates (rows) × time (columns) for one camera."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

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
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, optimize=True)
    return path


def sandbox_figure(
    path: str | Path,
    scenario: str = "cut_in",
    seed: int = 3,
    t_now: float = 1.5,
    num_candidates: int = 5,
    image_size: tuple[int, int] = (480, 270),
    tile_size: tuple[int, int] = (160, 90),
    camera: str = "CAM_F0",
) -> Path:
    """The README picture: a sandbox scene's candidates (rows: a fan of lateral offsets / speeds around the
    logged future) × the 8 future poses (columns), one camera, holes in magenta."""
    import torch

    from inspatio_drive.geometry.se2 import absolute_to_relative_se2
    from inspatio_drive.render.fidelity import perturb, sandbox_agent_input
    from inspatio_drive.render.point_cloud import build_point_cloud
    from inspatio_drive.render.renderer import render_candidates
    from inspatio_drive.render.types import RenderCameras
    from inspatio_drive.sandbox import LidarModel, Oracle, RenderConfig, generate_scene

    world = generate_scene(scenario, seed, num_frames=14, density=0.5)
    oracle = Oracle(world, RenderConfig(image_size[0], image_size[1], LidarModel(32, 1024), 0.1))
    agent_input, tracks, ego0 = sandbox_agent_input(oracle, t_now)
    pc = build_point_cloud(agent_input, tracks=tracks)
    logged = absolute_to_relative_se2(
        ego0, np.stack([world.ego.at(t_now + 0.5 * k)["pose"] for k in range(1, 9)])
    )
    offsets = np.linspace(-2.0, 2.0, num_candidates)
    trajs = np.stack([perturb(logged, o, 1.0, 0.1 * o) for o in offsets])
    rig = RenderCameras.from_cameras(agent_input.cameras[-1], image_size=image_size)
    rb = render_candidates(
        pc,
        torch.as_tensor(trajs),
        rig.subset([camera]),
        tile_size,
        splat=2,
        hole_fill=1,
        dynamic_mode="privileged",
    )
    return save_grid(path, candidate_grid(rb))


if __name__ == "__main__":
    import sys

    print(sandbox_figure(sys.argv[1] if len(sys.argv) > 1 else "docs/img/render_grid.png"))
