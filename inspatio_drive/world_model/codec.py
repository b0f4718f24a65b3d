"""A lossless pixel-unshuffle codec in place of the Wan VAE (small world models trained from scratch).

It keeps the Wan VAE's frame and stride rules, so the DiT, the condition latents and the rollout are unchanged:
space stride 8, time stride 4 with frame 0 alone (the first frame is repeated 4 times, as the mask latent is):

    latent 0  = unshuffle([f0, f0, f0, f0])       latent j >= 1 = unshuffle([f_{4j-3}, ..., f_{4j}])
    channels  = 4 frames x 3 colours x 8 x 8 = 768, values = pixels in [-1, 1] (no normalisation)

``unshuffle`` stacks the 4 frames on the channel axis, then ``pixel_unshuffle(8)``: channel
``(frame·3 + colour)·64 + dy·8 + dx``. Decoding is exact: latent 0 gives one frame (the last of its group),
later latents give 4. The streaming methods have the signatures of :class:`~.vae.WanVAE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .condition import VAE_SPACE_STRIDE, VAE_TIME_STRIDE

PIXEL_UNSHUFFLE = "pixel-unshuffle"
"""``generator.vae`` value selecting this codec."""


@dataclass
class CodecStream:
    """State of one streaming encode / decode: whether the next call starts at frame 0."""

    first: bool = True


class PixelUnshuffleCodec:
    """Space-to-depth codec with the Wan VAE's strides: [B, T, 3, H, W] <-> [B, L, 768, H/8, W/8]."""

    stride = VAE_SPACE_STRIDE
    time_stride = VAE_TIME_STRIDE
    channels = VAE_TIME_STRIDE * 3 * VAE_SPACE_STRIDE**2

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
        return lat.view(b, -1, self.channels, h // self.stride, w // self.stride).float()

    def _ungroup(self, latents: torch.Tensor, first: bool) -> torch.Tensor:
        if latents.ndim != 5 or latents.shape[2] != self.channels:
            raise ValueError(f"latents must be [B, L, {self.channels}, h, w], got {tuple(latents.shape)}")
        b, n, _, h, w = latents.shape
        px = F.pixel_shuffle(latents.float().flatten(0, 1), self.stride)
        frames = px.view(b, n * self.time_stride, 3, h * self.stride, w * self.stride)
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
