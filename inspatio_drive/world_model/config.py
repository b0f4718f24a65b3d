"""DiT hyper-parameters of the InSpatio-World causal Wan2.1 model.

The field names follow the official Wan ``config.json`` (``dim``, ``ffn_dim``, ``num_heads``...). Two presets:

* :func:`WanDiTConfig.inspatio_1_3b`: Wan2.1-T2V-1.3B with ``in_dim=36`` (the real InSpatio-World-1.3B).
* :func:`WanDiTConfig.tiny`: the tiny random-weight model of the golden parity data.
* :func:`WanDiTConfig.sandbox_small`: the small model trained on sandbox logs, on block-PCA codec latents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class WanDiTConfig:
    """Sizes of the causal Wan DiT.

    Attributes:
        patch_size: (pt, ph, pw) of the Conv3d patch embedding, stride == kernel.
        in_dim: input channels = 16 noisy + 4 mask + 16 render latent channels.
        out_dim: predicted channels (flow, 16 latent channels).
        dim: token width; ``num_heads * head_dim``.
        ffn_dim: hidden width of the feed-forward MLP.
        freq_dim: width of the sinusoidal timestep embedding.
        text_dim: width of the text-encoder (umT5) embeddings.
        text_len: padded text length; the official model always attends to all ``text_len`` rows.
        num_heads: attention heads.
        num_layers: transformer blocks.
        qk_norm: RMSNorm on q and k (over the full ``dim``).
        cross_attn_norm: affine LayerNorm (``norm3``) before the text cross-attention.
        eps: epsilon of every norm.
        rope_theta: RoPE base.
        rope_max_positions: length of each RoPE table (1024 in Wan).
    """

    patch_size: tuple[int, int, int] = (1, 2, 2)
    in_dim: int = 36
    out_dim: int = 16
    dim: int = 1536
    ffn_dim: int = 8960
    freq_dim: int = 256
    text_dim: int = 4096
    text_len: int = 512
    num_heads: int = 12
    num_layers: int = 30
    qk_norm: bool = True
    cross_attn_norm: bool = True
    eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_max_positions: int = 1024

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} must be even for RoPE")
        if len(self.patch_size) != 3:
            raise ValueError(f"patch_size must be (pt, ph, pw), got {self.patch_size}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @classmethod
    def inspatio_1_3b(cls) -> WanDiTConfig:
        """Wan2.1-T2V-1.3B sizes with 36 input channels (InSpatio-World-1.3B)."""
        return cls()

    @classmethod
    def tiny(cls) -> WanDiTConfig:
        """The tiny configuration of the golden parity data (152,320 parameters)."""
        return cls(dim=64, ffn_dim=128, freq_dim=32, text_dim=32, text_len=8, num_heads=2, num_layers=2)

    @classmethod
    def sandbox_small(cls) -> WanDiTConfig:
        """The small world model trained from scratch on sandbox logs (``inspatio_drive/assets``): latents of the
        32-channel block-PCA codec (:mod:`..codec`), so ``in_dim = 32 + 4 + 32``; no text."""
        return cls(in_dim=68, out_dim=32, dim=160, ffn_dim=480, freq_dim=64, text_dim=32, text_len=8,
                   num_heads=5, num_layers=4)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> WanDiTConfig:
        """Build from a dict / OmegaConf node; unknown keys (e.g. ``model_type``) are rejected except
        the informational ones of the official config (``model_type``, ``_class_name``...)."""
        known = {f.name for f in fields(cls)}
        ignored = {"model_type", "_class_name", "_diffusers_version", "window_size", "name"}
        unknown = set(values) - known - ignored
        if unknown:
            raise ValueError(
                f"unknown DiT config keys {sorted(unknown)}; expected a subset of {sorted(known)}"
            )
        kwargs = {k: v for k, v in values.items() if k in known}
        if "patch_size" in kwargs:
            kwargs["patch_size"] = tuple(int(p) for p in kwargs["patch_size"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
