"""The geometric condition of InSpatio-World in latent space, and frame / latent count rules.

Pixel videos here are ``[B, T, ...]`` with frame 0 the current (source) frame. The Wan VAE maps
``T = 4·L - 3`` frames to ``L`` latent frames (latent 0 <-> frame 0, latent j >= 1 <-> frames 4j-3 .. 4j);
the rollout runs blocks of 3 latent frames, so ``L`` must be a multiple of 3 (T = 9, 21, 33, 45, ...).

Mask convention: known (rendered) pixel = +1, hole = -1. Its latent (official ``convert_mask_video``):
bilinear resize of each frame to the latent grid (``align_corners=False``, no antialias), the first frame
repeated 4x, then consecutive runs of 4 frames become the 4 channels of one latent frame (Wan-I2V layout).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

VAE_TIME_STRIDE = 4
VAE_SPACE_STRIDE = 8
FRAMES_PER_BLOCK = 3
IMAGE_MULTIPLE = 2 * VAE_SPACE_STRIDE  # image sides: VAE stride 8 x DiT patch 2


def check_image_size(size: tuple[int, int], knob: str) -> tuple[int, int]:
    """The one resolution rule of the world model: ``size`` = (W, H) of the setting ``knob`` must have both
    sides multiples of 16 (VAE stride 8 × patch 2); returns ``(W, H)`` as ints.

    Raises:
        ValueError: naming ``knob`` and the size.
    """
    w, h = (int(v) for v in size)
    if w % IMAGE_MULTIPLE or h % IMAGE_MULTIPLE:
        raise ValueError(
            f"{knob} {w}x{h}: the world model needs multiples of {IMAGE_MULTIPLE} (each side a multiple of "
            f"{IMAGE_MULTIPLE}: VAE stride {VAE_SPACE_STRIDE} x patch 2)"
        )
    return w, h


def latent_frames(num_frames: int) -> int:
    """Latent frames of a ``num_frames`` video: ``1 + (T - 1) // 4``."""
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    return 1 + (num_frames - 1) // VAE_TIME_STRIDE


def pixel_frames(num_latents: int) -> int:
    """Decoded frames of ``num_latents`` latents: ``4·L - 3``."""
    return VAE_TIME_STRIDE * num_latents - (VAE_TIME_STRIDE - 1)


def check_num_frames(num_frames: int, frames_per_block: int = FRAMES_PER_BLOCK) -> int:
    """Validate a video length for the rollout and return its number of latent frames.

    Raises:
        ValueError: unless ``T = 4·L - 3`` with ``L`` a multiple of ``frames_per_block`` (names valid lengths).
    """
    lat = latent_frames(num_frames)
    if pixel_frames(lat) != num_frames or lat % frames_per_block:
        valid = [pixel_frames(frames_per_block * n) for n in range(1, 6)]
        raise ValueError(
            f"{num_frames} frames do not make whole blocks: need T = 4·L - 3 with L a multiple of "
            f"{frames_per_block} latent frames, e.g. {valid}"
        )
    return lat


def largest_valid_frames(num_frames: int, frames_per_block: int = FRAMES_PER_BLOCK) -> int:
    """Longest whole-block video length ``4·L - 3 <= num_frames`` (the official code trims to it).

    E.g. 97 frames (4 s at 24 fps) -> 93; 105 frames would cover 4.33 s.
    """
    blocks = (latent_frames(num_frames) // frames_per_block) if num_frames >= 1 else 0
    if blocks == 0:
        raise ValueError(
            f"{num_frames} frames are fewer than one block ({pixel_frames(frames_per_block)} frames)"
        )
    return pixel_frames(blocks * frames_per_block)


def block_frame_range(block: int, frames_per_block: int = FRAMES_PER_BLOCK) -> range:
    """Pixel frame indices decoded from block ``block`` (9 frames for block 0, then 12 per block)."""
    first_lat, last_lat = block * frames_per_block, (block + 1) * frames_per_block - 1
    start = 0 if first_lat == 0 else VAE_TIME_STRIDE * first_lat - (VAE_TIME_STRIDE - 1)
    return range(start, VAE_TIME_STRIDE * last_lat + 1)


def mask_to_signed(mask: torch.Tensor) -> torch.Tensor:
    """Bool / {0,1} / {-1,+1} masks -> float {-1 (hole), +1 (known)}."""
    if mask.dtype == torch.bool:
        return mask.float() * 2 - 1
    if bool((mask < 0).any()):
        return torch.where(mask > 0, 1.0, -1.0).to(torch.float32)
    return torch.where(mask > 0.5, 1.0, -1.0).to(torch.float32)


def mask_video_to_latent(
    mask: torch.Tensor, latent_hw: tuple[int, int], first_frame_repeat: bool = True
) -> torch.Tensor:
    """Pixel mask video to the 4-channel mask latent.

    Args:
        mask: [B, T, H, W] with +1 known, -1 hole (see :func:`mask_to_signed`).
        latent_hw: (h, w) of the latent grid.
        first_frame_repeat: the video starts at frame 0 (repeat it 4x). False for a later chunk of a streamed
            video, whose frames start at ``4j - 3`` and group by 4 directly.

    Returns:
        [B, L, 4, h, w] float with ``L = (T + 3) // 4`` (trailing frames beyond a multiple of 4 after the
        first-frame repeat are dropped, as in the official code).
    """
    if mask.ndim != 4:
        raise ValueError(f"mask video must be [B, T, H, W], got {tuple(mask.shape)}")
    b, t = mask.shape[:2]
    small = F.interpolate(
        mask.float().flatten(0, 1)[:, None], size=latent_hw, mode="bilinear", align_corners=False
    )
    small = small.view(b, t, *latent_hw)
    padded = small
    if first_frame_repeat:
        padded = torch.cat([small[:, :1].expand(b, VAE_TIME_STRIDE - 1, *latent_hw), small], dim=1)
    n_lat = padded.shape[1] // VAE_TIME_STRIDE
    return padded[:, : n_lat * VAE_TIME_STRIDE].reshape(b, n_lat, VAE_TIME_STRIDE, *latent_hw)


def condition_latent(mask_latent: torch.Tensor, render_latent: torch.Tensor) -> torch.Tensor:
    """``cat([mask 4 | render 16], C)`` -> [B, L, 20, h, w] (BTCHW)."""
    if mask_latent.shape[:2] != render_latent.shape[:2] or mask_latent.shape[3:] != render_latent.shape[3:]:
        raise ValueError(
            f"mask latent {tuple(mask_latent.shape)} vs render latent {tuple(render_latent.shape)}"
        )
    return torch.cat([mask_latent.to(render_latent.dtype), render_latent], dim=2)


def encode_condition(
    encode: Callable[[torch.Tensor], torch.Tensor],
    render01: torch.Tensor,
    signed_mask: torch.Tensor,
    first_frame_repeat: bool = True,
) -> torch.Tensor:
    """The condition latent of a render: holes painted black (-1, as official) before ``encode``, then
    ``[mask latent 4 | render latent]``.

    Args:
        encode: ``video [B, T, 3, H, W] in [-1, 1] -> latents [B, L, C, H/8, W/8]`` (a VAE / codec encode, or
            a streaming ``encode_next`` bound to its stream).
        render01: [B, T, 3, H, W] float in [0, 1]; signed_mask: [B, T, H, W] +1 known / -1 hole.
        first_frame_repeat: the frames start at frame 0 (see :func:`mask_video_to_latent`).

    Returns:
        [B, L, 4 + C, h, w].
    """
    frames = torch.where(signed_mask[:, :, None] > 0, render01.to(signed_mask.device), 0.0)
    latent = encode(frames * 2 - 1)
    hw = (render01.shape[-2] // VAE_SPACE_STRIDE, render01.shape[-1] // VAE_SPACE_STRIDE)
    mask_latent = mask_video_to_latent(signed_mask, hw, first_frame_repeat=first_frame_repeat)
    return condition_latent(mask_latent.to(latent.device), latent)
