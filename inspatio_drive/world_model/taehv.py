"""TAEHV (tiny autoencoder for video latents, ``taew2_1`` for the Wan2.1 latent space): decoder and encoder, streaming.

The fast codec option of InSpatio-World (``--use_tae``, "use TAE instead of WanVAE"): the decoder turns the
DiT's normalised latents directly into RGB in [0, 1], about 20x cheaper than the Wan VAE decoder, at lower
fidelity; the encoder (``generator.encoder=taehv``) maps RGB in [0, 1] to the same normalised latents.

Layer layout (index = key in the checkpoint, ``decoder.<i>.*``; n = (256, 128, 64, 64))::

     0 clamp 3·tanh(x/3)   1 conv3x3(16 -> n0)  2 relu
     3-5 MemBlock(n0)      6 upsample x2        7 TGrow(n0, 1)   8 conv3x3(n0 -> n1, no bias)
     9-11 MemBlock(n1)    12 upsample x2       13 TGrow(n1, 2)  14 conv3x3(n1 -> n2, no bias)
    15-17 MemBlock(n2)    18 upsample x2       19 TGrow(n2, 2)  20 conv3x3(n2 -> n3, no bias)
    21 relu               22 conv3x3(n3 -> 3)

``MemBlock(x_t, x_{t-1}) = relu(convs(cat[x_t, x_{t-1}]) + x_t)`` mixes each frame with the previous frame's
input of the same block (zeros before the first frame); ``TGrow`` turns each frame into ``stride`` frames
with a 1x1 conv (channel group j -> frame j). L latents give 4L frames, of which the first 3 are dropped:
4L - 3 frames, like the Wan VAE. Decoding chunk by chunk with the last frame of every MemBlock carried over
is identical to decoding the whole sequence at once.

Encoder layout (``encoder.<i>.*``, 64 channels)::

     0 conv3x3(3 -> 64)   1 relu
     2 TPool(64, 2)   3 conv3x3 stride 2 (no bias)   4-6 MemBlock(64)
     7 TPool(64, 2)   8 conv3x3 stride 2 (no bias)   9-11 MemBlock(64)
    12 TPool(64, 1)  13 conv3x3 stride 2 (no bias)  14-16 MemBlock(64)
    17 conv3x3(64 -> 16)

``TPool(C, s)`` merges ``s`` consecutive frames (channels concatenated in time order) with a 1x1 conv: 4 input
frames give one latent. Frame alignment follows the Wan VAE and this decoder: frame 0 is repeated 3 times in
front, so a video of ``4L - 3`` frames gives ``L`` latents, latent 0 <- frame 0 and latent j <- frames
``4j-3 .. 4j``; decoding them drops the same 3 leading frames. Encoding chunk by chunk (any whole groups of 4
frames after the padding) equals encoding the whole video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

CHANNELS = (256, 128, 64, 64)


def _conv(n_in: int, n_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias)


class SoftClamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class MemBlock(nn.Module):
    """Residual block over (current frame, previous frame). Keys ``conv.{0,2,4}.*`` (``skip`` if n_in != n_out)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            _conv(2 * n_in, n_out), nn.ReLU(), _conv(n_out, n_out), nn.ReLU(), _conv(n_out, n_out)
        )
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        """x, past: [N, C, H, W] -> [N, C_out, H, W]."""
        return F.relu(self.conv(torch.cat([x, past], dim=1)) + self.skip(x))


class TGrow(nn.Module):
    """Temporal upsampling by ``stride`` with a 1x1 conv (key ``conv.weight`` [stride·C, C, 1, 1])."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels, channels * stride, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, T, C, H, W] -> [N, T·stride, C, H, W]."""
        n, t, c, h, w = x.shape
        y = self.conv(x.flatten(0, 1))
        return y.view(n, t * self.stride, c, h, w)


class TPool(nn.Module):
    """Temporal downsampling by ``stride`` with a 1x1 conv (key ``conv.weight`` [C, stride·C, 1, 1])."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels * stride, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, T, C, H, W] (T a multiple of stride) -> [N, T/stride, C, H, W]."""
        n, t, c, h, w = x.shape
        y = self.conv(x.reshape(n * (t // self.stride), self.stride * c, h, w))
        return y.view(n, t // self.stride, c, h, w)


def _run_layers(layers: nn.Sequential, x: torch.Tensor, memory: dict[int, torch.Tensor]) -> torch.Tensor:
    """Run a TAEHV stack over [N, T, C, H, W]; MemBlocks see the previous frame (``memory`` carries it over)."""
    for i, layer in enumerate(layers):
        if isinstance(layer, MemBlock):
            prev = memory.get(i)
            prev = torch.zeros_like(x[:, :1]) if prev is None else prev
            past = torch.cat([prev, x[:, :-1]], dim=1)
            memory[i] = x[:, -1:]
            x = layer(x.flatten(0, 1), past.flatten(0, 1)).unflatten(0, x.shape[:2])
        elif isinstance(layer, TGrow | TPool):
            x = layer(x)
        else:
            x = layer(x.flatten(0, 1)).unflatten(0, x.shape[:2])
    return x


@dataclass
class TAEStream:
    """State of one streaming decode: the previous input frame of every MemBlock."""

    memory: dict[int, torch.Tensor] = field(default_factory=dict)
    frames_out: int = 0


class TAEHVDecoder(nn.Module):
    """TAEHV decoder for 16-channel Wan2.1 latents (``taew2_1``).

    Args:
        latent_channels: latent channels (16 for Wan2.1).
        channels: widths of the three stages and the output stage.
        time_upscale: TGrow stride 2 per stage (default (False, True, True): 4x in time).
    """

    def __init__(
        self,
        latent_channels: int = 16,
        channels: tuple[int, int, int, int] = CHANNELS,
        time_upscale: tuple[bool, bool, bool] = (False, True, True),
    ) -> None:
        super().__init__()
        n = channels
        layers: list[nn.Module] = [SoftClamp(), _conv(latent_channels, n[0]), nn.ReLU()]
        for stage in range(3):
            c = n[stage]
            layers += [MemBlock(c, c), MemBlock(c, c), MemBlock(c, c), nn.Upsample(scale_factor=2)]
            layers += [TGrow(c, 2 if time_upscale[stage] else 1), _conv(c, n[stage + 1], bias=False)]
        layers += [nn.ReLU(), _conv(n[3], 3)]
        self.decoder = nn.Sequential(*layers)
        self.frames_to_trim = 2 ** sum(time_upscale) - 1

    # ----------------------------------------------------------------------------------------- decoding
    def _run(self, z: torch.Tensor, stream: TAEStream) -> torch.Tensor:
        return _run_layers(self.decoder, z, stream.memory).clamp(0, 1)

    def start_stream(self) -> TAEStream:
        return TAEStream()

    @torch.no_grad()
    def decode_next(self, latents: torch.Tensor, stream: TAEStream) -> torch.Tensor:
        """Next latents [B, n, 16, h, w] of a stream -> frames [B, F, 3, 8h, 8w] in [-1, 1] (float32).

        The first call drops the first ``frames_to_trim`` frames, so the counts follow the Wan VAE.
        """
        dtype = self.decoder[1].weight.dtype
        frames = self._run(latents.to(dtype), stream)
        if stream.frames_out == 0:
            frames = frames[:, self.frames_to_trim :]
        stream.frames_out += frames.shape[1]
        return frames.float() * 2 - 1

    @torch.no_grad()
    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Whole sequence [B, L, 16, h, w] -> [B, 4L-3, 3, 8h, 8w] in [0, 1]."""
        return (self.decode_next(latents, self.start_stream()) + 1) / 2


class TAEHVEncoder(nn.Module):
    """TAEHV encoder: RGB video -> 16-channel normalised Wan2.1 latents (``taew2_1``), streaming.

    Args:
        latent_channels: latent channels (16 for Wan2.1).
        channels: width of every stage (64 in ``taew2_1``).
        time_downscale: TPool stride 2 per stage (default (True, True, False): 4x in time).
    """

    def __init__(
        self,
        latent_channels: int = 16,
        channels: int = 64,
        time_downscale: tuple[bool, bool, bool] = (True, True, False),
    ) -> None:
        super().__init__()
        c = channels
        layers: list[nn.Module] = [_conv(3, c), nn.ReLU()]
        for stage in range(3):
            layers += [TPool(c, 2 if time_downscale[stage] else 1), nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False)]
            layers += [MemBlock(c, c), MemBlock(c, c), MemBlock(c, c)]
        layers += [_conv(c, latent_channels)]
        self.encoder = nn.Sequential(*layers)
        self.frames_per_latent = 2 ** sum(time_downscale)

    def start_encode_stream(self) -> TAEStream:
        return TAEStream()

    @torch.no_grad()
    def encode_next(self, video: torch.Tensor, stream: TAEStream) -> torch.Tensor:
        """Next frames of a stream [B, n, 3, H, W] in [-1, 1] -> normalised latents [B, n', 16, H/8, W/8] (float32).

        As :meth:`WanVAE.encode_next`: ``1 + 4m`` frames on the first call (frame 0 is repeated 3 times in front),
        ``4m`` afterwards; the result equals :meth:`encode_video` of the whole video.
        """
        n, lead = video.shape[1], stream.frames_out == 0
        stride = self.frames_per_latent
        if (n + (stride - 1 if lead else 0)) % stride or n == 0:
            what = f"1 + {stride}m frames on the first call" if lead else f"a multiple of {stride} frames"
            raise ValueError(f"streaming encode needs {what}, got {n}")
        dtype = self.encoder[0].weight.dtype
        x = (video.to(dtype) + 1) / 2
        if lead:
            x = torch.cat([x[:, :1].expand(-1, stride - 1, -1, -1, -1), x], dim=1)
        stream.frames_out += n
        return _run_layers(self.encoder, x, stream.memory).float()

    @torch.no_grad()
    def encode_video(self, video01: torch.Tensor) -> torch.Tensor:
        """Whole video [B, 4L-3, 3, H, W] in [0, 1] -> [B, L, 16, H/8, W/8]."""
        return self.encode_next(video01 * 2 - 1, self.start_encode_stream())


def _read_state(p: Path) -> dict[str, torch.Tensor]:
    if not p.is_file():
        raise FileNotFoundError(f"TAEHV checkpoint not found at {p.resolve()} (generator.taehv=...; taew2_1.pth)")
    if p.suffix == ".safetensors":
        return load_file(str(p))
    return torch.load(str(p), map_location="cpu", weights_only=True)


def load_taehv_encoder(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float16
) -> TAEHVEncoder:
    """Load the encoder half of a TAEHV checkpoint (``taew2_1.pth`` / ``.safetensors``), strictly."""
    p = Path(path).expanduser()
    state = {k: v for k, v in _read_state(p).items() if k.startswith("encoder.")}
    model = TAEHVEncoder()
    expected = model.state_dict()
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    wrong = [k for k in expected.keys() & state.keys() if state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{p}: not a taew2_1 TAEHV encoder: missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}, "
            f"wrong shapes {wrong[:4]}"
        )
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval()


def load_taehv(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float16
) -> TAEHVDecoder:
    """Load the decoder half of a TAEHV checkpoint (``taew2_1.pth`` / ``.safetensors``), strictly.

    Encoder keys are ignored. A TGrow weight trained with a larger temporal stride keeps its last-timestep
    output channels (as the reference TAEHV loader does).
    """
    p = Path(path).expanduser()
    state = _read_state(p)
    model = TAEHVDecoder()
    expected = model.state_dict()
    dec = {k: v for k, v in state.items() if k.startswith("decoder.")}
    for i, layer in enumerate(model.decoder):
        key = f"decoder.{i}.conv.weight"
        if isinstance(layer, TGrow) and key in dec and dec[key].shape[0] > expected[key].shape[0]:
            dec[key] = dec[key][-expected[key].shape[0] :]
    missing, unexpected = expected.keys() - dec.keys(), dec.keys() - expected.keys()
    wrong = [k for k in expected.keys() & dec.keys() if dec[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{p}: not a taew2_1 TAEHV decoder: missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}, "
            f"wrong shapes {wrong[:4]}"
        )
    model.load_state_dict(dec, strict=True)
    return model.to(device=device, dtype=dtype).eval()
