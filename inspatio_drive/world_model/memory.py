"""Analytic device-memory estimate of the InSpatio rollout (DiT side; the VAE / decoder are extra).

Terms, for ``B`` streams per batch at a latent grid of ``h x w`` (``n = h/2 · w/2`` tokens per latent
frame, ``Lb = 3n`` tokens per block, cache capacity ``3·Lb`` = 6 context frames + the block in flight)::

    weights      = parameters · bytes(dtype)
    kv_cache     = 2 · layers · B · 3·Lb · dim · bytes(dtype)
    text_kv      = 2 · layers · text_len · dim · bytes(dtype)            (shared by all streams)
    activations  = max over the context pass (2·Lb tokens) and a denoising pass (Lb tokens) of
                   B · L · [(ffn_dim + 8·dim) · bytes(dtype) + 4 · dim · 8]  (FFN hidden, q/k/v/o and
                   residual streams, and the float64 RoPE temporaries of q and k)
    latents      = B · 3 blocks · (36 + 16) · h · w · 4                    (inputs, x_t, x0 in float32)

For 1.3B at 832x480 in bf16 the cache is 2.59 GB per stream (the official cache of 6 frames is 1.725 GB;
ours also holds the block in flight, which the official code concatenates on every layer instead).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .config import WanDiTConfig
from .model import CausalWanDiT

GIB = 1024**3


def parameter_count(config: WanDiTConfig) -> int:
    """Number of DiT parameters (1,419,119,680 for InSpatio-World-1.3B)."""

    with torch.device("meta"):
        model = CausalWanDiT(config)
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per term; ``total`` is their sum."""

    weights: int
    kv_cache: int
    text_kv: int
    activations: int
    latents: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.text_kv + self.activations + self.latents

    def as_gib(self) -> dict[str, float]:
        return {k: round(v / GIB, 3) for k, v in {**asdict(self), "total": self.total}.items()}


def estimate_memory(
    config: WanDiTConfig,
    batch: int,
    height: int,
    width: int,
    dtype: torch.dtype = torch.bfloat16,
    frames_per_block: int = 3,
) -> MemoryEstimate:
    """Estimate for ``batch`` streams at pixel size ``height`` x ``width`` (multiples of 16)."""
    nbytes = torch.empty((), dtype=dtype).element_size()
    h, w = height // 8, width // 8
    per_frame = math.prod((h // config.patch_size[1], w // config.patch_size[2]))
    block = frames_per_block * per_frame
    d = config.dim
    act = max(
        batch * length * ((config.ffn_dim + 8 * d) * nbytes + 4 * d * 8) for length in (2 * block, block)
    )
    return MemoryEstimate(
        weights=parameter_count(config) * nbytes,
        kv_cache=2 * config.num_layers * batch * 3 * block * d * nbytes,
        text_kv=2 * config.num_layers * config.text_len * d * nbytes,
        activations=act,
        latents=batch * 3 * frames_per_block * (config.in_dim + config.out_dim) * h * w * 4,
    )


def max_batch_for_memory(
    config: WanDiTConfig, budget_bytes: int, height: int, width: int, dtype: torch.dtype = torch.bfloat16
) -> int:
    """Largest batch whose estimate fits ``budget_bytes`` (0 if not even one stream fits)."""
    one = estimate_memory(config, 1, height, width, dtype)
    fixed = one.weights + one.text_kv
    per_stream = one.total - fixed
    return max(0, (budget_bytes - fixed) // per_stream)
