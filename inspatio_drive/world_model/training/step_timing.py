"""Training-step benchmark on random latents: steps/s and peak memory beside :func:`.memory.training_memory`.

No data or weights are needed (speed does not depend on the values): ``batch`` clips of ``latent_frames`` random
latents at ``latent_hw`` run the JDMD objective (teacher-forced, all blocks), backward and an AdamW step, with
bf16 autocast on CUDA, optional gradient checkpointing and LoRA.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..config import WanDiTConfig
from ..factory import random_dit
from .jdmd import JDMDObjective
from .lora import apply_lora
from .memory import training_memory


def benchmark_training(
    config: WanDiTConfig,
    device: torch.device,
    batch: int = 1,
    latent_frames: int = 21,
    latent_hw: tuple[int, int] = (60, 104),
    steps: int = 5,
    warmup: int = 1,
    lora_rank: int | None = None,
    gradient_checkpointing: bool = True,
    context_grad: bool = True,
    bf16: bool = True,
) -> dict[str, Any]:
    """Time ``steps`` training steps after ``warmup``; returns steps/s, peak memory (CUDA) and the estimate."""
    dit = random_dit(config, device, torch.float32).train()
    if lora_rank:
        apply_lora(dit, lora_rank, float(lora_rank))
    dit.gradient_checkpointing = gradient_checkpointing
    obj = JDMDObjective(dit, context_grad=context_grad)
    params = [p for p in dit.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    c = config.out_dim
    shape = (batch, latent_frames, c, *latent_hw)
    ref, target = torch.randn(shape, device=device), torch.randn(shape, device=device)
    mask = torch.ones(batch, latent_frames, 4, *latent_hw, device=device)
    cond = torch.cat([mask, torch.randn(shape, device=device)], dim=2)
    text = torch.zeros(batch, config.text_len, config.text_dim, device=device)
    v2v = torch.ones(batch, dtype=torch.bool, device=device)
    autocast = device.type == "cuda" and bf16
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = obj(ref, target, cond, text, v2v)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    est = training_memory(config, batch, latent_frames, latent_hw, lora_rank,
                          torch.bfloat16 if autocast else torch.float32, gradient_checkpointing, context_grad,
                          ema=False)
    return {
        "device": str(torch.cuda.get_device_name(device) if cuda else device), "steps_per_second": steps / elapsed,
        "batch": batch, "latent_frames": latent_frames, "latent_hw": list(latent_hw), "lora_rank": lora_rank,
        "gradient_checkpointing": gradient_checkpointing, "bf16": autocast,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "estimate_gib": est.as_gib(),
    }  # fmt: skip
