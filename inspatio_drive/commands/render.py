"""``inspatio-drive render``: InSpatio-World condition files for one scene + candidate (``configs/render.yaml``)."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from inspatio_drive.closed_loop.geometric import sandbox_oracle
from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.config import SettingError
from inspatio_drive.data import DataConfig, resolve_data_paths, scene_loader_from_config
from inspatio_drive.data.candidates import read_candidates
from inspatio_drive.geometry.camera_path import CameraPathOptions
from inspatio_drive.geometry.intrinsics import resize_rule
from inspatio_drive.geometry.se2 import absolute_to_relative_se2
from inspatio_drive.render.condition import export_condition
from inspatio_drive.render.fidelity import sandbox_agent_input
from inspatio_drive.render.grid import labelled_grid, save_grid
from inspatio_drive.render.mono_depth import depth_from_config
from inspatio_drive.render.point_cloud import build_point_cloud
from inspatio_drive.render.renderer import render_candidates
from inspatio_drive.render.synthetic import make_street, synthetic_agent_input
from inspatio_drive.render.types import RenderCameras
from inspatio_drive.sandbox import Oracle
from inspatio_drive.world_model.caption import Florence2Captioner

log = logging.getLogger(__name__)


def load_source(cfg: Any) -> dict[str, Any]:
    """Agent input (or scene), logged future ``[8, 3]``, tracks, rig and provenance for ``cfg.source``."""
    source = str(cfg.source)
    pc_kw = {
        "sweeps": int(cfg.point_cloud.sweeps),
        "voxel_size": float(cfg.point_cloud.voxel_size),
        "visibility_width": int(cfg.point_cloud.visibility_width),
        "exposure_match": bool(cfg.point_cloud.exposure_match),
    }
    mono = OmegaConf.to_container(cfg.mono, resolve=True)
    if source == "synthetic" or (source == "navsim" and str(cfg.depth) != "oracle" and mono["backend"] != "oracle"):
        pc_kw.update(depth_from_config(str(cfg.depth), mono))  # type: ignore[arg-type]
    if source == "synthetic":

        size = tuple(int(v) for v in cfg.data.history_image_size)
        agent_input, street = synthetic_agent_input(
            make_street(float(cfg.data.synthetic_step)), image_size=size
        )
        logged = np.stack([street.ego_pose(0.5 * k) for k in range(1, 9)])
        tracks = street.tracks(np.arange(-3, 9) * 0.5)
        pc = build_point_cloud(agent_input, tracks=tracks, **pc_kw)
        rig = RenderCameras.from_cameras(agent_input.cameras[-1], image_size=size)
        return {
            "points": pc,
            "logged": logged,
            "rig": rig,
            "image": agent_input.cameras[-1],
            "provenance": {"source": "synthetic street", "depth": str(cfg.depth)},
        }
    if source == "sandbox":

        if not cfg.data.sandbox_dir:
            raise ValueError("source=sandbox needs data.sandbox_dir (a folder with sandbox_world.json)")
        oracle = Oracle(cfg.data.sandbox_dir)
        t_now = float(cfg.data.t_now)
        cams = tuple(oracle.rig)
        agent_input, tracks, ego0, depths = sandbox_agent_input(oracle, t_now, cameras=cams, with_depth=True)
        pc_kw.update(depth_from_config(str(cfg.depth), mono, depths))  # type: ignore[arg-type]
        logged = absolute_to_relative_se2(
            ego0, np.stack([oracle.world.ego.at(t_now + 0.5 * k)["pose"] for k in range(1, 9)])
        )
        pc = build_point_cloud(agent_input, tracks=tracks, **pc_kw)
        rig = RenderCameras.from_cameras(
            agent_input.cameras[-1], image_size=(oracle.config.width, oracle.config.height)
        )
        return {
            "points": pc,
            "logged": logged,
            "rig": rig,
            "image": agent_input.cameras[-1],
            "provenance": {"source": "sandbox", "world": oracle.world.name, "t_now": t_now, "depth": str(cfg.depth)},
        }
    if source == "navsim":
        loader = scene_loader_from_config(navsim_data_node(cfg.data))
        if not loader.tokens:
            raise ValueError(f"data: no scenes in {navsim_data_node(cfg.data)} after the scene filter")
        token = str(cfg.data.scene_token or loader.tokens[0])
        if not cfg.data.scene_token:
            log.info("scene      %s (the first of the split; choose with data.scene_token=...)", token)
        scene = loader.get_scene_from_token(token)
        privileged = str(cfg.dynamic_mode) == "privileged"
        if str(cfg.depth) == "oracle" or (str(cfg.depth) == "lidar+mono" and mono["backend"] == "oracle"):
            _, blobs, _ = resolve_data_paths(navsim_data_node(cfg.data))
            oracle = sandbox_oracle(blobs, scene.scene_metadata.log_name)
            if oracle is None:
                raise SettingError(f"depth=oracle: scene {token} is not a sandbox scene (no sandbox_world.json)")
            pc_kw.update(depth_from_config(str(cfg.depth), mono, oracle.history_depths(scene, frames=int(mono['frames']))))  # type: ignore[arg-type]
        pc = build_point_cloud(scene, use_annotations=privileged, **pc_kw)
        cams = scene.frames[scene.current_index].cameras
        return {
            "points": pc,
            "logged": scene.get_future_trajectory(8).astype(np.float64),
            "rig": RenderCameras.from_cameras(cams),
            "image": cams,
            "provenance": {"source": "navsim", "scene_token": token, "depth": str(cfg.depth)},
        }
    raise ValueError(f"source must be synthetic, sandbox or navsim, got {source!r}")


def navsim_data_node(data: Any) -> dict[str, Any]:
    """The ``data`` keys of the data room (:class:`~inspatio_drive.data.DataConfig`) for ``source=navsim``, defaulted
    as in every command (:meth:`~inspatio_drive.data.DataConfig.split_name`): no data root → the bundled sample;
    ``split: null`` → the only split folder there. ``scene_token`` is left out: render picks it from the split."""
    schema = {f.name for f in fields(DataConfig)} - {"scene_token"}  # data.* also holds the sandbox / synthetic knobs
    node = {k: v for k, v in data.items() if k in schema}
    if node.get("data_root") in (None, "", "null"):
        node["data_root"] = None
    node["split"] = DataConfig.from_node(node).split_name()
    return node


def load_candidates(spec: str | None, logged: np.ndarray, interval_s: float | None = None,
                    resample: bool = False) -> np.ndarray:
    """``logged`` (or None) or a candidates file (``.npy`` / ``.npz`` / ``.json``, :func:`~inspatio_drive.data.candidates.read_candidates`:
    ``[K, 8, 3]`` / ``[8, 3]`` at 0.5 s; other samplings only with ``resample``) → float64 ``[K, 8, 3]``."""
    if spec in (None, "logged"):
        return logged[None].astype(np.float64)
    cands = read_candidates(spec, interval_s=interval_s, resample=resample, resample_knob="candidates_resample")
    if cands.resampled:
        log.info("render: %s: %s", spec, cands.describe_resampling())
    return cands.poses


def path_options(node: Any) -> CameraPathOptions:
    """The ``path`` node → :class:`~inspatio_drive.geometry.camera_path.CameraPathOptions` (values checked)."""
    return CameraPathOptions(
        trajectory_file=None if node.trajectory_file in (None, "", "null") else str(node.trajectory_file),
        relative_to_source=bool(node.relative_to_source),
        rotation_only=bool(node.rotation_only),
        spline=str(node.spline),
        adaptive_frames=bool(node.adaptive_frames),
        freeze_repeat=int(node.freeze_repeat),
        freeze_frame=None if node.freeze_frame is None else int(node.freeze_frame),
    )


@handles_user_errors("render")
def main(overrides: list[str]) -> int:
    cfg = compose_command("render", "render", overrides)
    if cfg is None:
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opts = path_options(cfg.path)  # knob values checked before the (slow) source is loaded
    rule = resize_rule(str(cfg.source), str(cfg.intrinsics_resize))
    src = load_source(cfg)
    src["rig"] = src["rig"].with_resize_rule(rule)
    cands = load_candidates(cfg.candidates, src["logged"], cfg.candidates_interval_s, bool(cfg.candidates_resample))
    k = int(cfg.candidate)
    if not 0 <= k < len(cands):
        raise ValueError(f"candidate: {k} out of range; expected 0..{len(cands) - 1} (the candidates file has {len(cands)} candidates)")
    camera = str(cfg.camera)
    cam = src["image"].get(camera) if isinstance(src["image"], dict) else None
    out = Path(str(cfg.output_dir))
    files = export_condition(
        out,
        src["points"],
        cands[k],
        src["rig"],
        camera,
        tuple(int(v) for v in cfg.image_size),
        float(cfg.fps),
        int(cfg.render.splat),
        int(cfg.render.hole_fill),
        str(cfg.dynamic_mode),
        int(cfg.video.crf),
        int(cfg.video.mask_crf),
        None if cam is None else cam.image,
        {**src["provenance"], "candidate": k, "intrinsics_resize": src["rig"].resize_rule},
        path_options=opts,
    )
    if cfg.grid.enabled:
        n = min(len(cands), int(cfg.grid.max_candidates))
        rb = render_candidates(
            src["points"],
            torch.as_tensor(cands[:n]),
            src["rig"].subset([camera]),
            tuple(int(v) for v in cfg.grid.image_size),
            splat=int(cfg.render.splat),
            hole_fill=int(cfg.render.hole_fill),
            dynamic_mode=str(cfg.dynamic_mode),
        )
        labels = ["logged"] if cfg.candidates in (None, "logged") else [f"cand {i}" for i in range(n)]
        files["grid"] = save_grid(out / "grid.png", labelled_grid(rb, camera, candidate_labels=labels))
    if cfg.caption.path:
        if cam is None:
            raise ValueError(f"caption.path: no image of {camera} in this source to caption")
        captioner = Florence2Captioner(
            str(cfg.caption.path), str(cfg.caption.device), task=str(cfg.caption.task),
            max_new_tokens=int(cfg.caption.max_new_tokens),
        )  # fmt: skip
        meta = json.loads(files["meta"].read_text())
        meta["caption"] = captioner(cam.image)
        files["meta"].write_text(json.dumps(meta, indent=1))
        log.info("caption    %s", meta["caption"])
    for name, path in files.items():
        log.info("%-11s %s", name, path)
    return 0
