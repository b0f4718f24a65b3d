"""JDMD objective: flow matching with block-causal teacher forcing in the rollout's context layout.

One DiT, two branches with shared weights (the seed's JDMD):

* **V2V** (control): source video + render condition + mask -> the target view (sandbox oracle, or a real view
  the renderer can check). Input channels ``[x_t | mask 4 | render latent C]``.
* **T2V** (realism): a real video (+ caption) with the condition channels empty (zeros, as in a context pass).

Teacher forcing in the inference layout (:func:`~inspatio_drive.world_model.rollout.rollout_blocks`): block ``b``
(latent frames ``3b .. 3b+2``) is denoised after a t = 0 context pass over ``ref[block b]`` (b = 0, RoPE frames
0-2) or ``cat(ref[block b], clean target[block b-1])`` (b > 0, RoPE frames 0-5); the noisy block sits at RoPE
frames 6-8 and attends to the cached context plus itself. The context pass and the denoising pass are the model's
own forward with a :class:`~.cache.ConcatKVCache`. All blocks of a batch are trained at once: block 0 of every
clip as one group, blocks 1.. of every clip as a second group (their contexts have 6 frames).

Losses (per block sample, noise level σ, ``x_t = (1 - σ)·x0 + σ·ε``, flow target ``v = ε - x0``, model timestep
``1000·σ``)::

    L_vis  = mean over both branches of |v̂ - v|²                          (every latent position)
    L_ctrl = Σ w·|v̂ - v|² / Σ w over V2V samples, w = fraction of rendered (valid) pixels of the position
    L      = L_vis + λ_ctrl · L_ctrl

L_ctrl is the flow-matching loss restricted to the mask's valid region. Why: where the render saw geometry the
target view *is* what the render shows (the camera control); weighting those positions again makes the model
follow the control instead of averaging it away with the hallucinated holes, which L_vis alone weighs equally.
Noise levels: ``sigmas=shifted`` draws u ~ U(0, 1), σ = shift·u / (1 + (shift - 1)·u) (Wan's training
schedule); ``sigmas=sampler`` draws σ among the distilled sampler's steps (what the 4-step rollout feeds it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model import CausalWanDiT
from ..rollout import DENOISE_FRAME_OFFSET, context_input
from ..scheduler import DistilledSampler
from .cache import ConcatKVCache

SIGMA_MODES = ("shifted", "sampler")


def _bcthw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 1, 3, 4)


@dataclass
class BlockGroup:
    """Teacher-forced block samples sharing one context length.

    Attributes:
        context: [N, Fc, C, h, w] clean context latents (Fc = 3 for block 0, 6 after).
        clean: [N, 3, C, h, w] target latents of the block being denoised.
        cond: [N, 3, in_dim - C, h, w] condition channels ``[mask 4 | render C]`` (zeros for T2V).
        sample: [N] index of the clip in the batch (text, branch).
    """

    context: torch.Tensor
    clean: torch.Tensor
    cond: torch.Tensor
    sample: torch.Tensor


def teacher_forced_groups(
    ref: torch.Tensor, target: torch.Tensor, cond: torch.Tensor, frames_per_block: int = 3
) -> list[BlockGroup]:
    """Split clips into the rollout's per-block inputs with the clean previous target block as context.

    Args:
        ref: [B, L, C, h, w] source (reference) latents; target: [B, L, C, h, w]; cond: [B, L, Cc, h, w].

    Returns:
        Block 0 of every clip, then (if L > 3) blocks 1.. of every clip stacked block-major.
    """
    b, n_lat = target.shape[:2]
    f = frames_per_block
    if n_lat % f or ref.shape[:2] != (b, n_lat) or cond.shape[:2] != (b, n_lat):
        raise ValueError(
            f"ref {tuple(ref.shape)}, target {tuple(target.shape)}, cond {tuple(cond.shape)}: need [B, L, ...] "
            f"with L a multiple of {f}"
        )
    idx = torch.arange(b, device=target.device)
    groups = [BlockGroup(ref[:, :f], target[:, :f], cond[:, :f], idx)]
    n_blocks = n_lat // f
    if n_blocks > 1:
        ctx = [torch.cat([ref[:, k * f : (k + 1) * f], target[:, (k - 1) * f : k * f]], dim=1) for k in range(1, n_blocks)]
        groups.append(
            BlockGroup(
                torch.cat(ctx),
                torch.cat([target[:, k * f : (k + 1) * f] for k in range(1, n_blocks)]),
                torch.cat([cond[:, k * f : (k + 1) * f] for k in range(1, n_blocks)]),
                idx.repeat(n_blocks - 1),
            )
        )
    return groups


def sample_sigmas(
    n: int, mode: str, shift: float, sampler: DistilledSampler, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """[n] noise levels in (0, 1] (see the module docstring)."""
    if mode == "shifted":
        u = torch.rand(n, generator=generator).clamp_min(1e-3)
        sig = shift * u / (1 + (shift - 1) * u)
    elif mode == "sampler":
        table = sampler.sigmas()
        sig = table[torch.randint(len(table), (n,), generator=generator)]
    else:
        raise ValueError(f"sigmas must be one of {SIGMA_MODES}, got {mode!r}")
    return sig.to(device)


def valid_weight(cond: torch.Tensor) -> torch.Tensor:
    """Fraction of rendered pixels per latent position, [N, F, h, w] in [0, 1], from the mask channels (±1)."""
    return ((cond[:, :, :4] + 1) / 2).clamp(0, 1).mean(dim=2)


class JDMDObjective(nn.Module):
    """The DiT plus its training loss, as one module so that DDP sees one forward per step.

    Args:
        dit: the causal DiT (trained).
        lambda_ctrl: weight of L_ctrl.
        sigmas / shift / sampler: noise-level sampling (module docstring).
        context_grad: back-propagate through the context pass too (the same weights make the context K/V at
            inference); False runs it under ``no_grad`` (as Self-Forcing does), half the cost.
        context_noise: σ of noise added to the clean previous block in the context (exposure-bias knob; 0 = off).
    """

    def __init__(
        self,
        dit: CausalWanDiT,
        lambda_ctrl: float = 1.0,
        sigmas: str = "shifted",
        shift: float = 5.0,
        sampler: DistilledSampler | None = None,
        context_grad: bool = True,
        context_noise: float = 0.0,
    ) -> None:
        super().__init__()
        if sigmas not in SIGMA_MODES:
            raise ValueError(f"sigmas must be one of {SIGMA_MODES}, got {sigmas!r}")
        self.dit = dit
        self.lambda_ctrl = float(lambda_ctrl)
        self.sigmas = sigmas
        self.shift = float(shift)
        self.sampler = sampler or DistilledSampler()
        self.context_grad = context_grad
        self.context_noise = float(context_noise)

    def context_pass(self, group: BlockGroup, text_kv: list) -> ConcatKVCache:
        """t = 0 pass over the group's context; returns the cache the denoising pass attends to."""
        cache = ConcatKVCache(self.dit.config.num_layers)
        ctx = group.context
        if self.context_noise > 0 and ctx.shape[1] > 3:
            prev = ctx[:, 3:]
            ctx = torch.cat([ctx[:, :3], prev + self.context_noise * torch.randn_like(prev)], dim=1)
        x = _bcthw(context_input(self.dit, ctx))
        t0 = torch.zeros(ctx.shape[0], device=ctx.device)
        with torch.set_grad_enabled(self.context_grad and torch.is_grad_enabled()):
            self.dit(x, t0, text_kv, cache=cache, write_cache=True)
        return cache

    def predict_flow(
        self, group: BlockGroup, x_t: torch.Tensor, sigma: torch.Tensor, text_kv: list, cache: ConcatKVCache
    ) -> torch.Tensor:
        """Flow [N, 3, C, h, w] of the noisy block ``x_t`` at noise levels ``sigma`` [N] (RoPE frames 6-8)."""
        x = _bcthw(torch.cat([x_t, group.cond.to(x_t.dtype)], dim=2))
        out = self.dit(x, 1000.0 * sigma, text_kv, cache=cache, write_cache=False, frame_offset=DENOISE_FRAME_OFFSET)
        return _bcthw(out).float()

    def forward(
        self,
        ref: torch.Tensor,
        target: torch.Tensor,
        cond: torch.Tensor,
        text: torch.Tensor,
        is_v2v: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Losses of one batch.

        Args:
            ref, target: [B, L, C, h, w] latents; cond: [B, L, in_dim - C, h, w] (zeros on T2V rows).
            text: [B, Lt, text_dim] caption embeddings (Lt may be 0).
            is_v2v: [B] bool, the branch of each clip.
            generator: CPU generator for σ and ε (reproducible runs).

        Returns:
            ``loss`` (scalar, differentiable), ``vis``, ``ctrl`` (detached scalars; ``ctrl`` is 0 without V2V rows).
        """
        se_sum = torch.zeros((), device=target.device)
        count = 0
        ctrl_num = torch.zeros((), device=target.device)
        ctrl_den = torch.zeros((), device=target.device)
        for group in teacher_forced_groups(ref, target, cond):
            text_kv = self.dit.text_kv(text[group.sample])
            cache = self.context_pass(group, text_kv)
            n = group.clean.shape[0]
            sigma = sample_sigmas(n, self.sigmas, self.shift, self.sampler, generator, target.device)
            eps = torch.randn(group.clean.shape, generator=generator).to(target.device)
            s = sigma.view(n, 1, 1, 1, 1)
            x_t = (1 - s) * group.clean + s * eps
            flow = self.predict_flow(group, x_t, sigma, text_kv, cache)
            err = (flow - (eps - group.clean)).pow(2).mean(dim=2)  # [N, 3, h, w]
            se_sum = se_sum + err.sum()
            count += err.numel()
            v2v = is_v2v[group.sample].to(err.dtype).view(n, 1, 1, 1)
            w = valid_weight(group.cond.float()) * v2v
            ctrl_num = ctrl_num + (w * err).sum()
            ctrl_den = ctrl_den + w.sum()
        vis = se_sum / count
        ctrl = ctrl_num / ctrl_den.clamp_min(1e-6)
        loss = vis + self.lambda_ctrl * ctrl
        return {"loss": loss, "vis": vis.detach(), "ctrl": ctrl.detach()}
