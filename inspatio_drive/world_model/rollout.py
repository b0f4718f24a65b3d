"""Block-wise autoregressive rollout of InSpatio-World (official ``CausalInferencePipeline.inference``).

For block ``b`` over latent frames ``s = 3b .. 3b+2`` (all tensors BTCHW)::

    context = ref[s]                     (b = 0)       RoPE frames 0..2
            = cat_T(ref[s], prev_x0)     (b > 0)       RoPE frames 0..5
    t = 0 context pass over [context | zeros(4) | zeros(16)]  -> K/V of every layer written to the cache
    x_t = noise
    for each step σ_k:   v = DiT([x_t | mask(4) | render(16)], t_k)   RoPE frames 6..8, keys = cache + own
                         x0 = x_t - σ_k·v ;  x_t = (1-σ_{k+1})·x0 + σ_{k+1}·ε   (not after the last step)
    output[s] = x0 ;  prev_x0 = x0

The cache is rebuilt every block (nothing accumulates). Several streams (candidates) run as one batch B.
What depends only on the source is computed once and broadcast: the text K/V, and block 0's context pass
(the reference latents alone), which is run with batch 1 when ``ref_latent`` has batch 1. Later context
passes mix the reference with each stream's own previous block, so they are per stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from .kv_cache import KVCache
from .model import CausalWanDiT, TextKV
from .scheduler import DistilledSampler, flow_to_x0, renoise

#: ``noise(block, step, shape, dtype, device)``: step 0 = initial noise of the block, step k >= 1 = the ε
#: used to re-noise the x0 of step k-1 into step k.
NoiseFn = Callable[[int, int, tuple[int, ...], torch.dtype, torch.device], torch.Tensor]

DENOISE_FRAME_OFFSET = 6  # RoPE frame index of the block being denoised (always 6, 7, 8)


@dataclass
class BlockResult:
    """Output of one block.

    Attributes:
        index: block index b.
        x0: [B, F_block, 16, h, w] clean latents of latent frames ``3b .. 3b+2``.
        trace: when tracing, per-step tensors (``step{k}.x_t``, ``step{k}.flow_pred``, ``step{k}.x0``),
            ``context_in``, ``context_head_out`` and ``kv.layer{l}.{k,v}`` (cached context K/V).
    """

    index: int
    x0: torch.Tensor
    trace: dict[str, torch.Tensor] = field(default_factory=dict)


def torch_noise(generators: list[torch.Generator] | None = None) -> NoiseFn:
    """Gaussian noise, one ``torch.Generator`` per stream (batch row) when given, else the global RNG."""

    def draw(
        block: int, step: int, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        if generators is None:
            return torch.randn(shape, dtype=dtype, device=device)
        if len(generators) != shape[0]:
            raise ValueError(f"{len(generators)} generators for a batch of {shape[0]} streams")
        return torch.stack(
            [torch.randn(shape[1:], generator=g, dtype=dtype, device=device) for g in generators]
        )

    return draw


def _bcthw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 1, 3, 4)


def context_input(model: CausalWanDiT, context: torch.Tensor) -> torch.Tensor:
    """The t = 0 context-pass input: latents [B, F, C, h, w] followed by zero condition channels
    (``in_dim - out_dim``: mask 4 + render latent C) -> [B, F, in_dim, h, w]."""
    b, f, _, h, w = context.shape
    extra = model.config.in_dim - model.config.out_dim
    return torch.cat([context, context.new_zeros(b, f, extra, h, w)], dim=2)


def causal_rollout(
    model: CausalWanDiT,
    text_kv: TextKV,
    ref_latent: torch.Tensor,
    cond_latent: torch.Tensor,
    noise: NoiseFn,
    sampler: DistilledSampler | None = None,
    frames_per_block: int = 3,
    cache: KVCache | None = None,
    trace: bool = False,
) -> Iterator[BlockResult]:
    """Generate latents block by block.

    Args:
        model: the DiT.
        text_kv: :meth:`CausalWanDiT.text_kv` of the caption (batch B or 1, shared by all streams).
        ref_latent: [B or 1, T, 16, h, w] latents of the source (reference) video; block b uses its own
            slice ``3b .. 3b+2``. A batch of 1 is shared by all streams.
        cond_latent: [B, T, 20, h, w] condition ``[mask latent 4 | render latent 16]`` per stream.
        noise: noise source (see :data:`NoiseFn`).
        sampler: sigmas and timesteps (default: the official 4-step sampler).
        frames_per_block: latent frames per block (official 3). T must be a multiple of it.
        cache: K/V cache to reuse (allocated if None; capacity 3 blocks of tokens, batch >= B). The cache is
            fully rewritten by every block's context pass, so chunks of streams advanced one block at a time
            in turn can share one cache.
        trace: record intermediate tensors in :attr:`BlockResult.trace` (parity tests; costs memory).

    Yields:
        :class:`BlockResult` per block, in order.
    """
    sampler = sampler or DistilledSampler()
    b_streams, n_frames = cond_latent.shape[:2]
    if ref_latent.ndim != 5 or cond_latent.ndim != 5:
        raise ValueError(
            f"ref/cond latents must be BTCHW, got {tuple(ref_latent.shape)} / {tuple(cond_latent.shape)}"
        )
    if ref_latent.shape[0] not in (1, b_streams):
        raise ValueError(
            f"ref_latent batch {ref_latent.shape[0]} must be 1 or the number of streams {b_streams}"
        )
    if ref_latent.shape[1] < n_frames or ref_latent.shape[3:] != cond_latent.shape[3:]:
        raise ValueError(
            f"ref_latent {tuple(ref_latent.shape)} does not cover cond_latent {tuple(cond_latent.shape)}"
        )
    if n_frames % frames_per_block:
        raise ValueError(f"{n_frames} latent frames is not a multiple of frames_per_block={frames_per_block}")
    out_ch = model.config.out_dim
    if cond_latent.shape[2] + out_ch != model.config.in_dim or ref_latent.shape[2] != out_ch:
        raise ValueError(
            f"channels: ref {ref_latent.shape[2]} + cond {cond_latent.shape[2]} do not fit in_dim={model.config.in_dim}"
        )
    n_blocks = n_frames // frames_per_block
    blocks = (
        (
            ref_latent[:, b * frames_per_block : (b + 1) * frames_per_block],
            cond_latent[:, b * frames_per_block : (b + 1) * frames_per_block],
        )
        for b in range(n_blocks)
    )
    yield from rollout_blocks(model, text_kv, blocks, noise, sampler, cache, trace)


def rollout_blocks(
    model: CausalWanDiT,
    text_kv: TextKV,
    blocks: Iterable[tuple[torch.Tensor, torch.Tensor]],
    noise: NoiseFn,
    sampler: DistilledSampler | None = None,
    cache: KVCache | None = None,
    trace: bool = False,
) -> Iterator[BlockResult]:
    """The rollout loop over per-block inputs, which may be produced lazily (streamed encoding).

    Args:
        blocks: per block ``(ref [B or 1, F, 16, h, w], cond [B, F, 20, h, w])``, F latent frames per block.
        Others: as :func:`causal_rollout`.
    """
    sampler = sampler or DistilledSampler()
    out_ch = model.config.out_dim
    timesteps, sigmas = sampler.timesteps(), sampler.sigmas()
    prev_x0: torch.Tensor | None = None
    for block, (ref, cond) in enumerate(blocks):
        b_streams, frames_per_block, _, h, w = cond.shape
        if ref.shape[0] not in (1, b_streams) or ref.shape[1] != frames_per_block or ref.shape[3:] != (h, w):
            raise ValueError(f"block {block}: ref {tuple(ref.shape)} does not fit cond {tuple(cond.shape)}")
        device, dtype = cond.device, cond.dtype
        if cache is None:
            tokens_per_frame = (h // model.config.patch_size[1]) * (w // model.config.patch_size[2])
            cache = KVCache(
                model.config.num_layers,
                b_streams,
                3 * frames_per_block * tokens_per_frame,
                model.config.num_heads,
                model.config.head_dim,
                dtype=model.patch_embedding.weight.dtype,
                device=device,
            )
        ref = ref.to(device=device, dtype=dtype)
        if prev_x0 is None:
            context = ref
        else:
            context = torch.cat([ref.expand(b_streams, -1, -1, -1, -1), prev_x0], dim=1)
        context = context_input(model, context)
        record: dict[str, torch.Tensor] = {}
        cache.set_active(b_streams)  # per block: other chunks of streams may share this cache
        with torch.no_grad():
            head = model(
                _bcthw(context), torch.zeros((), device=device), text_kv, cache=cache, write_cache=True
            )
            if trace:
                record["context_in"] = context.clone()
                record["context_head_out"] = _bcthw(head).clone()
                for layer in range(model.config.num_layers):
                    record[f"kv.layer{layer}.k"] = cache.k[layer][:, : cache.context_len].clone()
                    record[f"kv.layer{layer}.v"] = cache.v[layer][:, : cache.context_len].clone()
            shape = (b_streams, frames_per_block, out_ch, h, w)
            x_t = noise(block, 0, shape, dtype, device)
            for k in range(len(timesteps)):
                flow = model(
                    _bcthw(torch.cat([x_t, cond], dim=2)),
                    timesteps[k].to(device),
                    text_kv,
                    cache=cache,
                    write_cache=False,
                    frame_offset=DENOISE_FRAME_OFFSET,
                )
                flow = _bcthw(flow).to(dtype)
                x0 = flow_to_x0(x_t, flow, sigmas[k])
                if trace:
                    record[f"step{k}.x_t"], record[f"step{k}.flow_pred"], record[f"step{k}.x0"] = (
                        x_t,
                        flow,
                        x0,
                    )
                if k + 1 < len(timesteps):
                    x_t = renoise(x0, noise(block, k + 1, shape, dtype, device), sigmas[k + 1].to(device))
        prev_x0 = x0
        yield BlockResult(index=block, x0=x0, trace=record)
