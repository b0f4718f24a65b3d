"""``DrivoRPlanner``: our DrivoR port behind the planner protocol."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from inspatio_drive.config import SettingError
from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE, Candidates
from inspatio_drive.contracts.selection import SelectionWeights
from inspatio_drive.data.types import AgentInput
from inspatio_drive.world_model.factory import resolve_device
from planners.drivor.checkpoint import load_state_dict_strict, read_checkpoint
from planners.drivor.features import build_drivor_features
from planners.drivor.model import DrivoRConfig, DrivoRModel
from planners.drivor.vit import load_dinov2_weights
from planners.protocol import camera_needs

NO_CHECKPOINT = (
    "DrivoR planner: no checkpoint: set planner.checkpoint=<Nav1_25epochs.pth> (inside navsim: "
    "agent.planner.checkpoint=...) or the DRIVOR_CHECKPOINT variable; planner.random_weights=true runs untrained weights"
)


class DrivoRPlanner:
    """DrivoR (pure-torch port): 64 proposals ``[64, 8, 3]`` with six sub-score logits.

    ``Candidates.features`` holds the scorer tokens ``[K, 256]`` (the heads' input, frozen features for
    :mod:`planners.training`); ``Candidates.extras`` holds DrivoR's own ``pdm_score [K]`` and
    ``selected_index`` under the model's selection weights.

    ``random_weights`` is True when the model was built without a checkpoint (:meth:`from_checkpoint` with
    ``random_weights=True``); evaluation rows and the navsim agent's name say so. ``device="auto"`` = CUDA when
    available, else CPU.
    """

    name = "drivor"

    def __init__(
        self,
        model: DrivoRModel,
        weights: SelectionWeights | None = None,
        device: str | torch.device = "cpu",
        allow_missing_cameras: bool = False,
        amp_dtype: str | torch.dtype | None = None,
        random_weights: bool = False,
    ) -> None:
        self.device = resolve_device(str(device))
        self.model = model.eval().to(self.device)
        self.weights = weights or model.cfg.selection
        self.random_weights = bool(random_weights)
        self.allow_missing_cameras = allow_missing_cameras
        if isinstance(amp_dtype, str):
            if amp_dtype not in ("float16", "bfloat16"):
                raise ValueError(
                    f"DrivoRPlanner.amp_dtype: expected null, 'float16' or 'bfloat16', got {amp_dtype!r}"
                )
            amp_dtype = getattr(torch, amp_dtype)
        self.amp_dtype = (
            amp_dtype  # None = float32 (as the parity tests); bf16/fp16 autocast for GPU throughput
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None,
        dinov2: str | Path | None = None,
        config: DrivoRConfig | None = None,
        random_weights: bool = False,
        **kwargs: object,
    ) -> DrivoRPlanner:
        """Build the model and load weights.

        Args:
            path: DrivoR Lightning checkpoint (``state_dict`` keys ``agent._drivor_model.*``), a bare state
                dict, or a ``.safetensors`` file; loaded strictly. ``None`` is refused unless ``random_weights``.
            random_weights: build untrained weights on purpose (pass ``dinov2`` for a pretrained backbone, e.g. to
                train heads); the planner's ``random_weights`` attribute then says so.
            dinov2: timm's ``vit_small_patch14_reg4_dinov2.lvd142m`` ``model.safetensors``, loaded into the
                backbone first (as DrivoR does when it builds the model); the checkpoint then overrides it.
            config: architecture / selection (default: the released configuration).
            kwargs: passed to the constructor (``weights``, ``device``, ``allow_missing_cameras``, ``amp_dtype``).

        Raises:
            CheckpointError: listing missing / unexpected / mis-shaped keys.
            SettingError: no ``path`` and not ``random_weights``, or both (one line naming the keys to set).
        """
        if path is None and not random_weights:
            raise SettingError(NO_CHECKPOINT)
        if path is not None and random_weights:
            raise SettingError(f"DrivoR planner: planner.random_weights=true and planner.checkpoint={path}: choose one")
        model = DrivoRModel(config or DrivoRConfig())
        if dinov2 is not None:
            load_dinov2_weights(model.image_backbone.vit, str(dinov2))
        if path is not None:
            load_state_dict_strict(model, read_checkpoint(path), source=f"DrivoR checkpoint {path}")
        return cls(model, random_weights=path is None, **kwargs)  # type: ignore[arg-type]

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        """Its cameras at the current frame (``drivoR.yaml``; see :data:`planners.protocol.SensorNeeds`)."""
        return camera_needs(self.model.cfg.cameras, [num_history_frames - 1])

    def build_features(self, agent_input: AgentInput) -> dict[str, torch.Tensor]:
        """Unbatched features ``image [n_cams, 3, H, W]``, ``ego_status [T_hist, 11]``."""
        cfg = self.model.cfg
        return build_drivor_features(agent_input, cfg.cameras, cfg.image_size, self.allow_missing_cameras)

    @torch.inference_mode()
    def propose_features(self, features: Mapping[str, torch.Tensor]) -> Candidates:
        """Batched candidates ``poses [B, 64, 8, 3]`` with logits ``{NC, DAC, DDC, TTC, EP, C}: [B, 64]``."""
        batch = {k: v.to(self.device) for k, v in features.items()}
        with torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        ):
            out = self.model(batch, weights=self.weights)
        return output_to_candidates(out)

    def propose(self, agent_input: AgentInput) -> Candidates:
        """Candidates of one scene: ``poses [64, 8, 3]``."""
        feats = {k: v[None] for k, v in self.build_features(agent_input).items()}
        return self.propose_features(feats)[0]


def output_to_candidates(out: Mapping[str, object]) -> Candidates:
    """Convert a DrivoR output dict (ours or the official model's) to batched :class:`Candidates`."""
    pred_logit = out.get("pred_logit")
    if not isinstance(pred_logit, Mapping):
        raise KeyError("DrivoR output: expected 'pred_logit' {head: [B, K]}")
    unknown = sorted(set(pred_logit) - set(DRIVOR_HEAD_TO_SUBSCORE))
    if unknown:
        raise KeyError(
            f"DrivoR output: unknown score heads {unknown}; expected {sorted(DRIVOR_HEAD_TO_SUBSCORE)}"
        )
    logits = {DRIVOR_HEAD_TO_SUBSCORE[k]: v.detach().float().cpu() for k, v in pred_logit.items()}
    proposals = out["proposals"]
    assert isinstance(proposals, torch.Tensor)
    extras: dict[str, object] = {}
    for key in ("pdm_score", "selected_index"):
        value = out.get(key)
        if isinstance(value, torch.Tensor):
            extras[key] = value.detach().cpu()
    tokens = out.get("scorer_tokens")
    return Candidates(
        poses=proposals.detach().float().cpu(),
        logits=logits,
        features=tokens.detach().float().cpu() if isinstance(tokens, torch.Tensor) else None,
        extras=extras,
    )
