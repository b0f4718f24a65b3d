"""Wan2.1 video VAE through diffusers' ``AutoencoderKLWan``, with InSpatio's latent normalisation and a
block-streaming decoder.

Latents are normalised per channel, ``z = (μ - mean) / std`` with the Wan2.1 16-channel statistics (the
``latents_mean`` / ``latents_std`` of the diffusers config, equal to the constants hard-coded in the official
wrapper); encoding is deterministic (posterior mean), as in the official ``encode_to_latent``.

Layouts: pixel videos [B, T, 3, H, W] in [-1, 1]; latents [B, L, 16, H/8, W/8] with ``L = 1 + (T-1)//4``.

Weights: a diffusers folder (``Wan2.1-T2V-1.3B-Diffusers/vae``), or the original ``Wan2.1_VAE.pth`` /
a safetensors file with the original key names, converted by diffusers' ``convert_wan_vae_to_diffusers``
(``.pth`` files are read with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

ORIGINAL_VAE_MARKER = "decoder.middle.0.residual.0.gamma"


def _autoencoder_cls():
    from diffusers import AutoencoderKLWan  # lazy: optional heavy model library

    return AutoencoderKLWan


def load_wan_vae(
    path: str | os.PathLike[str], dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> nn.Module:
    """Load the Wan2.1 VAE as a diffusers ``AutoencoderKLWan``.

    Args:
        path: a diffusers model folder (with ``config.json``), or a ``.pth`` / ``.safetensors`` state dict
            in the original Wan layout (``Wan2.1_VAE.pth``) or in the diffusers layout.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the tensors do not fit the Wan2.1 VAE (names the keys).
    """
    cls = _autoencoder_cls()
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"Wan2.1 VAE not found at {p.resolve()}: pass a diffusers 'vae' folder or Wan2.1_VAE.pth "
            "(generator.vae=...)"
        )
    if p.is_dir():
        return cls.from_pretrained(str(p), torch_dtype=dtype).to(device).eval()
    if p.suffix == ".safetensors":

        state = load_file(str(p))
    else:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    if ORIGINAL_VAE_MARKER in state:
        from diffusers.loaders.single_file_utils import (
            convert_wan_vae_to_diffusers,  # lazy: optional heavy model library
        )

        state = convert_wan_vae_to_diffusers(state)
    with torch.device("meta"):
        model = cls()
    expected = model.state_dict()
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    wrong = [k for k in expected.keys() & state.keys() if state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{p}: not a Wan2.1 VAE state dict: {len(missing)} missing keys (e.g. {sorted(missing)[:4]}), "
            f"{len(unexpected)} unexpected keys (e.g. {sorted(unexpected)[:4]}), wrong shapes {sorted(wrong)[:4]}"
        )
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval()


class WanVAE(nn.Module):
    """Encode / decode with InSpatio's normalised latents.

    Args:
        autoencoder: a diffusers ``AutoencoderKLWan`` (any size; tests use a tiny random one).
    """

    def __init__(self, autoencoder: nn.Module) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        cfg = autoencoder.config
        self.register_buffer("mean", torch.tensor(cfg.latents_mean, dtype=torch.float32).view(1, 1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(cfg.latents_std, dtype=torch.float32).view(1, 1, -1, 1, 1))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.autoencoder.parameters()).dtype

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, H, W] in [-1, 1] -> normalised latents [B, L, 16, H/8, W/8] (float32)."""
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"video must be [B, T, 3, H, W], got {tuple(video.shape)}")
        x = video.permute(0, 2, 1, 3, 4).to(self.dtype)
        mu = self.autoencoder.encode(x).latent_dist.mode().float()
        return (mu.permute(0, 2, 1, 3, 4) - self.mean) / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, L, 16, h, w] -> video [B, 4L-3, 3, 8h, 8w] in [-1, 1] (float32)."""
        z = (latents.float() * self.std + self.mean).permute(0, 2, 1, 3, 4).to(self.dtype)
        out = self.autoencoder.decode(z).sample
        return out.float().permute(0, 2, 1, 3, 4)

    # ------------------------------------------------------------------------------------ streaming
    def start_encode_stream(self) -> DecodeStream:
        """Begin a streaming encode of one batch of videos; returns its causal-conv cache state."""
        return DecodeStream(feat_map=[None] * self.autoencoder._cached_conv_counts["encoder"])

    @torch.no_grad()
    def encode_next(self, video: torch.Tensor, stream: DecodeStream) -> torch.Tensor:
        """Encode the next frames of a stream: 1 + 4m frames on the first call, 4m afterwards.

        Gives exactly the latents :meth:`encode` gives for the whole video (frame 0 alone, then groups of 4).

        Args:
            video: [B, n, 3, H, W] in [-1, 1].
            stream: from :meth:`start_encode_stream`.

        Returns:
            [B, n_latents, 16, H/8, W/8] normalised latents (float32).
        """
        n = video.shape[1]
        lead = 1 if stream.first else 0
        if n < lead or (n - lead) % 4:
            what = "1 + 4m frames on the first call" if stream.first else "a multiple of 4 frames"
            raise ValueError(f"streaming encode needs {what}, got {n}")
        ae = self.autoencoder
        x = video.permute(0, 2, 1, 3, 4).to(self.dtype)
        bounds = ([(0, 1)] if lead else []) + [(i, i + 4) for i in range(lead, n, 4)]
        outs = [ae.encoder(x[:, :, a:b], feat_cache=stream.feat_map, feat_idx=[0]) for a, b in bounds]
        stream.first = False
        mu = ae.quant_conv(torch.cat(outs, dim=2))[:, : self.mean.shape[2]].float()
        return (mu.permute(0, 2, 1, 3, 4) - self.mean) / self.std

    def start_stream(self) -> DecodeStream:
        """Begin a streaming decode of one batch of streams; returns its causal-conv cache state."""
        return DecodeStream(feat_map=[None] * self.autoencoder._cached_conv_counts["decoder"])

    @torch.no_grad()
    def decode_next(self, latents: torch.Tensor, stream: DecodeStream) -> torch.Tensor:
        """Decode the next latent frames of a stream.

        Gives exactly the frames :meth:`decode` gives for the whole sequence: 1 frame for the first latent,
        then 4 per latent. The batch of a stream must stay the same between calls; several streams may be
        decoded in turn (each keeps its own cache state).

        Args:
            latents: [B, n, 16, h, w] normalised latents.
            stream: from :meth:`start_stream`.

        Returns:
            [B, frames, 3, 8h, 8w] in [-1, 1] (float32).
        """
        ae = self.autoencoder
        z = (latents.float() * self.std + self.mean).permute(0, 2, 1, 3, 4).to(self.dtype)
        x = ae.post_quant_conv(z)
        outs = []
        for i in range(x.shape[2]):
            idx = [0]
            outs.append(
                ae.decoder(
                    x[:, :, i : i + 1], feat_cache=stream.feat_map, feat_idx=idx, first_chunk=stream.first
                )
            )
            stream.first = False
        return torch.cat(outs, dim=2).clamp(-1.0, 1.0).float().permute(0, 2, 1, 3, 4)


@dataclass
class DecodeStream:
    """Causal-conv cache of one streaming encode or decode (:meth:`WanVAE.encode_next` / ``decode_next``)."""

    feat_map: list = field(default_factory=list)
    first: bool = True


def tiny_autoencoder(seed: int = 0) -> nn.Module:
    """A small random-weight ``AutoencoderKLWan`` with the real strides (tests, CPU benchmarks)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _autoencoder_cls()(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1).eval()
