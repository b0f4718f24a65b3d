"""``inspatio-drive figures``: redraw the pictures of the documentation (docs/img) from the sandbox and
synthetic scenes (configs/figures.yaml)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.contracts.selection import DRIVOR_V1, select
from inspatio_drive.geometry.se2 import absolute_to_relative_se2
from inspatio_drive.render.fidelity import perturb, sandbox_agent_input
from inspatio_drive.render.grid import candidate_grid, save_grid
from inspatio_drive.render.point_cloud import build_point_cloud
from inspatio_drive.render.renderer import render_candidates
from inspatio_drive.render.types import RenderCameras
from inspatio_drive.sandbox import LidarModel, RenderConfig
from inspatio_drive.sandbox.figures import contact_sheet, plot_bev
from inspatio_drive.sandbox.oracle import Oracle
from inspatio_drive.sandbox.scenarios import generate_scene
from planners.constant_velocity import ConstantVelocityPlanner
from planners.scoring import RuleBasedScorer
from planners.viz import plot_candidates_bev, rules_demo_scene, save_figure
from scorers.free_space import free_space
from scorers.viz import demo_scene
from scorers.viz import plot_candidates_bev as plot_free_space_bev


def sandbox_figures(out: Path, scenario: str = "unprotected_left_turn", seed: int = 0) -> None:
    world = generate_scene(scenario, seed)
    t = 1.5
    views = Oracle(world).render_rig(None, t)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(contact_sheet(views)).quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(
        out / "sandbox_contact_sheet.png", optimize=True)
    v = views["CAM_F0"]
    depth = np.where(np.isfinite(v.depth), v.depth, np.nan)
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    fig, axes = plt.subplots(1, 3, figsize=(12, 2.5), dpi=80)
    axes[0].imshow(v.rgb)
    axes[1].imshow(1.0 / depth, cmap="magma")
    inst = np.ma.masked_less(v.instance, 1)  # objects only; sky and ground left white
    axes[2].imshow(inst % 20, cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
    for a, title in zip(axes, ("CAM_F0 rgb", "inverse depth", "instance id (objects)")):
        a.set_title(title, fontsize=9)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out / "sandbox_oracle_f0.png")
    plt.close(fig)
    plot_bev(world, t, out / "sandbox_bev.png")
    print(f"wrote {out}/sandbox_contact_sheet.png, sandbox_oracle_f0.png, sandbox_bev.png")


def planners_figure(out: Path) -> None:
    """The rule scorer + DrivoR v1 selection picture of docs/planners.md."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    agent_input, pts = rules_demo_scene()
    fan = ConstantVelocityPlanner(
        yaw_rates=tuple(np.linspace(-0.3, 0.3, 8)), speed_factors=tuple(np.linspace(0.2, 1.4, 8))
    )
    cands = RuleBasedScorer()(fan.propose(agent_input), agent_input)  # type: ignore[arg-type]
    sel = select(cands, DRIVOR_V1)
    fig, ax = plt.subplots(figsize=(4.2, 4.6))
    title = "64 constant-turn candidates, rule-based logits,\nDrivoR v1 selection (parked car ahead)"
    plot_candidates_bev(cands, sel.scores, int(sel.index), pts, ax=ax, title=title, extent=(-5, 45, -12, 12))
    print(save_figure(fig, out, dpi=80))


def scorers_figure(out: Path) -> None:
    """The free-space picture of docs/scorers.md."""
    cands, pts = demo_scene()
    res = free_space(cands, pts)
    plot_free_space_bev(cands, pts, res, out, title="free space: 24 candidates, 3 cars, a wall")
    print(out)



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

FIGURES = ("sandbox", "render", "planners", "scorers")


@handles_user_errors("figures")
def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive figures [out=docs/img] [which=[sandbox,render,planners,scorers]]``: redraw the
    documentation pictures (docs/img/*.png)."""
    cfg = compose_command("figures", "figures", overrides)
    if cfg is None:
        return 2
    out, which = Path(str(cfg.out)), [str(w) for w in cfg.which]
    unknown = sorted(set(which) - set(FIGURES))
    if unknown:
        print(f"inspatio-drive figures: which: unknown {unknown}; expected some of {list(FIGURES)}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if "sandbox" in which:
        sandbox_figures(out)
    if "render" in which:
        print(sandbox_figure(str(out / "render_grid.png")))
    if "planners" in which:
        planners_figure(out / "planners_rules_bev.png")
    if "scorers" in which:
        scorers_figure(out / "scorers_free_space.png")
    return 0
