"""DrivoR ("Driving on Registers", CVPR 2026) in pure torch, parameter-name compatible with the official
``DrivoRModel`` (``navsim/agents/drivoR/drivor_model.py``) for the released configuration.

Forward (eval): ego token ``e = hist_encoding(ego_status[:, -1])``; queries ``q0 = e + init_feature``;
per camera a DINOv2-S/14-reg4 ViT with LoRA sees ``[16 scene tokens | cls | reg×4 | patches]``, the 16
scene tokens after the final norm go through ``neck`` (384→256) and are concatenated camera-major into
``scene_features [B, 16·n_cams, 256]``; ``traj_head[0](q0)`` gives stage-0 proposals, each of the
``ref_num`` trajectory-decoder layers gives one more stage; the scorer embeds the detached final proposals
(``pos_embed`` MLP), runs ``scorer_ref_num`` decoder layers against the scene features, adds ``e`` and
feeds six heads (logits). Selection: :mod:`inspatio_drive.contracts.selection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE, SUBSCORE_TO_NAVSIM
from inspatio_drive.contracts.selection import DRIVOR_V1, SelectionWeights, argmax_valid, selection_score
from planners.drivor.decoder import TransformerDecoder
from planners.drivor.vit import VisionTransformer, ViTConfig

# Official head order (``Scorer.pred_score`` ModuleDict order).
DRIVOR_HEADS: tuple[str, ...] = tuple(SUBSCORE_TO_NAVSIM[s] for s in ("NC", "DAC", "TTC", "EP", "DDC", "C"))
# Camera order fed to the backbone (drivor_features.py: f0, b0, l0, l1, l2, r0, r1, r2, absent ones dropped).
DRIVOR_CAMERA_ORDER: tuple[str, ...] = (
    "CAM_F0",
    "CAM_B0",
    "CAM_L0",
    "CAM_L1",
    "CAM_L2",
    "CAM_R0",
    "CAM_R1",
    "CAM_R2",
)
EGO_STATUS_DIM = 11  # pose (3) + velocity (2) + acceleration (2) + driving command one-hot (4)


@dataclass(frozen=True)
class DrivoRConfig:
    """The ``config:`` subtree of ``drivoR.yaml`` that shapes the model (released values by default).

    ``image_size`` is (W, H) as in the official yaml."""

    image_size: tuple[int, int] = (1148, 672)
    cameras: tuple[str, ...] = ("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0")
    proposal_num: int = 64
    num_poses: int = 8
    ref_num: int = 4
    scorer_ref_num: int = 4
    tf_d_model: int = 256
    tf_d_ffn: int = 1024
    num_scene_tokens: int = 16
    lora_rank: int = 32
    refiner_num_heads: int = 1
    full_history_status: bool = False
    num_history_frames: int = 4
    selection: SelectionWeights = field(default_factory=lambda: DRIVOR_V1)

    def __post_init__(self) -> None:
        # as a hydra structured config (planners.factory.DrivoRModelConfig) it gets lists and a selection mapping
        object.__setattr__(self, "image_size", tuple(self.image_size))
        object.__setattr__(self, "cameras", tuple(self.cameras))
        if self.selection is None:
            object.__setattr__(self, "selection", DRIVOR_V1)
        elif not isinstance(self.selection, SelectionWeights):
            object.__setattr__(self, "selection", SelectionWeights.from_config(self.selection))
        bad = [c for c in self.cameras if c not in DRIVOR_CAMERA_ORDER]
        if bad:
            raise ValueError(
                f"DrivoRConfig.cameras: unknown {bad}; expected names from {DRIVOR_CAMERA_ORDER}"
            )
        ordered = tuple(c for c in DRIVOR_CAMERA_ORDER if c in self.cameras)
        if ordered != tuple(self.cameras):
            raise ValueError(
                f"DrivoRConfig.cameras must be in DrivoR's order {ordered}, got {tuple(self.cameras)}"
            )

    @property
    def vit(self) -> ViTConfig:
        w, h = self.image_size
        return ViTConfig(img_size=(h, w), lora_rank=self.lora_rank)



class LoRAViT(nn.Module):
    """Holds the ViT under ``lora_vit`` (the official ``LoRA_ViT_timm`` nesting)."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.lora_vit = VisionTransformer(cfg)


class ImageEncoder(nn.Module):
    """``image_backbone``: ViT (``model.lora_vit`` with LoRA, ``model`` without) + ``neck`` Linear."""

    def __init__(self, cfg: DrivoRConfig) -> None:
        super().__init__()
        vcfg = cfg.vit
        self.num_scene_tokens = cfg.num_scene_tokens
        self.model: nn.Module = LoRAViT(vcfg) if vcfg.lora_rank > 0 else VisionTransformer(vcfg)
        self.neck = nn.Linear(vcfg.embed_dim, cfg.tf_d_model)

    @property
    def vit(self) -> VisionTransformer:
        return self.model.lora_vit if isinstance(self.model, LoRAViT) else self.model  # type: ignore[return-value]

    def forward(
        self, images: torch.Tensor, scene_tokens: torch.Tensor, debug: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``images [B, N, 3, H, W]``, ``scene_tokens [B, N, S, 384]`` -> ``[B, N·S, d_model]`` camera-major."""
        b, n = images.shape[:2]
        vit = self.vit
        x = vit.embed(images.flatten(0, 1), scene_tokens.flatten(0, 1))
        if debug is None:
            x = vit.norm(vit.blocks(x))
        else:
            debug["dbg.vit_tokens_in.b0_cam0"] = x[0]
            for i, blk in enumerate(vit.blocks):
                x = blk(x)
                if i == 0:
                    debug["dbg.vit_block0_out.b0_cam0"] = x[0]
            x = vit.norm(x)
            debug["dbg.vit_tokens_out.b0_cam0"] = x[0]
            debug["dbg.vit_scene_tokens_out"] = x[:, : self.num_scene_tokens]
        tokens = self.neck(x[:, : self.num_scene_tokens])
        return tokens.reshape(b, n * self.num_scene_tokens, -1)


class TrajHead(nn.Module):
    """``mlp``: Linear, LN, ReLU, Linear, LN, ReLU, Linear (official ``layers/utils/mlp.py``)."""

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(d_in, hidden), nn.LayerNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, d_out),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class Scorer(nn.Module):
    """``pred_score``: one ``Linear(d, ffn), ReLU, Linear(ffn, 1)`` per head -> logits ``[B, K]``."""

    def __init__(self, d_model: int, d_ffn: int, heads: tuple[str, ...] = DRIVOR_HEADS) -> None:
        super().__init__()
        self.pred_score = nn.ModuleDict(
            {h: nn.Sequential(nn.Linear(d_model, d_ffn), nn.ReLU(), nn.Linear(d_ffn, 1)) for h in heads}
        )

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(tokens).squeeze(-1) for name, head in self.pred_score.items()}


class DrivoRModel(nn.Module):
    """The DrivoR network (module names of the official ``DrivoRModel``)."""

    def __init__(self, cfg: DrivoRConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or DrivoRConfig()
        self.cfg = cfg
        d, ffn, vit_dim = cfg.tf_d_model, cfg.tf_d_ffn, cfg.vit.embed_dim
        self.image_backbone = ImageEncoder(cfg)
        self.scene_embeds = nn.Parameter(
            torch.randn(1, len(cfg.cameras), cfg.num_scene_tokens, vit_dim) * 1e-6
        )
        hist_in = EGO_STATUS_DIM * cfg.num_history_frames if cfg.full_history_status else EGO_STATUS_DIM
        self.hist_encoding = nn.Linear(hist_in, d)
        self.init_feature = nn.Embedding(cfg.proposal_num, d)
        self.trajectory_decoder = TransformerDecoder(cfg.ref_num, d, cfg.refiner_num_heads)
        self.scorer_attention = TransformerDecoder(cfg.scorer_ref_num, d, cfg.refiner_num_heads)
        self.pos_embed = nn.Sequential(nn.Linear(cfg.num_poses * 3, ffn), nn.ReLU(), nn.Linear(ffn, d))
        self.traj_head = nn.ModuleList([TrajHead(d, ffn, cfg.num_poses * 3) for _ in range(cfg.ref_num + 1)])
        self.scorer = Scorer(d, ffn)

    def forward(
        self,
        features: Mapping[str, torch.Tensor],
        weights: SelectionWeights | None = None,
        debug: bool = False,
    ) -> dict:
        """Run the planner.

        Args:
            features: ``image`` (or ``camera_feature``) float32 ``[B, n_cams, 3, H, W]`` (ImageNet-normalised
                RGB, cameras in ``cfg.cameras`` order) and ``ego_status`` float32 ``[B, T_hist, 11]``.
            weights: selection weights (default ``cfg.selection``).
            debug: also return intermediate tensors under ``dbg.*`` keys.

        Returns:
            ``proposals [B, K, 8, 3]``, ``proposal_list`` (``ref_num + 1`` tensors like ``proposals``),
            ``pred_logit {head: [B, K]}``, ``pdm_score [B, K]``, ``selected_index [B]``,
            ``trajectory [B, 8, 3]``, ``scorer_tokens [B, K, d_model]`` (the heads' input) and, with ``debug``,
            ``dbg.*`` tensors.
        """
        cfg = self.cfg
        if "image" in features:
            images = features["image"]
        elif "camera_feature" in features:
            images = features["camera_feature"]
        else:
            raise KeyError(f"DrivoR features need 'image' [B, n_cams, 3, H, W]; got keys {sorted(features)}")
        if "ego_status" not in features:
            raise KeyError(f"DrivoR features need 'ego_status' [B, T_hist, 11]; got keys {sorted(features)}")
        ego = features["ego_status"]
        if ego.ndim != 3 or ego.shape[-1] != EGO_STATUS_DIM or ego.shape[0] != images.shape[0]:
            raise ValueError(
                f"DrivoR: 'ego_status' must be [B, T_hist, {EGO_STATUS_DIM}] with B = {images.shape[0]}, got {tuple(ego.shape)}"
            )
        if images.ndim != 5 or images.shape[1] != len(cfg.cameras):
            raise ValueError(
                f"DrivoR: 'image' must be [B, {len(cfg.cameras)}, 3, H, W] ({cfg.cameras}), got {tuple(images.shape)}"
            )
        ego = ego.flatten(-2) if cfg.full_history_status else ego[:, -1]
        bsz = ego.shape[0]
        dbg: dict[str, torch.Tensor] | None = {} if debug else None

        ego_token = self.hist_encoding(ego)[:, None]  # [B, 1, D]
        queries = ego_token + self.init_feature.weight[None]  # [B, K, D]
        scene_tokens = self.scene_embeds.expand(bsz, -1, -1, -1)
        scene = self.image_backbone(images, scene_tokens, dbg)  # [B, n_cams·S, D]

        def decode(head: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
            return head(tokens).reshape(bsz, -1, cfg.num_poses, 3)

        proposal_list = [decode(self.traj_head[0], queries)]
        layer_tokens = self.trajectory_decoder(queries, scene)  # [L, B, K, D]
        for i in range(cfg.ref_num):
            proposal_list.append(decode(self.traj_head[i + 1], layer_tokens[i]))
        proposals = proposal_list[-1]

        embedded = self.pos_embed(proposals.reshape(bsz, cfg.proposal_num, -1).detach())
        scorer_out = self.scorer_attention(embedded, scene)[-1]
        scorer_tokens = scorer_out + ego_token
        pred_logit = self.scorer(scorer_tokens)

        short = {DRIVOR_HEAD_TO_SUBSCORE[k]: v for k, v in pred_logit.items()}
        pdm_score = selection_score(short, weights or cfg.selection)
        idx = argmax_valid(pdm_score)
        out: dict = {
            "proposals": proposals,
            "proposal_list": proposal_list,
            "pred_logit": pred_logit,
            "pdm_score": pdm_score,
            "selected_index": idx,
            "trajectory": proposals[torch.arange(bsz), idx],
            "scorer_tokens": scorer_tokens,
        }
        if dbg is not None:
            dbg["dbg.scene_features"] = scene
            dbg["dbg.ego_token"] = ego_token
            dbg["dbg.traj_decoder_tokens"] = layer_tokens
            dbg["dbg.embedded_traj"] = embedded
            dbg["dbg.scorer_decoder_out"] = scorer_out
            out.update(dbg)
        return out
