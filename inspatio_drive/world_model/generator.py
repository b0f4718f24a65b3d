"""Planner-facing future-video generators: ``InSpatioGenerator`` (world model) and ``GeometricGenerator``.

Both take the source frame(s) of one camera and the geometric condition of K candidate trajectories and
yield the K future videos block by block (streaming)::

    for block in generator.generate(source_frames, render, mask):
        block.frames          # [K, F_block, 3, H, W] in [0, 1], pixel frames block.frame_indices

Conventions:
    source_frames: [T_s, 3, H, W] float in [0, 1], T_s = 1 (static world: the current frame is repeated, as
        V15's single-image mode) or T_s = T.
    render: [K, T, 3, H, W] float in [0, 1] or uint8, the geometric render along each candidate (frame 0 = now).
    mask: [K, T, H, W] bool / {0, 1}, True where the render saw geometry (False = hole).
    T = 4·L - 3 with L a multiple of 3 latent frames (9, 21, 33, 45...); H, W multiples of 16. With
        ``trim=True`` longer videos are cut to the longest such length, as the official code does (the
        blocks' ``frame_indices`` say which frames were generated).

A render room ``RenderBatch`` (rgb uint8 [K, T, C, 3, H, W], valid [K, T, C, H, W]) converts with
:func:`condition_from_render_batch`.

InSpatio: everything that depends only on the source is computed once and shared by the K streams: the VAE
latents of the source video and the text K/V of the caption; block 0's t = 0 context pass (the reference
latents alone) runs with batch 1 once per batch of ``max_batch`` streams and is broadcast. Streams are batched ``max_batch`` at a time; chunks advance one block at a time in turn and
share one K/V cache (it is rebuilt by every block's context pass), so memory grows with ``max_batch``, not K.
Each stream draws its noise from its own generator seeded ``seed + stream index``, so results do not
depend on ``max_batch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .codec import PixelUnshuffleCodec
from .condition import (
    FRAMES_PER_BLOCK,
    VAE_SPACE_STRIDE,
    block_frame_range,
    check_image_size,
    check_num_frames,
    encode_condition,
    largest_valid_frames,
    mask_to_signed,
)
from .inpaint import HOLE_FILLS, inpaint_holes
from .kv_cache import KVCache
from .memory import MemoryEstimate, estimate_memory
from .model import CausalWanDiT
from .rollout import rollout_blocks, torch_noise
from .scheduler import DistilledSampler
from .vae import WanVAE


class StreamingDecoder(Protocol):
    """What :class:`InSpatioGenerator` needs from a decoder (:class:`WanVAE`, ``TAEHVDecoder``)."""
    def start_stream(self) -> Any: ...

    def decode_next(self, latents: torch.Tensor, stream: Any) -> torch.Tensor:
        """[B, n, 16, h, w] normalised latents -> [B, F, 3, 8h, 8w] in [-1, 1]."""
        ...


class StreamingEncoder(Protocol):
    """What :class:`InSpatioGenerator` needs from an encoder (:class:`WanVAE`, ``TAEHVEncoder``)."""
    def start_encode_stream(self) -> Any: ...

    def encode_next(self, video: torch.Tensor, stream: Any) -> torch.Tensor:
        """[B, n, 3, H, W] in [-1, 1] (1 + 4m frames first, then 4m) -> [B, n', 16, H/8, W/8] normalised latents."""
        ...


@dataclass
class GeneratedBlock:
    """One streamed block of K future videos.

    Attributes:
        index: block index b.
        frame_indices: pixel frames of the video covered by this block (frame 0 = current frame).
        frames: [K, F, 3, H, W] float in [0, 1], or None when decoding is off.
        latents: [K, 3, 16, H/8, W/8] normalised latents (None for the geometric generator).
    """

    index: int
    frame_indices: range
    frames: torch.Tensor | None
    latents: torch.Tensor | None = None


def condition_from_render_batch(batch: Any, camera: str | int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(render [K, T, 3, H, W] float in [0, 1], mask [K, T, H, W] bool) of one camera of a ``RenderBatch``."""
    if batch.rgb is None:
        raise ValueError("the RenderBatch has no rgb (render with outputs including 'rgb')")
    index = batch.camera_names.index(camera) if isinstance(camera, str) else int(camera)
    return _to_unit(batch.rgb[:, :, index]), batch.valid[:, :, index].bool()


def _to_unit(video: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float32 [0, 1]."""
    return video.float() / 255 if video.dtype == torch.uint8 else video.float()


def _trim(
    source: torch.Tensor, render: torch.Tensor, mask: torch.Tensor, frames_per_block: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = render.shape[1]
    n = largest_valid_frames(t, frames_per_block)
    if source.shape[0] == t:
        source = source[:n]
    return source, render[:, :n], mask[:, :n]


def _check_inputs(
    source_frames: torch.Tensor, render: torch.Tensor, mask: torch.Tensor
) -> tuple[int, int, int, int]:
    if render.ndim != 5 or render.shape[2] != 3:
        raise ValueError(f"render must be [K, T, 3, H, W], got {tuple(render.shape)}")
    k, t, _, h, w = render.shape
    if mask.shape != (k, t, h, w):
        raise ValueError(f"mask must be [K, T, H, W] = {(k, t, h, w)}, got {tuple(mask.shape)}")
    if (
        source_frames.ndim != 4
        or source_frames.shape[1:] != (3, h, w)
        or source_frames.shape[0] not in (1, t)
    ):
        raise ValueError(f"source_frames must be [1 or {t}, 3, {h}, {w}], got {tuple(source_frames.shape)}")
    check_image_size((w, h), "image size (W x H)")
    return k, t, h, w


class GeometricGenerator:
    """The geometric render itself as the imagined future, with the same streaming API.

    Args:
        hole_fill: ``none`` (holes stay black) or ``telea`` (holes inpainted per frame, a frame with nothing
            rendered holds the previous filled one: :func:`~inspatio_drive.world_model.inpaint.inpaint_holes`; the
            baseline the world model is measured against).
    """

    frames_per_block = FRAMES_PER_BLOCK

    def __init__(self, hole_fill: str = "none") -> None:
        if hole_fill not in HOLE_FILLS:
            raise ValueError(f"generator.hole_fill: expected one of {list(HOLE_FILLS)}, got {hole_fill!r}")
        self.hole_fill = hole_fill

    def generate(
        self,
        source_frames: torch.Tensor,
        render: torch.Tensor,
        mask: torch.Tensor,
        trim: bool = False,
        **_: object,
    ) -> Iterator[GeneratedBlock]:
        if trim:
            source_frames, render, mask = _trim(source_frames, render, mask, self.frames_per_block)
        render = _to_unit(render)
        _, t, _, _ = _check_inputs(source_frames, render, mask)
        n_blocks = check_num_frames(t, self.frames_per_block) // self.frames_per_block
        if self.hole_fill == "telea":
            u8 = (render.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu()
            render = torch.stack([inpaint_holes(u8[i], mask[i].cpu()) for i in range(u8.shape[0])]).float() / 255
            mask = torch.ones_like(mask)
        for b in range(n_blocks):
            rng = block_frame_range(b, self.frames_per_block)
            sl = slice(rng.start, rng.stop)
            frames = render[:, sl] * (mask[:, sl, None] > 0)
            yield GeneratedBlock(index=b, frame_indices=rng, frames=frames.float())


class InSpatioGenerator:
    """InSpatio-World future-video generator over K candidates.

    Args:
        dit: the causal DiT (loaded with :func:`~inspatio_drive.world_model.checkpoint.load_dit`).
        vae: Wan VAE (encodes source and renders; decodes unless another decoder is given), or the
            pixel-unshuffle / block-PCA codec of the small models (:mod:`.codec`).
        text_embeds: [n_tokens, text_dim] caption embedding (real tokens only), or None for no text.
        sampler: distilled sampler (default: official 4 steps).
        max_batch: streams per DiT batch.
        decoder: optional fast decoder (TAEHV) with the streaming protocol of :class:`WanVAE`
            (``start_stream()``, ``decode_next(latents, stream) -> [B, F, 3, H, W] in [-1, 1]``); None
            decodes with the Wan VAE (streaming, identical to decoding the whole video at once).
        encoder: optional fast encoder (TAEHV, InSpatio's ``--use_tae`` for encoding as well) with
            ``start_encode_stream()`` / ``encode_next``; None encodes with the Wan VAE. With both ``encoder`` and
            ``decoder`` given, ``vae`` may be None.
        scene_text: optional per-scene caption conditioning (``generator.caption=florence2``): the middle source
            frame ``[3, H, W]`` in [0, 1] -> ``[n_tokens, text_dim]`` embedding (a
            :class:`~.caption.SceneCaptions`); it replaces ``text_embeds`` in :meth:`generate`.
    """

    frames_per_block = FRAMES_PER_BLOCK

    def __init__(
        self,
        dit: CausalWanDiT,
        vae: WanVAE | PixelUnshuffleCodec | None,
        text_embeds: torch.Tensor | None = None,
        sampler: DistilledSampler | None = None,
        max_batch: int = 8,
        decoder: StreamingDecoder | None = None,
        encoder: StreamingEncoder | None = None,
        scene_text: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.dit = dit.eval()
        self.vae = vae
        self.encoder = encoder
        self.scene_text = scene_text
        self.sampler = sampler or DistilledSampler()
        self.max_batch = max_batch
        self.decoder = decoder
        c = dit.config
        self.device = dit.patch_embedding.weight.device
        self.dtype = dit.patch_embedding.weight.dtype
        text = (
            torch.zeros(1, 0, c.text_dim, device=self.device)
            if text_embeds is None
            else text_embeds.reshape(1, -1, c.text_dim).to(self.device)
        )
        self.text_kv = self._text_kv(text)  # shared by every pass and every stream

    @torch.no_grad()
    def _text_kv(self, text: torch.Tensor) -> Any:
        """[n_tokens, text_dim] or [1, n_tokens, text_dim] -> the DiT's cross-attention K/V."""
        return self.dit.text_kv(text.reshape(1, -1, self.dit.config.text_dim).to(self.device))

    # ------------------------------------------------------------------------------------------- memory
    def memory_estimate(self, num_streams: int, height: int, width: int) -> MemoryEstimate:
        """Peak device memory for ``num_streams`` candidates at ``height`` x ``width`` (see :mod:`.memory`)."""
        return estimate_memory(
            self.dit.config,
            min(num_streams, self.max_batch),
            height,
            width,
            self.dtype,
            self.frames_per_block,
        )

    # ------------------------------------------------------------------------------------------ latents
    def _encoder(self) -> StreamingEncoder:
        enc = self.encoder if self.encoder is not None else self.vae
        if enc is None:
            raise RuntimeError("this generator has no VAE or encoder: pass latents to generate_latents() instead")
        return enc

    def encode(self, video01: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, H, W] in [0, 1] -> normalised latents [B, L, 16, H/8, W/8] on the DiT device."""
        enc = self._encoder()
        parts = [v.to(self.device) * 2 - 1 for v in video01.split(self.max_batch)]
        if self.encoder is None:  # the Wan VAE, whole videos
            out = [self.vae.encode(v) for v in parts]
        else:  # TAEHV: one stream per part (1 + 4m frames)
            out = [enc.encode_next(v, enc.start_encode_stream()) for v in parts]
        return torch.cat(out).to(self.device)

    def generate_latents(
        self, ref_latent: torch.Tensor, cond_latent: torch.Tensor, seed: int = 0
    ) -> Iterator[torch.Tensor]:
        """Latent rollout for K streams: yields [K, 3, 16, h, w] per block.

        Args:
            ref_latent: [1, L, 16, h, w] source latents (shared) or [K, L, 16, h, w].
            cond_latent: [K, L, 20, h, w] ``[mask 4 | render 16]``.
            seed: stream i draws noise from ``torch.Generator(device).manual_seed(seed + i)``.
        """
        k, n_lat = cond_latent.shape[:2]
        if n_lat % self.frames_per_block:
            raise ValueError(f"{n_lat} latent frames is not a multiple of {self.frames_per_block}")
        f = self.frames_per_block

        def chunk_blocks(sl: slice) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            ref = ref_latent if ref_latent.shape[0] == 1 else ref_latent[sl]
            for b in range(n_lat // f):
                yield (
                    ref[:, b * f : (b + 1) * f].to(self.device),
                    cond_latent[sl, b * f : (b + 1) * f].to(self.device),
                )

        yield from self._run_chunks(chunk_blocks, k, tuple(cond_latent.shape[3:]), seed)

    def _chunks(self, k: int) -> list[slice]:
        return [slice(a, min(k, a + self.max_batch)) for a in range(0, k, self.max_batch)]

    def _run_chunks(
        self,
        chunk_blocks: Callable[[slice], Iterator[tuple[torch.Tensor, torch.Tensor]]],
        k: int,
        latent_hw: tuple[int, int],
        seed: int,
        text_kv: Any = None,
    ) -> Iterator[torch.Tensor]:
        """Advance the rollouts of all chunks of ``max_batch`` streams one block at a time, sharing one cache."""
        cfg = self.dit.config
        h, w = latent_hw
        tokens = (h // cfg.patch_size[1]) * (w // cfg.patch_size[2])
        cache = KVCache(
            cfg.num_layers, min(k, self.max_batch), 3 * self.frames_per_block * tokens, cfg.num_heads,
            cfg.head_dim, dtype=self.dtype, device=self.device,
        )  # fmt: skip
        rollouts = []
        kv = self.text_kv if text_kv is None else text_kv
        for sl in self._chunks(k):
            gens = [
                torch.Generator(device=self.device).manual_seed(seed + i) for i in range(sl.start, sl.stop)
            ]
            blocks = chunk_blocks(sl)
            rollouts.append(
                rollout_blocks(self.dit, kv, blocks, torch_noise(gens), self.sampler, cache)
            )
        while True:
            try:
                yield torch.cat([next(it).x0 for it in rollouts])
            except StopIteration:
                return

    # ------------------------------------------------------------------------------------------- videos
    def generate(
        self,
        source_frames: torch.Tensor,
        render: torch.Tensor,
        mask: torch.Tensor,
        seed: int = 0,
        decode: bool = True,
        trim: bool = False,
    ) -> Iterator[GeneratedBlock]:
        """Generate K future videos, streamed block by block (see the module docstring for shapes).

        Encoding is streamed too: block b encodes only its own frames (``block.frame_indices``) of the source
        and of the renders, with the VAE's causal cache carried over, which equals encoding whole videos.
        """
        vae = self._encoder()
        if decode and self.decoder is None and self.vae is None:
            raise RuntimeError("this generator has no VAE or decoder: generate with decode=False")
        if trim:
            source_frames, render, mask = _trim(source_frames, render, mask, self.frames_per_block)
        k, t, height, width = _check_inputs(source_frames, render, mask)
        n_blocks = check_num_frames(t, self.frames_per_block) // self.frames_per_block
        latent_hw = (height // VAE_SPACE_STRIDE, width // VAE_SPACE_STRIDE)
        text_kv = None
        if self.scene_text is not None:  # InSpatio captions the middle frame of the source video
            text_kv = self._text_kv(self.scene_text(_to_unit(source_frames[source_frames.shape[0] // 2])))
        source_stream = vae.start_encode_stream()
        refs: dict[int, torch.Tensor] = {}

        def ref_block(b: int) -> torch.Tensor:
            """Source latents of block b, encoded once for all chunks (chunks advance block by block)."""
            if b not in refs:
                rng = block_frame_range(b, self.frames_per_block)
                src = (
                    source_frames[:1].expand(len(rng), -1, -1, -1)
                    if source_frames.shape[0] == 1
                    else source_frames[rng.start : rng.stop]
                )
                refs.clear()
                refs[b] = vae.encode_next(_to_unit(src[None]).to(self.device) * 2 - 1, source_stream)
            return refs[b]

        def chunk_blocks(sl: slice) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            stream = vae.start_encode_stream()
            for b in range(n_blocks):
                rng = block_frame_range(b, self.frames_per_block)
                fr = slice(rng.start, rng.stop)
                signed = mask_to_signed(mask[sl, fr].to(self.device))
                cond = encode_condition(
                    lambda v, s=stream: vae.encode_next(v, s),  # type: ignore[misc]
                    _to_unit(render[sl, fr].to(self.device)),
                    signed,
                    first_frame_repeat=b == 0,
                )
                yield ref_block(b), cond

        dec: StreamingDecoder | None = self.decoder if self.decoder is not None else self.vae
        streams = [dec.start_stream() for _ in self._chunks(k)] if decode else []
        for b, x0 in enumerate(self._run_chunks(chunk_blocks, k, latent_hw, seed, text_kv)):
            frames = None
            if decode:
                parts = [dec.decode_next(x0[sl], s) for sl, s in zip(self._chunks(k), streams)]
                frames = (torch.cat(parts) + 1) / 2
            yield GeneratedBlock(index=b, frame_indices=block_frame_range(b), frames=frames, latents=x0)
