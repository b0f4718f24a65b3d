"""The future-consistency term as the pipeline uses it: agent input + candidates → geometric futures
(coloured LiDAR point cloud rendered along every candidate) → FC features → FC head → logit per candidate.

``GeometricFC`` is what ``configs/scorer/geometric_fc.yaml`` instantiates; with ``head=null`` it computes the
features only (logit 0), which is how the FC training data is produced. That yaml's ``model`` node is the one
source of its defaults: an argument left at ``None`` takes the yaml's value (:func:`geometric_fc_defaults`), so
``evaluate``, the closed loop, the navsim agent and Python callers build the same scorer.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from inspatio_drive.config import CONFIG_DIR
from inspatio_drive.contracts import Candidates, FCOutput
from inspatio_drive.contracts.selection import DRIVOR_V1, selection_score
from inspatio_drive.data.types import AgentInput
from inspatio_drive.render import build_point_cloud, render_candidates
from inspatio_drive.render.mono_depth import depth_from_config, wants_oracle_depth
from inspatio_drive.render.types import render_cameras
from inspatio_drive.sandbox.oracle import WORLD_FILE, Oracle
from inspatio_drive.world_model.condition import check_image_size
from inspatio_drive.world_model.factory import build_generator, resolve_device
from scorers.features import FeatureConfig, ScorerInputs, compute_features
from scorers.head import load_head

DEFAULTS_YAML = CONFIG_DIR / "scorer" / "geometric_fc.yaml"


@functools.cache
def _defaults() -> dict[str, Any]:
    node = OmegaConf.to_container(OmegaConf.load(DEFAULTS_YAML)["model"], resolve=True)
    assert isinstance(node, dict)
    node.pop("_target_", None)
    return node


def geometric_fc_defaults() -> dict[str, Any]:
    """:class:`GeometricFC`'s defaults: the ``model`` node of ``configs/scorer/geometric_fc.yaml`` without
    ``_target_`` (a copy; the one source of these values)."""
    return copy.deepcopy(_defaults())


def check_substeps(k: int, poses: int) -> int:
    """``k`` if ``poses · k + 1`` frames (t = 0 and the poses, ``0.5 / k`` s apart) is a length the world model takes
    (``4·L − 3``, L a multiple of 3 latent frames); else a ``ValueError`` listing the ks that fit."""

    def fits(kk: int) -> bool:
        n = poses * kk + 1
        return (n + 3) % 4 == 0 and ((n + 3) // 4) % 3 == 0

    if k < 1 or not fits(k):
        raise ValueError(f"generate_substeps: {k} gives {poses * k + 1} frames for {poses} poses; the world model takes "
                         f"4·L − 3 frames (L a multiple of 3): use one of {[kk for kk in range(1, 25) if fits(kk)]}")
    return k


def densify_poses(traj: torch.Tensor, k: int) -> torch.Tensor:
    """``[G, N, 3]`` poses 0.5 s apart → ``[G, (N − 1)·k + 1, 3]`` poses ``0.5 / k`` s apart: x, y and the unwrapped
    heading linearly interpolated (the originals are every k-th row)."""
    if k == 1:
        return traj
    t = traj.clone()
    dh = torch.diff(t[..., 2], dim=1)
    t[:, 1:, 2] = t[:, :1, 2] + torch.cumsum(torch.atan2(torch.sin(dh), torch.cos(dh)), 1)
    j = torch.arange((t.shape[1] - 1) * k + 1)
    i0 = torch.clamp(j // k, max=t.shape[1] - 1)
    i1 = torch.clamp(i0 + 1, max=t.shape[1] - 1)
    f = ((j % k).to(t.dtype) / k)[None, :, None]
    return t[:, i0] * (1 - f) + t[:, i1] * f



def current_lidar_points(agent_input: AgentInput) -> torch.Tensor | None:
    """The FC's point input: the current sweep's ``[N, 3]`` float32 xyz in the ego frame (LiDAR rows 0–2),
    ``None`` when no sweep is loaded or it is empty."""
    lidar = agent_input.lidars[-1].points if agent_input.lidars else None
    return None if lidar is None or lidar.size == 0 else torch.as_tensor(np.asarray(lidar[:3].T), dtype=torch.float32)

class GeometricFC:
    """Future consistency from the geometric renderer (honest by default: only the agent input is used).

    Every argument left at ``None`` takes its value from :func:`geometric_fc_defaults` (the yaml).

    Args:
        head: path of a ``train-fc`` safetensors checkpoint, or ``None`` for features only.
        cameras: cameras rendered (default DrivoR's four).
        image_size: ``(W, H)`` of the rendered views.
        times: how many of the 8 future poses are rendered (the first ``render_steps``).
        sweeps, voxel_size, splat: point-cloud and splatting knobs of :mod:`inspatio_drive.render`.
        features: :class:`scorers.features.FeatureConfig` overrides.
        mode: ``honest`` or ``privileged``.
        device: where to render (``cuda`` for the GPU path, ``auto`` = cuda when available).
        generator: a ``configs/generator`` node (``{name: inspatio, ...}``) → world-model frames for the
            ``generate_top`` best candidates by the planner's own selection score (DrivoR v1 weights), which add
            the generated-frame features (render agreement, camera-motion recovery); ``None`` or
            ``{name: geometric}`` → geometric features only.
        generate_size: ``(W, H)`` of the generated videos (multiples of 16), resized to ``image_size`` after.
        generate_substeps: k — the world model gets frames ``0.5 / k`` s apart (poses interpolated, ``8k + 1``
            frames for 8 poses; the generator needs ``4·L − 3`` frames with L a multiple of 3, so k ∈ {1, 4, 7, 10}:
            2, 8, 14, 20 fps); the features read every k-th generated frame (the 0.5 s poses). 1 = the 0.5 s poses
            themselves (docs/scorers.md, "World-model frame rate").
        depth: the cloud's geometry, ``lidar`` | ``depth_anything`` | ``da3`` | ``lidar+mono`` | ``oracle`` (with a
            ``depth_backend`` of the sandbox oracle's true depth) (camera-only futures,
            :func:`~inspatio_drive.render.mono_depth.depth_from_config`); ``mono``: its monocular depth node.
        exposure_match: match the cameras' exposures in the cloud.
        depth_backend: a :class:`~inspatio_drive.render.depth_backend.DepthBackend` object used instead of the
            one ``mono`` names (Python callers, e.g. the sandbox oracle's true depth for measuring).
    """

    def __init__(
        self,
        head: str | Path | None = None,
        cameras: Sequence[str] | None = None,
        image_size: Sequence[int] | None = None,
        render_steps: int | None = None,
        sweeps: int | None = None,
        voxel_size: float | None = None,
        splat: int | None = None,
        features: dict[str, Any] | None = None,
        mode: str | None = None,
        device: str | None = None,
        generator: dict[str, Any] | None = None,
        generate_top: int | None = None,
        generate_size: Sequence[int] | None = None,
        generate_substeps: int | None = None,
        depth: str | None = None,
        mono: dict[str, Any] | None = None,
        exposure_match: bool | None = None,
        depth_backend: Any = None,
    ) -> None:
        given = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        d = geometric_fc_defaults()
        unknown = sorted(set(d) - set(given))
        if unknown:
            raise ValueError(f"{DEFAULTS_YAML}: unknown GeometricFC keys {unknown}")
        v = {k: (d.get(k) if value is None else value) for k, value in given.items()}
        head, cameras, image_size, render_steps = v["head"], v["cameras"], v["image_size"], v["render_steps"]
        sweeps, voxel_size, splat, features, mode = v["sweeps"], v["voxel_size"], v["splat"], v["features"], v["mode"]
        device, generator, generate_top, generate_size = v["device"], v["generator"], v["generate_top"], v["generate_size"]
        self.generate_substeps = int(v["generate_substeps"])
        self.depth = str(v["depth"] or "lidar")
        self.exposure_match = bool(v["exposure_match"])
        if depth_backend is not None and self.depth == "lidar":
            raise ValueError("GeometricFC: depth_backend needs depth=depth_anything, da3, oracle or lidar+mono")
        self.mono = dict(v["mono"] or {})
        self.wants_oracle = depth_backend is None and wants_oracle_depth(self.depth, self.mono)
        #: the cloud uses the sandbox oracle's true depth: privileged (rows say so)
        self.privileged_depth = wants_oracle_depth(self.depth, self.mono)
        # oracle depth is looked up per scene (use_scene); other backends are built once
        self.pc_kw: dict[str, Any] | None = (
            None if self.wants_oracle else depth_from_config(self.depth, self.mono, backend=depth_backend))
        self.cameras = tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.render_steps = int(render_steps)
        self.sweeps, self.voxel_size, self.splat = int(sweeps), float(voxel_size), int(splat)
        self.feature_cfg = FeatureConfig.from_mapping(dict(features or {}))
        self.mode = mode
        self.device = str(resolve_device(str(device)))
        self.generator = None
        self.generator_name = "geometric"
        if generator is not None and dict(generator).get("name", "geometric") != "geometric":

            check_substeps(self.generate_substeps, self.render_steps)
            self.generator = build_generator(dict(generator))
            self.generator_name = str(dict(generator)["name"])
        self.generate_top = int(generate_top)
        self.generate_size = (int(generate_size[0]), int(generate_size[1]))
        check_image_size(self.generate_size, "generate_size")
        self.head = None
        self.head_path = None if head is None else str(head)
        if head is not None:

            self.head, info = load_head(head)
            self.head.eval()
            if info["privileged"] and mode != "privileged":
                raise ValueError(f"{head}: this FC head was trained on privileged features; set mode=privileged")

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        """What the FC term reads (see :data:`planners.protocol.SensorNeeds`): its cameras at every history frame
        (:func:`~inspatio_drive.render.build_point_cloud` colours the merged cloud from all history images) and the
        LiDAR of the last ``sweeps`` frames (the current one included) — none with a camera-only ``depth``."""
        n = num_history_frames
        needs = {cam.lower(): list(range(n)) for cam in self.cameras}
        if self.depth != "lidar+mono" and self.depth != "lidar":  # camera-only: no LiDAR read
            return needs
        needs["lidar_pc"] = list(range(max(0, n - self.sweeps), n))
        return needs

    def use_scene(self, scene: Any, sensor_blobs: str | Path | None) -> None:
        """Called by the evaluation before each scene: with ``depth=oracle`` (the sandbox oracle's true depth, a
        perfect monocular model — privileged, for measuring) the depth of this scene's history images is rendered
        by the oracle of its world (``<sensor_blobs>/<log>/sandbox_world.json``)."""
        if not self.wants_oracle:
            return
        folder = None if sensor_blobs is None else Path(sensor_blobs) / scene.scene_metadata.log_name
        if folder is None or not (folder / WORLD_FILE).is_file():
            raise ValueError(f"depth=oracle: scene {scene.scene_metadata.initial_token} is not a sandbox scene "
                             f"(no {WORLD_FILE} under {folder})")
        depths = Oracle(folder).history_depths(scene, list(self.cameras), frames=int(self.mono.get("frames", 1)))
        self.pc_kw = depth_from_config(self.depth, self.mono, oracle_depths=depths)

    def point_cloud(self, agent_input: AgentInput, names: Sequence[str]) -> Any:
        """The coloured cloud of the agent input's ``names`` cameras (and LiDAR, by ``depth``)."""
        if self.pc_kw is None:
            raise ValueError("GeometricFC: depth=oracle needs use_scene(scene, sensor_blobs) first (the evaluation "
                             "calls it) or a depth_backend")
        return build_point_cloud(agent_input, sweeps=self.sweeps, voxel_size=self.voxel_size, cameras=list(names),
                                 exposure_match=self.exposure_match, **self.pc_kw)

    def render(self, agent_input: AgentInput, poses: torch.Tensor) -> tuple[Any, Any]:
        """Geometric futures ``(RenderBatch [K, T, C, H, W], RenderCameras)`` of the first ``render_steps``
        poses; ``(None, None)`` when the agent input has none of the cameras."""

        current = agent_input.cameras[-1]
        names = [n for n in self.cameras if n in current]
        if not names:
            return None, None
        points = self.point_cloud(agent_input, names)
        cams = render_cameras(current, names)
        batch = render_candidates(points, poses[:, : self.render_steps], cams, self.image_size, splat=self.splat,
                                  device=self.device)
        return batch, cams

    def scorer_inputs(self, agent_input: AgentInput, poses: torch.Tensor, batch: Any, cams: Any) -> ScorerInputs:
        """The features' inputs of candidates ``poses [K, T, 3]`` (float64, current rear-axle frame): the current
        LiDAR (:func:`current_lidar_points`) and the render ``batch`` / ``cams`` of :meth:`render` (None: no
        camera, the image features are then absent); no generated frames."""
        inputs = ScorerInputs(candidates=poses, points=current_lidar_points(agent_input))
        if batch is not None:
            inputs.intrinsics = batch.intrinsics
            inputs.T_ego_cam = cams.T_ego_cam
            inputs.render_depth, inputs.render_valid, inputs.render_rgb = batch.depth, batch.valid, batch.rgb
            inputs.render_poses = poses[:, : self.render_steps]
        return inputs

    def __call__(self, agent_input: AgentInput, candidates: Candidates) -> FCOutput:
        poses = candidates.poses.detach().to(torch.float64).cpu()
        batch, cams = self.render(agent_input, poses)
        inputs = self.scorer_inputs(agent_input, poses, batch, cams)
        if self.generator is not None and batch is not None and self.render_steps == poses.shape[1]:
            inputs.generated_index = self._top(candidates)
            inputs.generated_rgb = self.generate(agent_input, poses[inputs.generated_index], cams)
        table = compute_features(inputs, self.feature_cfg, self.mode)  # type: ignore[arg-type]
        features = {name: table.column(name).detach().float() for name in table.names}
        if self.head is None:
            logit = torch.zeros(candidates.num_candidates)
        else:
            with torch.no_grad():
                logit = self.head(table.select(self.head.feature_names)).float().reshape(-1)
        return FCOutput(logit=logit, features=features, privileged=self.mode == "privileged" or self.privileged_depth,
                        extras={"render": batch, "generator": self.generator_name,
                                "generated_index": inputs.generated_index})

    def _top(self, candidates: Candidates) -> torch.Tensor:
        """Indices ``[G]`` of the ``generate_top`` best candidates by the planner's own selection score."""
        k = candidates.num_candidates
        g = min(self.generate_top, k)
        if not candidates.logits:
            return torch.arange(g)

        score = selection_score(candidates.logits, DRIVOR_V1).detach().float()
        return torch.argsort(torch.nan_to_num(score, nan=-torch.inf), descending=True)[:g]

    def generate(self, agent_input: AgentInput, poses: torch.Tensor, cams: Any) -> torch.Tensor:
        """World-model futures ``[G, T, C, 3, H, W]`` (float in [0, 1], at ``image_size``) of candidates
        ``poses [G, T, 3]``: per camera, one batched rollout over the G candidates sharing the source context."""

        assert self.generator is not None
        w, h = self.generate_size
        names = list(cams.names)
        points = self.point_cloud(agent_input, names)
        k = self.generate_substeps
        traj = densify_poses(torch.cat([torch.zeros(poses.shape[0], 1, 3, dtype=poses.dtype), poses], 1), k)  # t = 0 first
        times = torch.arange(traj.shape[1], dtype=torch.float64) * (0.5 / k)
        cond = render_candidates(points, traj, cams, (w, h), times=times, splat=self.splat, device=self.device)
        per_cam = []
        for c, name in enumerate(names):
            image = agent_input.cameras[-1][name].image
            source = torch.from_numpy(np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR)).copy())
            source = source.permute(2, 0, 1)[None].float() / 255.0
            blocks = self.generator.generate(source, cond.rgb[:, :, c].float() / 255.0, cond.valid[:, :, c].float())
            video = torch.cat([b.frames.float().cpu() for b in blocks], 1)[:, k::k]  # the 0.5 s poses: [G, T, 3, h, w]
            g, t = video.shape[:2]
            small = torch.nn.functional.interpolate(video.flatten(0, 1), size=(self.image_size[1], self.image_size[0]),
                                                    mode="bilinear", align_corners=False)
            per_cam.append(small.reshape(g, t, 3, self.image_size[1], self.image_size[0]).clamp(0, 1))
        return torch.stack(per_cam, 2)
