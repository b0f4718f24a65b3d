"""Per-scene artefacts of an evaluation run, for the viewer: a BEV plot of every candidate coloured by its
PDM score (base and FC choices marked) and, for the chosen candidates, four synced videos at 2 Hz from
t = 0 to 4 s: the logged source camera, the geometric render condition, the imagined future (hole-filled
render, or world-model frames when the InSpatio generator ran) and, on sandbox scenes, the oracle view.
An mp4 grid (candidates × panels) of the imagined futures is written beside them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE
from inspatio_drive.data import SceneLoader, SensorConfig
from inspatio_drive.geometry.se2 import relative_to_absolute_se2
from inspatio_drive.pdm.cache.bev import plot_bev
from inspatio_drive.render import build_point_cloud, render_candidates
from inspatio_drive.render.types import render_cameras
from inspatio_drive.sandbox.oracle import Oracle, load_world
from inspatio_drive.viewer import CandidateArtefact, SceneArtefacts, write_mp4, write_scene_artefacts

SHORT = DRIVOR_HEAD_TO_SUBSCORE  # navsim name → NC, DAC, DDC, TTC, EP, C


def _bev_png(cache: Any, poses: np.ndarray, scores: np.ndarray, base: int, fc: int, title: str) -> bytes:
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    ax = plot_bev(cache, poses, scores, chosen=fc, title=title)
    end = poses[base, -1]
    ax.plot([-end[1]], [end[0]], marker="s", ms=9, mfc="none", mec="blue", mew=2, ls="", label=f"base choice #{base}")
    ax.legend(fontsize=7, loc="lower left")
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(ax.figure)
    return buf.getvalue()


def _with_origin(poses: torch.Tensor) -> torch.Tensor:
    """``[T, 3]`` → ``[T + 1, 3]`` with the current pose (0, 0, 0) first."""
    return torch.cat([torch.zeros(1, 3, dtype=poses.dtype), poses])


def _render_panels(agent_input: Any, poses: torch.Tensor, camera: str, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Geometric render condition and hole-filled future of one candidate, ``[T + 1, H, W, 3]`` each."""

    current = agent_input.cameras[-1]
    names = [n for n in ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0") if n in current and current[n].image is not None]
    if camera not in current:
        return {}
    points = build_point_cloud(agent_input, cameras=names or None, voxel_size=0.05)
    cams = render_cameras(current, [camera])
    traj = _with_origin(poses.double())[None]
    times = torch.arange(traj.shape[1], dtype=torch.float64) * 0.5
    out = {}
    for panel, splat, fill in (("render", 2, 0), ("future", 3, 4)):
        batch = render_candidates(points, traj, cams, size, times=times, hole_fill=fill, splat=splat, outputs=("rgb",))
        out[panel] = batch.rgb[0, :, 0].permute(0, 2, 3, 1).cpu().numpy()
    return out


def _source_panel(scene: Any, camera: str, n: int, size: tuple[int, int]) -> np.ndarray | None:
    frames = []
    for f in scene.frames[scene.current_index: scene.current_index + n]:
        cam = f.cameras.get(camera)
        if cam is None or cam.image is None:
            return None
        frames.append(np.asarray(Image.fromarray(cam.image).resize(size, Image.BILINEAR)))
    return np.stack(frames) if len(frames) == n else None


def _oracle_panel(blobs: Path, scene: Any, ref_start: int, poses: torch.Tensor, camera: str,
                  size: tuple[int, int]) -> np.ndarray | None:
    world_file = blobs / scene.scene_metadata.log_name / "sandbox_world.json"
    if not world_file.is_file():
        return None

    world, cfg = load_world(world_file)
    cfg.width, cfg.height = size
    oracle = Oracle(world, cfg)
    origin = np.asarray(scene.frames[scene.current_index].ego_status.ego_pose, np.float64)
    t0 = 0.5 * (ref_start + scene.current_index)
    global_poses = relative_to_absolute_se2(origin, _with_origin(poses.double()).numpy())
    frames = [oracle.render(camera, g, t0 + 0.5 * i).rgb for i, g in enumerate(global_poses)]
    return np.stack(frames)


def write_artefacts(task: Any, tokens: Sequence[str], out: Path, cfg: Mapping[str, Any],
                    camera: str = "CAM_F0", size: tuple[int, int] = (320, 180)) -> dict[str, Any]:
    """BEV + videos of ``tokens`` under ``out/<token>/`` (see module docstring); returns written paths."""

    written: dict[str, Any] = {"scenes": [], "videos": []}
    loader = task.loader
    full = SceneLoader(task.logs_path, task.blobs_path, loader.scene_filter,
                       SensorConfig.build_all_sensors(), lenient=True, show_progress=False)
    for token in tokens:
        _, plan, results, cache, _ = task.plan_and_score(token)
        scene = full.get_scene_from_token(token)
        agent_input = full.get_agent_input_from_token(token)
        poses = plan.candidates.poses.detach().cpu()
        scores = np.asarray(results.score, np.float64)
        best = int(np.nanargmax(np.where(np.isnan(scores), -np.inf, scores)))
        shown = {plan.base_index: "base choice"}
        if plan.fc is not None:
            shown[plan.fc_index] = "base = fc choice" if plan.fc_index == plan.base_index else "fc choice"
        shown.setdefault(best, "best by PDMS")
        bev = _bev_png(cache, poses.numpy(), scores, plan.base_index, plan.fc_index,
                       f"{token}: {plan.candidates.num_candidates} candidates by PDMS")
        source = _source_panel(scene, camera, poses.shape[1] + 1, size)
        cands = []
        grid = []
        for index, label in shown.items():
            videos: dict[str, Any] = {}
            if source is not None:
                videos["source"] = source
            videos.update(_render_panels(agent_input, poses[index], camera, size))
            oracle = _oracle_panel(task.blobs_path, scene, full.scene_ref(token).start, poses[index], camera, size)
            if oracle is not None:
                videos["oracle"] = oracle
            sub = {SHORT[k]: float(getattr(results, k)[index]) for k in SHORT}
            fc_feats = {} if plan.fc is None else {k: float(v[index]) for k, v in plan.fc.features.items()}
            cands.append(CandidateArtefact(index, label, float(scores[index]), sub,
                                           None if plan.fc is None else float(plan.fc.prob[index]), fc_feats, videos))
            if "future" in videos:
                grid.append(np.concatenate([v for k, v in videos.items() if k in ("render", "future", "oracle")], 2))
        art = SceneArtefacts(token, 2.0, cands, {"base": float(scores[plan.base_index]), "fc": float(scores[plan.fc_index])},
                             {"base": plan.base_index, "fc": plan.fc_index},
                             mode="privileged" if task.privileged else "honest", planner=task.planner_name,
                             generator=str(cfg.get("generator", {}).get("name", "geometric")) if isinstance(cfg.get("generator"), Mapping) else "geometric",
                             camera=camera, bev_png=bev)
        folder = write_scene_artefacts(art, out)
        written["scenes"].append(folder)
        if grid:
            video = write_mp4(np.concatenate(grid, 1), folder / "futures_grid.mp4", fps=2.0)
            written["videos"].append(video)
    return written
