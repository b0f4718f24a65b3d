"""Analytic per-GPU memory of a training step (full fine-tuning or LoRA), DiT side.

For P base parameters, A adapter parameters (LoRA) and AdamW with fp32 master weights and moments::

    full:  weights = P·4 (fp32 master)   grads = P·4   optimizer = P·8 (exp_avg, exp_avg_sq)   ema = P·4
    lora:  weights = P·bytes(param dtype) + A·4   grads = A·4   optimizer = A·8   ema = A·4 (adapters only)

bf16 autocast keeps the fp32 master weights and adds a bf16 copy of the weights used in matmuls (P·2, counted
in ``weights``). Activations of one teacher-forced step, per sample of T_lat latent frames with n tokens each:
the context pass (up to 6 frames) and the denoising pass (3 frames) of every block are kept for backward, i.e.
``tokens = blocks · 9n`` (only ``3n`` per block when ``context_grad=False``). Per layer and token the block
saves about ``(12·dim + 2·ffn_dim)`` values (norm outputs, q/k/v/o, attention output, the two FFN tensors and
residuals) in the compute dtype. With gradient checkpointing only the block inputs stay (``dim`` per layer and
token) plus one block's full activations during its recomputation. DDP adds one gradient bucket copy (grads·1),
counted in ``grads``. The estimate leaves out the VAE / text encoder (run once per clip, ``no_grad``) and the
allocator's fragmentation: keep ~10–20 % headroom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..config import WanDiTConfig
from ..memory import GIB, parameter_count


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes per GPU of one training step."""

    parameters: int
    trainable: int
    weights: int
    grads: int
    optimizer: int
    ema: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.grads + self.optimizer + self.ema + self.activations

    def as_gib(self) -> dict[str, float]:
        d = {k: v / GIB for k, v in asdict(self).items() if k not in ("parameters", "trainable")}
        return {**d, "total": self.total / GIB}


def lora_parameters(config: WanDiTConfig, rank: int, ffn: bool = True, cross_attn: bool = True) -> int:
    """Adapter parameters of :data:`~.lora.DEFAULT_TARGETS`: ``rank·(in + out)`` per targeted Linear."""
    d, f = config.dim, config.ffn_dim
    per_block = 4 * rank * 2 * d  # self-attention q, k, v, o
    if cross_attn:
        per_block += 4 * rank * 2 * d
    if ffn:
        per_block += 2 * rank * (d + f)
    return config.num_layers * per_block


def training_memory(
    config: WanDiTConfig,
    batch: int,
    latent_frames: int,
    latent_hw: tuple[int, int],
    lora_rank: int | None = None,
    compute_dtype: torch.dtype = torch.bfloat16,
    gradient_checkpointing: bool = True,
    context_grad: bool = True,
    ema: bool = True,
) -> TrainingMemory:
    """Estimate (see the module docstring).

    Args:
        batch: clips per GPU; latent_frames: latent frames per clip (a multiple of 3); latent_hw: latent (h, w).
        lora_rank: None = full fine-tuning.
    """
    p = parameter_count(config)
    cb = torch.empty(0, dtype=compute_dtype).element_size()
    mixed = compute_dtype != torch.float32
    if lora_rank is None:
        a = p
        weights = p * 4 + (p * cb if mixed else 0)
    else:
        a = lora_parameters(config, lora_rank)
        weights = p * cb + a * 4
    grads = a * 4 * 2  # gradients + the DDP bucket copy
    optimizer = a * 8
    ema_bytes = a * 4 if ema else 0
    n = (latent_hw[0] // config.patch_size[1]) * (latent_hw[1] // config.patch_size[2])
    blocks = latent_frames // 3
    tokens = batch * n * (blocks * 3 + (3 + 6 * (blocks - 1) if context_grad else 0))
    per_token_layer = (12 * config.dim + 2 * config.ffn_dim) * cb
    if gradient_checkpointing:
        acts = tokens * config.num_layers * config.dim * cb + tokens * per_token_layer
    else:
        acts = tokens * config.num_layers * per_token_layer
    return TrainingMemory(p, a, int(weights), int(grads), int(optimizer), int(ema_bytes), int(acts))
