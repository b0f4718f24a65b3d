"""The world model on the sandbox: V2V training clips from the oracle, and held-out evaluation against it.

Clips (:func:`build_sandbox_clips`): for a sandbox world at ``t_now``, the agent input (4 history frames of
CAM_F0 and LiDAR, :func:`~inspatio_drive.render.fidelity.sandbox_agent_input`) becomes a coloured point cloud;
for each trajectory (the logged future and the render-fidelity perturbations, frame 0 = now) the clip holds

* ``source``: the current CAM_F0 image (a static-world source, as the planners use the generator);
* ``render`` / ``mask``: the geometric render along the trajectory (splat 2, ``hole_fill`` iterations,
  privileged actor tracks) and where it has content;
* ``target``: the oracle's TRUE view from the same poses at the same times (perfect V2V targets).

Evaluation (:func:`evaluate_world_model`): on held-out clips, the generator's imagined frames and the geometric
render with hole filling (the renderer's nearest-neighbour fill, then OpenCV Telea inpainting of what is still
empty, and a frame with nothing rendered holds the previous filled frame, so the baseline has no black holes) are compared with the oracle: PSNR / SSIM over the whole frame and on
the render's holes (``mask == 0``), frames 1..T-1 (frame 0 is the given current frame).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2
from inspatio_drive.render.fidelity import PERTURBATIONS, perturb, sandbox_agent_input
from inspatio_drive.render.metrics import masked_psnr, masked_ssim
from inspatio_drive.render.point_cloud import build_point_cloud
from inspatio_drive.render.renderer import render_candidates
from inspatio_drive.render.types import RenderCameras
from inspatio_drive.sandbox.oracle import Oracle, RenderConfig
from inspatio_drive.sandbox.scenarios import SCENARIOS, generate_scene
from inspatio_drive.world_model.inpaint import inpaint_holes
from inspatio_drive.world_model.training.data import Clip, ClipDataset, load_clip, save_clip

CAMERA = "CAM_F0"


def scene_list(seeds: Sequence[int], scenarios: Sequence[str] | None) -> list[tuple[str, int]]:
    """``(scenario, seed)`` for world seeds ``range(*seeds)``, scenarios cycled."""

    names = list(scenarios) if scenarios else sorted(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"sandbox.scenarios: unknown {sorted(unknown)}; expected some of {sorted(SCENARIOS)}")
    lo, hi = int(seeds[0]), int(seeds[1])
    return [(names[i % len(names)], s) for i, s in enumerate(range(lo, hi))]


def world_clips(
    scenario: str,
    seed: int,
    width: int,
    height: int,
    frames: int,
    dt: float,
    t_now: float,
    trajectories: Sequence[str],
    hole_fill: int = 1,
) -> list[Clip]:
    """The V2V clips of one sandbox world (see the module docstring)."""

    unknown = set(trajectories) - set(PERTURBATIONS)
    if unknown:
        raise ValueError(f"sandbox.trajectories: unknown {sorted(unknown)}; expected some of {sorted(PERTURBATIONS)}")
    world = generate_scene(scenario, seed, extra_time=max(4.0, dt * frames))
    oracle = Oracle(world, RenderConfig(width=width, height=height, workers=1))
    agent_input, tracks, ego0 = sandbox_agent_input(oracle, t_now, cameras=(CAMERA,))
    pc = build_point_cloud(agent_input, voxel_size=0.1, tracks=tracks, visibility_width=width)
    times = dt * np.arange(frames)
    future = np.stack([world.ego.at(t_now + t)["pose"] for t in times[1:]])
    logged = absolute_to_relative_se2(ego0, future)
    trajs = np.stack([np.concatenate([np.zeros((1, 3)), perturb(logged, *PERTURBATIONS[n])]) for n in trajectories])
    rig = RenderCameras.from_rig({CAMERA: (oracle.rig[CAMERA].K, oracle.rig[CAMERA].T_ego_cam)}, (width, height))
    rb = render_candidates(pc, trajs, rig, times=times, splat=2, hole_fill=hole_fill, dynamic_mode="privileged")
    source = torch.as_tensor(oracle.render(CAMERA, ego0, t_now, frame="local").rgb).permute(2, 0, 1)[None]
    poses = np.concatenate([relative_to_absolute_se2(ego0, tr) for tr in trajs])  # [P·T, 3], one cast per time
    views = oracle.render_batch([CAMERA], poses, np.tile(t_now + times, len(trajs)), frame="local")
    clips = []
    for p, name in enumerate(trajectories):
        target = torch.stack([torch.as_tensor(v[0].rgb).permute(2, 0, 1) for v in views[p * frames : (p + 1) * frames]])
        render = rb.rgb[p, :, 0].contiguous()
        mask = rb.valid[p, :, 0].to(torch.uint8) * 255
        meta = {"scene": world.name, "scenario": scenario, "seed": seed, "trajectory": name, "t_now": t_now,
                "dt": dt, "camera": CAMERA}
        clips.append(Clip(source.clone(), target, render, mask, None, meta))
    return clips


def build_sandbox_clips(out_dir: str | Path, sandbox: Mapping[str, Any], progress: bool = True) -> dict[str, int]:
    """Write the clips of the train and val worlds into ``out_dir`` (existing clip files are kept: resumable)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [("train", sc, s) for sc, s in scene_list(sandbox["train_seeds"], sandbox["scenarios"])]
    jobs += [("val", sc, s) for sc, s in scene_list(sandbox["val_seeds"], sandbox["scenarios"])]

    counts = {"train": 0, "val": 0}
    for split, scenario, seed in tqdm(jobs, desc="sandbox clips", unit="world", disable=not progress):
        names = [f"{split}-{scenario}-{seed:06d}-{t}.safetensors" for t in sandbox["trajectories"]]
        if all((out / n).is_file() for n in names):
            counts[split] += len(names)
            continue
        clips = world_clips(scenario, seed, int(sandbox["width"]), int(sandbox["height"]), int(sandbox["frames"]),
                            float(sandbox["dt"]), float(sandbox["t_now"]), list(sandbox["trajectories"]),
                            int(sandbox["hole_fill"]))
        for name, clip in zip(names, clips):
            clip.meta = {**(clip.meta or {}), "split": split}
            save_clip(out / name, clip)
        counts[split] += len(clips)
    return counts


def _hwc(video: torch.Tensor) -> torch.Tensor:
    return video.permute(0, 2, 3, 1)


def clip_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """PSNR / SSIM of a [T, 3, H, W] video against the target over frames 1.. (whole frame, holes only, and PSNR on
    the rendered pixels); hole / valid PSNR pool the squared error over those pixels of the clip."""
    p, r = _hwc(pred[1:]), _hwc(target[1:])
    holes = mask[1:] == 0
    full = torch.ones_like(holes)
    pf, rf = p.double() / 255.0, r.double() / 255.0
    err = ((pf - rf) ** 2).mean(-1)
    n_holes = int(holes.sum())
    psnr_holes = float(10 * torch.log10(1.0 / (err[holes].mean()).clamp_min(1e-12))) if n_holes else float("nan")
    ssim_h = masked_ssim(p, r, holes)
    valid = ~holes
    psnr_valid = float(10 * torch.log10(1.0 / (err[valid].mean()).clamp_min(1e-12))) if bool(valid.any()) else float("nan")
    return {
        "psnr_valid": psnr_valid,
        "psnr": float(masked_psnr(p.reshape(1, -1, *p.shape[2:]), r.reshape(1, -1, *r.shape[2:]),
                                  full.reshape(1, -1, full.shape[-1]))[0]),
        "ssim": float(masked_ssim(p, r, full).mean()),
        "psnr_holes": psnr_holes,
        "ssim_holes": float(torch.nanmean(ssim_h)) if n_holes else float("nan"),
        "hole_fraction": n_holes / holes.numel(),
    }


def generate_clip(generator: Any, clip: Clip, seed: int = 0) -> torch.Tensor:
    """The generator's imagined video of a V2V clip, [T, 3, H, W] uint8 (one stream, streamed blocks)."""
    frames = [b.frames[0] for b in generator.generate(clip.source, clip.render[None], clip.mask[None] > 0, seed=seed)]
    return (torch.cat(frames).clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()


def evaluate_world_model(
    generator: Any, data_dir: str | Path, split: str, out_dir: str | Path, seed: int = 0,
    figure_frames: Sequence[int] = (4, 12, 20), progress: bool = True,
) -> dict[str, Any]:
    """Metrics of the generator and of the inpainted render on the V2V clips of ``split``; writes
    ``eval.json`` and ``samples.png`` (render | generated | oracle) into ``out_dir``."""

    ds = ClipDataset(data_dir, split)
    rows = []
    example = None
    for path in tqdm(ds.files, desc=f"evaluate {split}", unit="clip", disable=not progress):
        clip = load_clip(path)
        if not clip.has_condition:
            continue
        gen = generate_clip(generator, clip, seed)
        base = inpaint_holes(clip.render, clip.mask)  # type: ignore[arg-type]
        m_gen = clip_metrics(gen, clip.target, clip.mask)  # type: ignore[arg-type]
        m_base = clip_metrics(base, clip.target, clip.mask)  # type: ignore[arg-type]
        rows.append({"clip": path.name, **{f"model_{k}": v for k, v in m_gen.items()},
                     **{f"render_{k}": v for k, v in m_base.items()}})
        if example is None or m_base["hole_fraction"] > example[3]["hole_fraction"]:
            example = (clip, gen, base, m_base)
    if not rows:
        raise ValueError(f"{data_dir}: no V2V clips (with render and mask) in split {split!r}")
    keys = [k for k in rows[0] if k != "clip"]
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    summary = {"split": split, "clips": len(rows), "mean": mean, "rows": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(summary, indent=1))
    if example is not None:
        clip, gen, base, _ = example
        save_figure(out / "samples.png", clip, gen, base, figure_frames)
    return summary


def save_figure(path: Path, clip: Clip, generated: torch.Tensor, baseline: torch.Tensor,
                frames: Sequence[int]) -> Path:
    """Rows = frames; columns render (holes magenta) | render + inpainting | generated | oracle."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    frames = [f for f in frames if f < clip.target.shape[0]]
    dt = float((clip.meta or {}).get("dt", 0.5))
    render = clip.render.clone()  # type: ignore[union-attr]
    holes = clip.mask == 0  # type: ignore[operator]
    render.permute(0, 2, 3, 1)[holes] = torch.tensor([255, 0, 255], dtype=torch.uint8)
    cols = [("render (holes magenta)", render), ("render + hole filling", baseline), ("generated", generated),
            ("oracle", clip.target)]
    fig, axes = plt.subplots(len(frames), len(cols), figsize=(2.6 * len(cols), 1.5 * len(frames) + 0.4), squeeze=False)
    for i, f in enumerate(frames):
        for j, (title, video) in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(video[f].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"t = +{f * dt:.1f} s", fontsize=9)
    fig.suptitle(f"{(clip.meta or {}).get('scene', '')} / {(clip.meta or {}).get('trajectory', '')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
