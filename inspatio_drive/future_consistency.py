"""The future-consistency term as the pipeline uses it: agent input + candidates → geometric futures
(coloured LiDAR point cloud rendered along every candidate) → FC features → FC head → logit per candidate.

``GeometricFC`` is what ``configs/scorer/geometric_fc.yaml`` instantiates; with ``head=null`` it computes the
features only (logit 0), which is how the FC training data is produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspatio_drive.data.types import AgentInput
from inspatio_drive.pipeline import FCOutput
from planners.protocol import Candidates


class GeometricFC:
    """Future consistency from the geometric renderer (honest by default: only the agent input is used).

    Args:
        head: path of a ``train-fc`` safetensors checkpoint, or ``None`` for features only.
        cameras: cameras rendered (default DrivoR's four).
        image_size: ``(W, H)`` of the rendered views.
        times: how many of the 8 future poses are rendered (the first ``render_steps``).
        sweeps, voxel_size, splat: point-cloud and splatting knobs of :mod:`inspatio_drive.render`.
        features: :class:`scorers.features.FeatureConfig` overrides.
        mode: ``honest`` or ``privileged``.
        device: where to render (``cuda`` for the GPU path).
    """

    def __init__(
        self,
        head: str | Path | None = None,
        cameras: Sequence[str] = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"),
        image_size: Sequence[int] = (160, 90),
        render_steps: int = 8,
        sweeps: int = 4,
        voxel_size: float = 0.15,
        splat: int = 1,
        features: dict[str, Any] | None = None,
        mode: str = "honest",
        device: str = "cpu",
    ) -> None:
        from scorers.features import FeatureConfig

        self.cameras = tuple(cameras)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.render_steps = int(render_steps)
        self.sweeps, self.voxel_size, self.splat = int(sweeps), float(voxel_size), int(splat)
        self.feature_cfg = FeatureConfig.from_mapping(dict(features or {}))
        self.mode = mode
        self.device = device
        self.head = None
        self.head_path = None if head is None else str(head)
        if head is not None:
            from scorers.head import load_head

            self.head, info = load_head(head)
            self.head.eval()
            if info["privileged"] and mode != "privileged":
                raise ValueError(f"{head}: this FC head was trained on privileged features; set mode=privileged")

    def render(self, agent_input: AgentInput, poses: torch.Tensor) -> tuple[Any, Any]:
        """Geometric futures ``(RenderBatch [K, T, C, H, W], RenderCameras)`` of the first ``render_steps``
        poses; ``(None, None)`` when the agent input has none of the cameras."""
        from inspatio_drive.render import RenderCameras, build_point_cloud, render_candidates

        current = agent_input.cameras[-1]
        names = [n for n in self.cameras if n in current]
        if not names:
            return None, None
        points = build_point_cloud(agent_input, sweeps=self.sweeps, voxel_size=self.voxel_size, cameras=names)
        cams = RenderCameras.from_cameras({n: current[n] for n in names})
        batch = render_candidates(points, poses[:, : self.render_steps], cams, self.image_size, splat=self.splat,
                                  device=self.device)
        return batch, cams

    def __call__(self, agent_input: AgentInput, candidates: Candidates) -> FCOutput:
        from scorers.features import ScorerInputs, compute_features

        poses = candidates.poses.detach().to(torch.float64).cpu()
        lidar = agent_input.lidars[-1].points if agent_input.lidars else None
        points = None if lidar is None or lidar.size == 0 else torch.as_tensor(np.asarray(lidar[:3].T), dtype=torch.float32)
        batch, cams = self.render(agent_input, poses)
        inputs = ScorerInputs(candidates=poses, points=points)
        if batch is not None:
            inputs.intrinsics = batch.intrinsics
            inputs.T_ego_cam = cams.T_ego_cam
            inputs.render_depth, inputs.render_valid, inputs.render_rgb = batch.depth, batch.valid, batch.rgb
            inputs.render_poses = poses[:, : self.render_steps]
        table = compute_features(inputs, self.feature_cfg, self.mode)  # type: ignore[arg-type]
        features = {name: table.column(name).detach().float() for name in table.names}
        if self.head is None:
            logit = torch.zeros(candidates.num_candidates)
        else:
            with torch.no_grad():
                logit = self.head(table.select(self.head.feature_names)).float().reshape(-1)
        return FCOutput(logit=logit, features=features, privileged=self.mode == "privileged",
                        extras={"render": batch})
