"""Wrapper around an installed official DrivoR (its navsim fork, ``navsim.agents.drivoR``).

The official code needs its navsim fork, nuplan-devkit, pytorch-lightning, timm and the DINOv2 weight file;
none of it is a dependency of this package. It is imported only when :meth:`InstalledDrivoRPlanner.from_config`
is called, with a clear error when absent. Any object with ``forward(features) -> dict`` returning
DrivoR's output dict (``proposals [B, 64, 8, 3]``, ``pred_logit {head: [B, 64]}``, ``pdm_score``) can also be
wrapped directly (e.g. ``agent._drivor_model``).

Features: for our :class:`~inspatio_drive.data.types.AgentInput` we build DrivoR's inputs ourselves
(:func:`~planners.drivor.features.build_drivor_features`, equal to the official builder's tensors: bicubic
resize, float32 ImageNet normalisation, F0/B0/L0/R0); a navsim ``AgentInput`` goes through the agent's own
feature builders.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import OmegaConf

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput
from inspatio_drive.world_model.factory import resolve_device
from planners.drivor.features import DEFAULT_CAMERAS, build_drivor_features
from planners.drivor.planner import output_to_candidates
from planners.protocol import camera_needs

OFFICIAL_AGENT = "navsim.agents.drivoR.drivor_agent"


def import_official(module: str = OFFICIAL_AGENT) -> object:
    """Import a module of the official DrivoR code.

    Raises:
        ImportError: with install instructions when DrivoR (or one of its dependencies) is absent.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"installed DrivoR: cannot import {module} ({exc}). Install DrivoR's navsim fork "
            "(git clone https://github.com/valeoai/DrivoR && pip install -e DrivoR) with nuplan-devkit, "
            "pytorch-lightning and timm, or use planners.drivor.DrivoRPlanner (pure-torch port, same checkpoints)"
        ) from exc


class InstalledDrivoRPlanner:
    """The official DrivoR model behind our planner protocol (candidates + the six logits).

    Args:
        model: the official agent (``DrivoRAgent``) or model (``DrivoRModel``): ``forward(features) -> dict``.
        cameras / image_size: DrivoR's feature settings (``config.cam_*`` / ``config.image_size`` (W, H)).
        device: where the model runs.
    """

    name = "drivor_installed"

    def __init__(
        self,
        model: object,
        cameras: tuple[str, ...] = DEFAULT_CAMERAS,
        image_size: tuple[int, int] = (1148, 672),
        device: str | torch.device = "cpu",
    ) -> None:
        if not callable(getattr(model, "forward", None)):
            raise TypeError(f"InstalledDrivoRPlanner: {type(model).__name__} has no forward(features)")
        self.model = model
        self.cameras = tuple(cameras)
        self.image_size = tuple(image_size)
        self.device = resolve_device(str(device))
        for method in ("eval", "to"):
            if hasattr(model, method):
                getattr(model, method)(*(() if method == "eval" else (self.device,)))

    @classmethod
    def from_config(
        cls, config: Mapping, checkpoint_path: str | Path, device: str | torch.device = "cpu"
    ) -> InstalledDrivoRPlanner:
        """Build the official ``DrivoRAgent`` from the ``config:`` node of ``drivoR.yaml`` and load a checkpoint
        with its own ``initialize()`` (the official code needs the DINOv2 safetensors at
        ``config.image_backbone.model_weights``)."""

        module = import_official()
        cfg = OmegaConf.create(dict(config))
        if not Path(checkpoint_path).is_file():
            raise FileNotFoundError(f"installed DrivoR: checkpoint {checkpoint_path} not found")
        agent = module.DrivoRAgent(  # type: ignore[attr-defined]
            config=cfg,
            lr_args={"name": "AdamW", "base_lr": 2e-4, "base_batch_size": 64},
            checkpoint_path=str(checkpoint_path),
        )
        agent.initialize()
        order = [
            n
            for n in ("f0", "b0", "l0", "l1", "l2", "r0", "r1", "r2")
            if len(cfg.get(f"cam_{n}", []) or []) > 0
        ]
        cams = tuple(f"CAM_{n.upper()}" for n in order)
        return cls(agent, cameras=cams, image_size=tuple(cfg.image_size), device=device)

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        """Its cameras at the current frame (what :func:`build_drivor_features` reads)."""
        return camera_needs(self.cameras, [num_history_frames - 1])

    def build_features(self, agent_input: object) -> dict[str, torch.Tensor]:
        """Unbatched features (ours for our AgentInput, the agent's builders for a navsim AgentInput)."""
        if isinstance(agent_input, AgentInput):
            return build_drivor_features(agent_input, self.cameras, self.image_size)  # type: ignore[arg-type]
        builders = getattr(self.model, "get_feature_builders", None)
        if builders is None:
            raise TypeError(
                f"InstalledDrivoRPlanner: {type(agent_input).__name__} is not our AgentInput and the wrapped model has no "
                "get_feature_builders()"
            )
        feats: dict[str, torch.Tensor] = {}
        for builder in builders():
            feats.update(builder.compute_features(agent_input))
        return feats

    @torch.no_grad()
    def propose_features(self, features: Mapping[str, torch.Tensor]) -> Candidates:
        batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        out = self.model.forward(batch)  # type: ignore[attr-defined]
        cands = output_to_candidates(out)
        if isinstance(out.get("trajectory"), torch.Tensor):
            cands.extras["official_trajectory"] = out["trajectory"].detach().cpu()
        return cands

    def propose(self, agent_input: object) -> Candidates:
        feats = {k: v[None] for k, v in self.build_features(agent_input).items()}
        return self.propose_features(feats)[0]
