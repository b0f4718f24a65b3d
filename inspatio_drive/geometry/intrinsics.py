"""Pinhole intrinsics under image resize and crop (numpy or torch, any leading batch shape ``[..., 3, 3]``).

Pixel convention: by default NAVSIM / DrivoR's plain scaling (``fx, cx ×= W'/W``; ``fy, cy ×= H'/H``).
With ``half_pixel=True`` pixel centres are kept aligned (``c' = (c + 0.5)·s − 0.5``), the exact
relation for area / bilinear resampling of pixel-centred images.

Which rule is right depends on how the images at the new size are made (:data:`SOURCE_RESIZE_RULE`):

* real cameras (NAVSIM / OpenScene, nuScenes): smaller images are the recorded ones *resampled*, so the
  pixel-centre rule is exact (on nuScenes it gained 0.1–0.4 dB of render PSNR at 480×270 over plain scaling);
* the sandbox (and the synthetic street): every size is *rendered natively* with the rig's intrinsics scaled
  plainly (:func:`~inspatio_drive.geometry.rig.nuplan_like_rig`; rays through integer pixel coordinates), so
  plain scaling is exact there (a test checks the oracle's intrinsics at a new size against it).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

NAVSIM_IMAGE_SIZE: tuple[int, int] = (1920, 1080)
"""(W, H) of NAVSIM / OpenScene (nuPlan) camera images: the size logged intrinsics refer to when no image says
otherwise (a loaded image carries its own: ``Camera.image_size``)."""


RESIZE_RULES: tuple[str, ...] = ("pixel_centre", "plain")

SOURCE_RESIZE_RULE: dict[str, str] = {"navsim": "pixel_centre", "sandbox": "plain", "synthetic": "plain"}
"""The intrinsics resize rule of each data source (``intrinsics_resize=auto``)."""


def resize_rule(source: str, rule: str = "auto") -> str:
    """``rule`` if given (``pixel_centre`` | ``plain``), else the data source's (``auto``: :data:`SOURCE_RESIZE_RULE`)."""
    if rule == "auto":
        if source not in SOURCE_RESIZE_RULE:
            raise ValueError(f"no intrinsics resize rule for data source {source!r}; expected one of {sorted(SOURCE_RESIZE_RULE)}")
        return SOURCE_RESIZE_RULE[source]
    if rule not in RESIZE_RULES:
        raise ValueError(f"intrinsics_resize: expected auto or one of {RESIZE_RULES}, got {rule!r}")
    return rule


def _copy(k: ArrayT) -> ArrayT:
    if isinstance(k, torch.Tensor):
        return k.clone()
    return np.array(k, dtype=np.float64, copy=True)


def resize_intrinsics(
    k: ArrayT, src_size: tuple[int, int], dst_size: tuple[int, int], half_pixel: bool = False
) -> ArrayT:
    """Intrinsics of an image stretched from ``src_size`` to ``dst_size`` (both ``(width, height)``)."""
    if k.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics must be [..., 3, 3], got {tuple(k.shape)}")
    sx, sy = dst_size[0] / src_size[0], dst_size[1] / src_size[1]
    out = _copy(k)
    out[..., 0, :] = out[..., 0, :] * sx  # fx, skew, cx
    out[..., 1, :] = out[..., 1, :] * sy  # fy, cy
    if half_pixel:
        out[..., 0, 2] = out[..., 0, 2] + 0.5 * sx - 0.5
        out[..., 1, 2] = out[..., 1, 2] + 0.5 * sy - 0.5
    return out


def crop_intrinsics(k: ArrayT, left: float, top: float) -> ArrayT:
    """Intrinsics after cropping the image at pixel offset ``(left, top)`` (the size does not matter)."""
    if k.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics must be [..., 3, 3], got {tuple(k.shape)}")
    out = _copy(k)
    out[..., 0, 2] = out[..., 0, 2] - left
    out[..., 1, 2] = out[..., 1, 2] - top
    return out


def center_crop_box(src_size: tuple[int, int], aspect: float) -> tuple[int, int, int, int]:
    """Largest centred crop ``(left, top, width, height)`` of ``src_size`` with ``width/height = aspect``."""
    w, h = src_size
    if w / h > aspect:
        cw, ch = round(h * aspect), h
    else:
        cw, ch = w, round(w / aspect)
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def fit_intrinsics(
    k: ArrayT, src_size: tuple[int, int], dst_size: tuple[int, int], mode: str = "stretch"
) -> ArrayT:
    """Intrinsics for an image brought from ``src_size`` to ``dst_size`` by ``mode``:
    ``"stretch"`` (resize, aspect may change — what InSpatio does to 832×480) or ``"crop"``
    (centre-crop to the target aspect, then resize)."""
    if mode == "stretch":
        return resize_intrinsics(k, src_size, dst_size)
    if mode == "crop":
        left, top, cw, ch = center_crop_box(src_size, dst_size[0] / dst_size[1])
        return resize_intrinsics(crop_intrinsics(k, left, top), (cw, ch), dst_size)
    raise ValueError(f"mode must be 'stretch' or 'crop', got {mode!r}")
