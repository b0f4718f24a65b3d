"""Dense-depth plug-in: a monocular depth model densifies the LiDAR cloud.

A backend only has to implement :class:`DepthBackend` (``predict(image) -> depth``); its output may be
relative (up to scale, or scale and shift). :func:`align_depth` fits that scale (and shift) to the
LiDAR depths at the pixels LiDAR points project to, robustly (median initialisation, then Huber
IRLS), so a few outliers (LiDAR through glass, mixed pixels at edges) do not bias it.
No weights ship with the package; the LiDAR path needs none.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray


@runtime_checkable
class DepthBackend(Protocol):
    """A monocular depth estimator."""

    #: ``"scale"`` if the output is metric up to a scale factor, ``"affine"`` if up to scale and shift.
    invariance: str

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``[H, W, 3]`` uint8 RGB → ``[H, W]`` float32 depth (or affine-invariant depth) at the same size."""
        ...


def align_depth(
    predicted: NDArray[np.floating] | torch.Tensor,
    target: NDArray[np.floating] | torch.Tensor,
    affine: bool = False,
    huber_delta: float = 0.05,
    iterations: int = 10,
) -> tuple[float, float]:
    """Robust fit of ``target ≈ scale · predicted + shift`` (``shift = 0`` unless ``affine``).

    Args:
        predicted, target: ``[M]`` paired samples (target = LiDAR depth in metres, > 0).
        huber_delta: Huber threshold as a fraction of the target depth (residuals are relative).

    Returns:
        ``(scale, shift)``.

    Raises:
        ValueError: with fewer than 2 valid pairs.
    """
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    ok = np.isfinite(p) & np.isfinite(t) & (t > 0) & (p > 0 if not affine else np.isfinite(p))
    p, t = p[ok], t[ok]
    if len(p) < 2:
        raise ValueError(f"depth alignment needs >= 2 LiDAR samples inside the image, got {len(p)}")
    scale, shift = float(np.median(t / np.where(p == 0, np.nan, p))), 0.0
    if not np.isfinite(scale):
        scale = 1.0
    for _ in range(iterations):
        r = (scale * p + shift - t) / t  # relative residuals
        w = np.where(np.abs(r) <= huber_delta, 1.0, huber_delta / np.maximum(np.abs(r), 1e-12)) / t**2
        if affine:
            a = np.stack([p, np.ones_like(p)], -1)
            scale, shift = np.linalg.solve(a.T @ (w[:, None] * a) + 1e-12 * np.eye(2), a.T @ (w * t))
            scale, shift = float(scale), float(shift)
        else:
            scale = float(np.sum(w * p * t) / max(np.sum(w * p * p), 1e-300))
    return scale, shift


def depth_to_points(
    depth: torch.Tensor,
    intrinsics: torch.Tensor,
    T_world_cam: torch.Tensor,
    stride: int = 1,
    max_depth: float = 80.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unproject a depth map to world points.

    Args:
        depth: ``[H, W]`` metres along the optical axis; intrinsics ``[3, 3]``; ``T_world_cam`` ``[4, 4]``.
        stride: keep every ``stride``-th pixel in u and v.

    Returns:
        ``(xyz [M, 3] float32 world, pixels [M, 2] int64 (u, v))`` for pixels with ``0 < depth <= max_depth``.
    """
    h, w = depth.shape
    vv, uu = torch.meshgrid(torch.arange(0, h, stride), torch.arange(0, w, stride), indexing="ij")
    z = depth[vv, uu].to(torch.float64)
    ok = (z > 0) & (z <= max_depth) & torch.isfinite(z)
    uu, vv, z = uu[ok], vv[ok], z[ok]
    k = intrinsics.to(torch.float64)
    y = (vv - k[1, 2]) / k[1, 1] * z
    x = ((uu - k[0, 2]) - k[0, 1] * y / z) / k[0, 0] * z
    cam = torch.stack([x, y, z], -1)
    t = T_world_cam.to(torch.float64)
    xyz = cam @ t[:3, :3].T + t[:3, 3]
    return xyz.to(torch.float32), torch.stack([uu, vv], -1)
