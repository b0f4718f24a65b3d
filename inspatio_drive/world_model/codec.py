"""Small codecs in place of the Wan VAE (small world models trained from scratch): a lossless pixel-unshuffle
codec, and a block-PCA codec (the optimal linear autoencoder of the unshuffled blocks, fitted in seconds).

It keeps the Wan VAE's frame and stride rules, so the DiT, the condition latents and the rollout are unchanged:
space stride 8, time stride 4 with frame 0 alone (the first frame is repeated 4 times, as the mask latent is):

    latent 0  = unshuffle([f0, f0, f0, f0])       latent j >= 1 = unshuffle([f_{4j-3}, ..., f_{4j}])
    channels  = 4 frames x 3 colours x 8 x 8 = 768, values = pixels in [-1, 1] (no normalisation)

``unshuffle`` stacks the 4 frames on the channel axis, then ``pixel_unshuffle(8)``: channel
``(frame·3 + colour)·64 + dy·8 + dx``. Decoding is exact: latent 0 gives one frame (the last of its group),
later latents give 4. The streaming methods have the signatures of :class:`~.vae.WanVAE`.

Why a second codec: a DiT token of 2x2 unshuffled latents holds 4 x 768 = 3072 values; a small DiT (width 128)
cannot carry the noise of so many values through its tokens, so its flow prediction cannot contain ε and its
x0 stays noisy. :class:`BlockPCACodec` projects each 768-value block on its first C principal components
(whitened), e.g. C = 32: a token then holds 128 values, and the codec is fitted on the training videos
(:func:`fit_block_pca`). It is lossy (block-PCA reconstruction, e.g. ~22 dB on sandbox frames at C = 32).

A block-PCA codec may carry a learned decoder refinement (:class:`BlockRefiner`, a small residual conv net applied
to each decoded frame, trained on the generator's decoded latents against the true frames; decoder fine-tuning as
video VAEs do): its weights are extra ``refiner.*`` tensors of the codec file and its sizes the ``refiner``
metadata. Files without them load and decode exactly as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from .condition import VAE_SPACE_STRIDE, VAE_TIME_STRIDE

PIXEL_UNSHUFFLE = "pixel-unshuffle"
"""``generator.vae`` value selecting the lossless codec."""
RAW_CHANNELS = VAE_TIME_STRIDE * 3 * VAE_SPACE_STRIDE**2  # 768 values per unshuffled block
BLOCK_PCA = "block-pca"
"""``generator.vae`` prefix of the block-PCA codec: ``block-pca:<codec.safetensors>``."""


@dataclass
class CodecStream:
    """State of one streaming encode / decode: whether the next call starts at frame 0."""

    first: bool = True


class PixelUnshuffleCodec:
    """Space-to-depth codec with the Wan VAE's strides: [B, T, 3, H, W] <-> [B, L, 768, H/8, W/8]."""

    stride = VAE_SPACE_STRIDE
    time_stride = VAE_TIME_STRIDE
    channels = RAW_CHANNELS

    def __init__(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.device = torch.device(device)
        self.dtype = dtype

    def to(self, device: torch.device | str) -> PixelUnshuffleCodec:
        self.device = torch.device(device)
        return self

    # ----------------------------------------------------------------------------------------- whole videos
    def _group(self, video: torch.Tensor, first: bool) -> torch.Tensor:
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"video must be [B, T, 3, H, W], got {tuple(video.shape)}")
        b, n, _, h, w = video.shape
        if h % self.stride or w % self.stride:
            raise ValueError(f"frame size {h}x{w} is not a multiple of the codec stride {self.stride}")
        if first:
            video = torch.cat([video[:, :1].expand(b, self.time_stride - 1, 3, h, w), video], dim=1)
        if video.shape[1] % self.time_stride:
            what = "1 + 4m frames from frame 0" if first else "a multiple of 4 frames"
            raise ValueError(f"the codec needs {what}, got {n}")
        groups = video.reshape(b, -1, self.time_stride * 3, h, w)  # [B, L, 12, H, W]
        lat = F.pixel_unshuffle(groups.flatten(0, 1), self.stride)
        return lat.reshape(b, -1, RAW_CHANNELS, h // self.stride, w // self.stride).float()

    def _ungroup(self, latents: torch.Tensor, first: bool) -> torch.Tensor:
        if latents.ndim != 5 or latents.shape[2] != RAW_CHANNELS:
            raise ValueError(f"latents must be [B, L, {RAW_CHANNELS}, h, w], got {tuple(latents.shape)}")
        b, n, _, h, w = latents.shape
        px = F.pixel_shuffle(latents.float().flatten(0, 1), self.stride)
        frames = px.reshape(b, n * self.time_stride, 3, h * self.stride, w * self.stride)
        if first:
            frames = frames[:, self.time_stride - 1 :]
        return frames.clamp(-1.0, 1.0)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, H, W] in [-1, 1], T = 4L - 3 -> latents [B, L, 768, H/8, W/8] (float32)."""
        return self._group(video.to(self.device), first=True)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [B, L, 768, h, w] -> video [B, 4L - 3, 3, 8h, 8w] in [-1, 1]."""
        return self._ungroup(latents, first=True)

    # ---------------------------------------------------------------------------------------- streaming
    def start_encode_stream(self) -> CodecStream:
        return CodecStream()

    @torch.no_grad()
    def encode_next(self, video: torch.Tensor, stream: CodecStream) -> torch.Tensor:
        """Next frames of a stream (1 + 4m on the first call, 4m afterwards) -> their latents."""
        out = self._group(video.to(self.device), first=stream.first)
        stream.first = False
        return out

    def start_stream(self) -> CodecStream:
        return CodecStream()

    @torch.no_grad()
    def decode_next(self, latents: torch.Tensor, stream: CodecStream) -> torch.Tensor:
        """Next latents of a stream -> [B, frames, 3, 8h, 8w] in [-1, 1] (1 + 4(n-1) frames first, then 4n)."""
        out = self._ungroup(latents, first=stream.first)
        stream.first = False
        return out


REFINER_PREFIX = "refiner."
"""Prefix of the refiner's tensors in a block-PCA codec file."""


def block_phase(height: int, width: int, stride: int = VAE_SPACE_STRIDE) -> torch.Tensor:
    """[4, H, W] position of each pixel inside its codec block: cos / sin of 2π·x/stride and of 2π·y/stride."""
    ang_x = 2 * torch.pi * (torch.arange(width) % stride).float() / stride
    ang_y = 2 * torch.pi * (torch.arange(height) % stride).float() / stride
    x = torch.stack([ang_x.cos(), ang_x.sin()])[:, None, :].expand(2, height, width)
    y = torch.stack([ang_y.cos(), ang_y.sin()])[:, :, None].expand(2, height, width)
    return torch.cat([x, y])


class BlockRefiner(torch.nn.Module):
    """Learned decoder refinement: frames [N, 3, H, W] in [-1, 1] -> refined frames [N, 3, H, W] (same range).

    ``x + head(res_blocks(stem([x, block_phase])))``: a 3x3 stem, ``blocks`` residual blocks (3x3 conv, SiLU,
    3x3 conv) of ``channels`` features and a 3x3 head, so the receptive field is 2·(2·blocks + 2) + 1 pixels
    (17 for 3 blocks, wider than the 8-pixel codec blocks whose edges it removes). The 4 block-phase inputs
    (:func:`block_phase`) tell it where the block edges are. The head starts at zero: an untrained refiner is
    the identity. H and W must be multiples of the codec stride (the phase is relative to the frame corner).
    """

    def __init__(self, channels: int = 32, blocks: int = 3) -> None:
        super().__init__()
        if channels < 1 or blocks < 0:
            raise ValueError(f"BlockRefiner: channels={channels} must be >= 1 and blocks={blocks} >= 0")
        self.channels, self.blocks = int(channels), int(blocks)
        self.stem = torch.nn.Conv2d(3 + 4, channels, 3, padding=1)
        self.body = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.SiLU(),
                                torch.nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(blocks)
        )  # fmt: skip
        self.head = torch.nn.Conv2d(channels, 3, 3, padding=1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        phase = block_phase(h, w).to(device=x.device, dtype=x.dtype)[None].expand(n, 4, h, w)
        f = F.silu(self.stem(torch.cat([x, phase], 1)))
        for blk in self.body:
            f = f + blk(f)
        return x + self.head(f)

    def sizes(self) -> dict[str, int]:
        return {"channels": self.channels, "blocks": self.blocks}


class BlockPCACodec(PixelUnshuffleCodec):
    """Pixel-unshuffle blocks projected on C whitened principal components: [B, T, 3, H, W] <-> [B, L, C, H/8, W/8].

    ``z = (u - mean) @ basis / scale`` with ``u`` the 768 values of a block, ``basis`` [768, C] orthonormal
    columns, ``scale`` [C] the components' standard deviations; decoding ``u = (z·scale) @ basisᵀ + mean``,
    then, when the codec has a ``refiner`` (:class:`BlockRefiner`), each decoded frame is refined by it (float32,
    ``refine_batch`` frames at a time). :meth:`decode_raw` is the decoding without the refiner.
    """

    refine_batch = 64

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, scale: torch.Tensor,
                 device: torch.device | str = "cpu", refiner: BlockRefiner | None = None) -> None:
        super().__init__(device)
        if mean.shape != (RAW_CHANNELS,) or basis.shape[0] != RAW_CHANNELS \
                or scale.shape != (basis.shape[1],):
            raise ValueError(f"block-PCA codec: mean {tuple(mean.shape)}, basis {tuple(basis.shape)}, scale "
                             f"{tuple(scale.shape)} do not fit 768-value blocks")
        self.mean, self.basis, self.scale = mean.float(), basis.float(), scale.float()
        self.channels = int(basis.shape[1])  # type: ignore[misc]
        self.refiner = refiner.float().eval() if refiner is not None else None
        self.to(device)

    def to(self, device: torch.device | str) -> BlockPCACodec:
        self.device = torch.device(device)
        self.mean, self.basis, self.scale = (t.to(self.device) for t in (self.mean, self.basis, self.scale))
        if self.refiner is not None:
            self.refiner.to(self.device)
        return self

    def with_refiner(self, refiner: BlockRefiner | None) -> BlockPCACodec:
        """The same projection with another refiner (None: the plain block-PCA decoding)."""
        return BlockPCACodec(self.mean, self.basis, self.scale, self.device, refiner)

    def _group(self, video: torch.Tensor, first: bool) -> torch.Tensor:
        u = super()._group(video, first).permute(0, 1, 3, 4, 2)  # [B, L, h, w, 768]
        return (((u - self.mean) @ self.basis) / self.scale).permute(0, 1, 4, 2, 3).contiguous()

    def _ungroup_raw(self, latents: torch.Tensor, first: bool) -> torch.Tensor:
        if latents.ndim != 5 or latents.shape[2] != self.channels:
            raise ValueError(f"latents must be [B, L, {self.channels}, h, w], got {tuple(latents.shape)}")
        z = latents.float().permute(0, 1, 3, 4, 2)
        u = (z * self.scale) @ self.basis.T + self.mean
        return super()._ungroup(u.permute(0, 1, 4, 2, 3), first)

    def _ungroup(self, latents: torch.Tensor, first: bool) -> torch.Tensor:
        frames = self._ungroup_raw(latents, first)
        return frames if self.refiner is None else self.refine(frames)

    @torch.no_grad()
    def refine(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, 3, H, W] in [-1, 1] through the refiner (identity without one), clamped to [-1, 1]."""
        if self.refiner is None:
            return frames
        flat = frames.flatten(0, 1).float()
        out = torch.cat([self.refiner(flat[i : i + self.refine_batch]) for i in range(0, len(flat), self.refine_batch)])
        return out.reshape(frames.shape).clamp(-1.0, 1.0)

    @torch.no_grad()
    def decode_raw(self, latents: torch.Tensor) -> torch.Tensor:
        """:meth:`decode` without the refiner: latents [B, L, C, h, w] -> [B, 4L - 3, 3, 8h, 8w] in [-1, 1]."""
        return self._ungroup_raw(latents, first=True)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """The codec file: ``mean``, ``basis``, ``scale`` (float32) and, with a refiner, its ``refiner.*``
        tensors (float32) with its sizes in the ``refiner`` metadata (JSON)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean.cpu().contiguous(), "basis": self.basis.cpu().contiguous(),
                   "scale": self.scale.cpu().contiguous()}
        metadata = {"codec": BLOCK_PCA}
        if self.refiner is not None:
            tensors.update({REFINER_PREFIX + k: v.detach().float().cpu().contiguous()
                            for k, v in self.refiner.state_dict().items()})
            metadata["refiner"] = json.dumps(self.refiner.sizes())
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: torch.device | str = "cpu") -> BlockPCACodec:
        """A codec file of :meth:`save` (with or without a refiner; refiner tensors are cast to float32)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"block-PCA codec file {path} does not exist")
        with safe_open(str(path), framework="pt") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            metadata = f.metadata() or {}
        missing = {"mean", "basis", "scale"} - t.keys()
        if missing:
            raise ValueError(f"{path}: not a block-PCA codec file (missing {sorted(missing)})")
        refiner = None
        weights = {k[len(REFINER_PREFIX) :]: v.float() for k, v in t.items() if k.startswith(REFINER_PREFIX)}
        if weights or "refiner" in metadata:
            try:
                sizes = json.loads(metadata["refiner"])
                refiner = BlockRefiner(int(sizes["channels"]), int(sizes["blocks"]))
                refiner.load_state_dict(weights)
            except (KeyError, ValueError, TypeError, RuntimeError) as e:
                raise ValueError(f"{path}: refiner tensors / 'refiner' metadata do not match a BlockRefiner "
                                 f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
        return cls(t["mean"], t["basis"], t["scale"], device, refiner)


def fit_block_pca(videos: Iterable[torch.Tensor], channels: int) -> BlockPCACodec:
    """Fit the codec on videos [T, 3, H, W] (uint8 or float in [0, 1]; T = 4L - 3): mean and covariance of all
    their unshuffled blocks (float64), then the ``channels`` leading eigenvectors."""
    raw = PixelUnshuffleCodec()
    n, total, outer = 0, torch.zeros(raw.channels, dtype=torch.float64), torch.zeros(raw.channels, raw.channels,
                                                                                   dtype=torch.float64)
    for v in videos:
        v = v.float() / 255.0 if v.dtype == torch.uint8 else v.float()
        u = raw.encode(v[None] * 2 - 1).permute(0, 1, 3, 4, 2).reshape(-1, raw.channels).double()
        n += len(u)
        total += u.sum(0)
        outer += u.T @ u
    if n == 0:
        raise ValueError("fit_block_pca: no videos")
    mean = total / n
    cov = outer / n - torch.outer(mean, mean)
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)[:channels]
    scale = evals[order].clamp_min(1e-8).sqrt()
    return BlockPCACodec(mean.float(), evecs[:, order].float(), scale.float())
