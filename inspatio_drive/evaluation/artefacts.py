"""Per-scene artefacts of an evaluation run, for the viewer: a BEV plot of every candidate coloured by its
PDM score (base and FC choices marked; with ``metric=epdms`` coloured by EPDMS, the red-light connectors drawn,
red-light crossings and lane-keeping failures marked: :func:`epdms_overlay`) and, for the chosen candidates, four synced videos at 2 Hz from
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
import shapely
import torch
from PIL import Image

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE, PACIFICA
from inspatio_drive.data import SceneLoader, SensorConfig
from inspatio_drive.evaluation.epdms import EPDMS_SHORT
from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2
from inspatio_drive.pdm.cache.bev import plot_bev
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.v2 import SUBMETRICS, EPDMSCache
from inspatio_drive.render import build_point_cloud, render_candidates
from inspatio_drive.render.types import render_cameras
from inspatio_drive.sandbox.oracle import Oracle, load_world
from inspatio_drive.viewer import CandidateArtefact, SceneArtefacts, write_mp4, write_scene_artefacts

SHORT = DRIVOR_HEAD_TO_SUBSCORE  # navsim name → NC, DAC, DDC, TTC, EP, C


def _plot_xy(origin: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Global ``[..., 2]`` → the BEV's plot coordinates (initial rear-axle frame, forward = up, left = left)."""
    pts = np.concatenate([xy, np.zeros((*xy.shape[:-1], 1))], axis=-1)
    local = absolute_to_relative_se2(origin, pts)[..., :2]
    return np.stack([-local[..., 1], local[..., 0]], axis=-1)


def epdms_overlay(ax: Any, cache: EPDMSCache, results: Any, lane_limit_m: float = 0.5) -> dict[str, Any]:
    """Draw the EPDMS failures on a BEV of ``cache`` (:func:`~inspatio_drive.pdm.cache.bev.plot_bev` axes).

    * every red on-route lane connector of the scene (red at some step of the 4 s), filled red;
    * every candidate with ``traffic_light_compliance = 0``: a red ✕ at its ego-box centre at the first step where
      the box touches a connector that is red at that step (the crossing);
    * every candidate with ``lane_keeping = 0``: orange dots on its simulated box-centre path where it is more than
      ``lane_limit_m`` off the PDM centerline (the lane-keeping failure).

    Args:
        results: the scene's :class:`~inspatio_drive.pdm.v2.EPDMSResults` (its ``states [K, 41, 11]``).
    Returns:
        What was drawn: ``red_lights`` (connector ids), ``red_light_crossings`` {candidate: step},
        ``lane_keeping_failures`` [candidates].
    """
    origin = cache.base.initial_state[:3]
    rl = cache.red_lights
    drawn: dict[str, Any] = {"red_lights": [], "red_light_crossings": {}, "lane_keeping_failures": []}
    for cid, poly, active in zip(rl.connector_ids, rl.polygons, rl.active, strict=True):
        if not active.any():
            continue
        xy = _plot_xy(origin, np.asarray(poly.exterior.coords))
        ax.fill(xy[:, 0], xy[:, 1], color="red", alpha=0.35, zorder=3,
                label=None if drawn["red_lights"] else "red light (on-route connector)")
        drawn["red_lights"].append(cid)
    states = np.asarray(results.states, np.float64)
    for k in np.flatnonzero(np.asarray(results["traffic_light_compliance"]) == 0.0):
        boxes = shapely.polygons(ego_corners(states[k, :, :3], PACIFICA))  # [T]
        steps = [t for poly, active in zip(rl.polygons, rl.active, strict=True)
                 for t in np.flatnonzero(active[: len(boxes)] & shapely.intersects(boxes, poly))]
        if not steps:
            continue
        t = int(min(steps))
        centre = _plot_xy(origin, shapely.get_coordinates(shapely.centroid(boxes[t])))[0]
        ax.plot([centre[0]], [centre[1]], marker="X", ms=11, color="red", mec="black", ls="", zorder=7,
                label=None if drawn["red_light_crossings"] else "red-light crossing (TLC = 0)")
        drawn["red_light_crossings"][int(k)] = t
    line = cache.base.centerline.linestring
    for k in np.flatnonzero(np.asarray(results["lane_keeping"]) == 0.0):
        centres = shapely.centroid(shapely.polygons(ego_corners(states[k, :, :3], PACIFICA)))
        off = shapely.distance(centres, line) > lane_limit_m
        xy = _plot_xy(origin, shapely.get_coordinates(centres[off]))
        ax.plot(xy[:, 0], xy[:, 1], ls="", marker="o", ms=5, mec="black", mew=0.4, color="darkorange", zorder=6,
                label=None if drawn["lane_keeping_failures"] else f"lane-keeping failure (LK = 0): > {lane_limit_m} m off")
        drawn["lane_keeping_failures"].append(int(k))
    return drawn


def bev_png(cache: Any, poses: np.ndarray, scores: np.ndarray, base: int, fc: int, title: str,
            results: Any = None) -> tuple[bytes, dict[str, Any]]:
    """The scene's BEV (PNG bytes) with every candidate coloured by its score, the FC choice thick, the base
    choice boxed; an EPDMS cache (with its ``results``) adds :func:`epdms_overlay`, whose findings are returned."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    epdms = isinstance(cache, EPDMSCache)
    ax = plot_bev(cache.base if epdms else cache, poses, scores, chosen=fc, title=title)
    end = poses[base, -1]
    ax.plot([-end[1]], [end[0]], marker="s", ms=9, mfc="none", mec="blue", mew=2, ls="", label=f"base choice #{base}")
    drawn = epdms_overlay(ax, cache, results) if epdms and results is not None else {}
    legend = ax.legend(fontsize=7, loc="lower left")
    if epdms:  # plot_bev speaks of PDMS: the colours are EPDMS here
        for text in legend.get_texts():
            text.set_text(text.get_text().replace("PDMS", "EPDMS"))
        for other in ax.figure.axes:
            if other.get_ylabel() == "PDMS":
                other.set_ylabel("EPDMS (without EC)")
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(ax.figure)
    return buf.getvalue(), drawn


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
        metric_label = "EPDMS" if task.metric == "epdms" else "PDMS"
        best = int(np.nanargmax(np.where(np.isnan(scores), -np.inf, scores)))
        shown = {plan.base_index: "base choice"}
        if plan.fc is not None:
            shown[plan.fc_index] = "base = fc choice" if plan.fc_index == plan.base_index else "fc choice"
        shown.setdefault(best, f"best by {metric_label}")
        bev, _ = bev_png(cache, poses.numpy(), scores, plan.base_index, plan.fc_index,
                         f"{token}: {plan.candidates.num_candidates} candidates by {metric_label}"
                         + (" (without EC)" if metric_label == "EPDMS" else ""), results)
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
            sub = ({EPDMS_SHORT[k]: float(results[k][index]) for k in SUBMETRICS} if metric_label == "EPDMS"
                   else {SHORT[k]: float(getattr(results, k)[index]) for k in SHORT})
            fc_feats = {} if plan.fc is None else {k: float(v[index]) for k, v in plan.fc.features.items()}
            cands.append(CandidateArtefact(index, label, float(scores[index]), sub,
                                           None if plan.fc is None else float(plan.fc.prob[index]), fc_feats, videos))
            if "future" in videos:
                grid.append(np.concatenate([v for k, v in videos.items() if k in ("render", "future", "oracle")], 2))
        art = SceneArtefacts(token, 2.0, cands, {"base": float(scores[plan.base_index]), "fc": float(scores[plan.fc_index])},
                             {"base": plan.base_index, "fc": plan.fc_index},
                             mode="privileged" if task.privileged else "honest", planner=task.planner_name,
                             generator=str(cfg.get("generator", {}).get("name", "geometric")) if isinstance(cfg.get("generator"), Mapping) else "geometric",
                             camera=camera, bev_png=bev, metric=metric_label)
        folder = write_scene_artefacts(art, out)
        written["scenes"].append(folder)
        if grid:
            video = write_mp4(np.concatenate(grid, 1), folder / "futures_grid.mp4", fps=2.0)
            written["videos"].append(video)
    return written
