"""ViT-S/14 DINOv2 with 4 registers (timm ``vit_small_patch14_reg4_dinov2``), pure torch, with DrivoR's LoRA.

Module and parameter names are exactly timm's (``cls_token``, ``reg_token``, ``pos_embed``,
``patch_embed.proj``, ``blocks.{i}.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2,
ls2.gamma}``, ``norm``), so timm state dicts and DrivoR checkpoints load without renaming. Semantics follow
timm 1.0.15 for this model: pre-norm blocks, LayerNorm eps 1e-6, fused SDPA attention, exact-erf GELU,
LayerScale, ``no_embed_class=True`` (``pos_embed`` covers the patch tokens only and is added *before* the
cls/register tokens are prepended), fixed image size (``pos_embed`` stored at the model's patch grid).

DrivoR's additions (``layers/image_encoder/dinov2_lora.py``): ``prefix_tokens`` (the per-camera scene
tokens) are prepended after the positional embedding, giving the token order
``[scene | cls | reg×4 | patches]``; LoRA rank r on q and v of the fused qkv, under
``attn.qkv.{qkv, linear_a_q, linear_b_q, linear_a_v, linear_b_v}`` (no k-LoRA, no scaling, no bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of the image backbone (defaults: ViT-S/14 reg4 at DrivoR's 1148×672 input).

    ``img_size`` is (H, W) in pixels, multiples of ``patch_size``."""

    img_size: tuple[int, int] = (672, 1148)
    patch_size: int = 14
    in_chans: int = 3
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    reg_tokens: int = 4
    lora_rank: int = 32  # 0 = plain timm attention (no LoRA wrapper, keys ``attn.qkv.weight``)
    norm_eps: float = 1e-6

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw


class PatchEmbed(nn.Module):
    """Conv patchifier: ``[N, C, H, W] -> [N, (H/p)·(W/p), D]``, row-major over the patch grid."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.img_size = cfg.img_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != tuple(self.img_size):
            raise ValueError(
                f"PatchEmbed: input image is {tuple(x.shape[-2:])} (H, W) but the model was built for "
                f"{tuple(self.img_size)}; resize the images (DrivoR resizes to image_size) or build the model "
                "for that size"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class LoRAQKV(nn.Module):
    """Fused qkv projection plus low-rank updates of q and v: ``qkv(x) + [B_q A_q x, 0, B_v A_v x]``."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.dim = dim
        self.qkv = nn.Linear(dim, 3 * dim)
        self.linear_a_q = nn.Linear(dim, rank, bias=False)
        self.linear_b_q = nn.Linear(rank, dim, bias=False)
        self.linear_a_v = nn.Linear(dim, rank, bias=False)
        self.linear_b_v = nn.Linear(rank, dim, bias=False)
        # as DrivoR's LoRA_ViT_timm.reset_parameters: A kaiming-uniform (nn.Linear default), B zero, so a fresh
        # LoRA ViT computes exactly the pretrained ViT
        nn.init.zeros_(self.linear_b_q.weight)
        nn.init.zeros_(self.linear_b_v.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).split(self.dim, dim=-1)
        q = q + self.linear_b_q(self.linear_a_q(x))
        v = v + self.linear_b_v(self.linear_a_v(x))
        return torch.cat([q, k, v], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention (timm ``Attention``): fused qkv, SDPA, output projection."""

    def __init__(self, dim: int, num_heads: int, lora_rank: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv: nn.Module = LoRAQKV(dim, lora_rank) if lora_rank > 0 else nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(n, t, c))


class LayerScale(nn.Module):
    """Per-channel scale ``x · gamma`` (timm ``LayerScale``; DINOv2 init 1e-5)."""

    def __init__(self, dim: int, init_values: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init_values))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with exact-erf GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x += ls1(attn(norm1 x)); x += ls2(mlp(norm2 x))``."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.attn = Attention(d, cfg.num_heads, cfg.lora_rank)
        self.ls1 = LayerScale(d)
        self.norm2 = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))
        self.ls2 = LayerScale(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """DINOv2-reg ViT trunk (``num_classes=0``: no head, no fc_norm)."""

    def __init__(self, cfg: ViTConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ViTConfig()
        for s in cfg.img_size:
            if s % cfg.patch_size:
                raise ValueError(
                    f"ViTConfig.img_size {cfg.img_size} must be multiples of patch_size {cfg.patch_size}"
                )
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.reg_token = nn.Parameter(torch.zeros(1, cfg.reg_tokens, d))
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.num_patches, d) * 0.02)
        self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(d, eps=cfg.norm_eps)

    @property
    def num_prefix_tokens(self) -> int:
        """cls + register tokens (not counting DrivoR's scene tokens)."""
        return 1 + self.cfg.reg_tokens

    def embed(self, images: torch.Tensor, prefix_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens entering block 0: ``[N, S + 1 + R + P, D]`` = [prefix | cls | reg | patches + pos_embed].

        Args:
            images: ``[N, C, H, W]`` normalised images.
            prefix_tokens: optional ``[N, S, D]`` tokens prepended after the positional embedding.
        """
        x = self.patch_embed(images) + self.pos_embed
        n = x.shape[0]
        parts = [self.cls_token.expand(n, -1, -1), self.reg_token.expand(n, -1, -1), x]
        if prefix_tokens is not None:
            parts.insert(0, prefix_tokens)
        return torch.cat(parts, dim=1)

    def forward_features(
        self, images: torch.Tensor, prefix_tokens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """All output tokens after the final LayerNorm, ``[N, S + 1 + R + P, D]``."""
        return self.norm(self.blocks(self.embed(images, prefix_tokens)))


def resample_abs_pos_embed(
    pos_embed: torch.Tensor, new_size: tuple[int, int], old_size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resample a patch-only ``[1, h·w, D]`` positional embedding to ``new_size`` (h', w') as timm does when
    it builds a model at another image size: bicubic, ``antialias=True``, ``align_corners=False``, computed in
    float32, row-major grid. ``old_size`` defaults to a square grid."""
    num = pos_embed.shape[1]
    if old_size is None:
        side = round(num**0.5)
        if side * side != num:
            raise ValueError(f"resample_abs_pos_embed: {num} positions is not a square grid; pass old_size")
        old_size = (side, side)
    if old_size[0] * old_size[1] != num:
        raise ValueError(f"resample_abs_pos_embed: old_size {old_size} does not match {num} positions")
    if tuple(old_size) == tuple(new_size):
        return pos_embed
    dtype = pos_embed.dtype
    grid = pos_embed.float().reshape(1, old_size[0], old_size[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new_size), mode="bicubic", antialias=True, align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, grid.shape[1]).to(dtype)


def convert_timm_dinov2_state_dict(
    state_dict: dict[str, torch.Tensor], vit: VisionTransformer
) -> dict[str, torch.Tensor]:
    """Map a timm ``vit_small_patch14_reg4_dinov2`` state dict (``model.safetensors``, timm key names,
    ``pos_embed [1, 1369, 384]`` for the 518-px 37×37 grid) onto ``vit``: ``pos_embed`` resampled to the
    model's grid as timm's checkpoint filter does, ``attn.qkv.*`` moved under the LoRA wrapper, ``mask_token``
    / classifier keys dropped. LoRA matrices are not in the file and keep their current values."""
    out: dict[str, torch.Tensor] = {}
    lora = vit.cfg.lora_rank > 0
    for key, value in state_dict.items():
        if key == "mask_token" or key.startswith(("head.", "fc_norm.")):
            continue
        if key == "pos_embed":
            value = resample_abs_pos_embed(value, vit.cfg.grid_size)
        elif (
            lora
            and key.startswith("blocks.")
            and (key.endswith(".attn.qkv.weight") or key.endswith(".attn.qkv.bias"))
        ):
            key = key.replace(".attn.qkv.", ".attn.qkv.qkv.")
        out[key] = value
    return out


def load_dinov2_weights(vit: VisionTransformer, path: str) -> None:
    """Load timm's DINOv2 ``model.safetensors`` into ``vit`` (strict on the pretrained keys).

    Raises:
        KeyError: listing missing / unexpected keys (LoRA matrices are allowed to be missing).
    """

    converted = convert_timm_dinov2_state_dict(load_file(path), vit)
    own = vit.state_dict()
    missing = sorted(k for k in own if k not in converted and ".linear_" not in k)
    unexpected = sorted(k for k in converted if k not in own)
    bad_shape = sorted(
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in converted.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    )
    if missing or unexpected or bad_shape:
        raise KeyError(
            f"DINOv2 weights {path}: missing keys {missing}; unexpected keys {unexpected}; shape mismatches {bad_shape} "
            "(expected timm's vit_small_patch14_reg4_dinov2.lvd142m model.safetensors)"
        )
    vit.load_state_dict(converted, strict=False)
