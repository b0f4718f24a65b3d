"""Hole filling of a geometric render (the baseline the world model is measured against, and the
``generator=geometric generator.hole_fill=telea`` frames): OpenCV Telea inpainting of the pixels the render left
empty; a frame with nothing rendered holds the previous filled frame."""

from __future__ import annotations

import numpy as np
import torch

HOLE_FILLS = ("none", "telea")
"""``GeometricGenerator`` hole filling: ``none`` (holes stay black) or ``telea`` (:func:`inpaint_holes`)."""


def inpaint_holes(render: torch.Tensor, mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """The render with every remaining hole filled by OpenCV Telea inpainting.

    Args:
        render: [T, 3, H, W] uint8; mask: [T, H, W] (nonzero = rendered).
        radius: inpainting radius (pixels).

    Returns:
        [T, 3, H, W] uint8. A frame with no rendered pixel repeats the previous filled frame (black at frame 0).
    """
    import cv2  # lazy: optional OpenCV inpainting

    out = render.clone()
    for t in range(render.shape[0]):
        holes = (mask[t] == 0).cpu().numpy().astype(np.uint8)
        if holes.all():
            if t > 0:
                out[t] = out[t - 1]  # nothing rendered: hold the previous filled frame
            continue
        if not holes.any():
            continue
        img = np.ascontiguousarray(render[t].permute(1, 2, 0).cpu().numpy())
        out[t] = torch.as_tensor(cv2.inpaint(img, holes, radius, cv2.INPAINT_TELEA)).permute(2, 0, 1)
    return out
