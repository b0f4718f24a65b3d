"""View-consistency feature: do consecutive imagined frames agree under the candidate's own motion?

Every valid pixel of frame t (camera c) is lifted with its rendered depth, moved by the commanded
relative camera motion ``T_{t+1←t}`` and projected into frame t+1 of the same camera. Where it lands on
a valid pixel, the predicted depth is compared with the rendered one (relative error) and the colours
are compared (absolute difference). Pixel centres are at integer coordinates (OpenCV); depth is the
z coordinate in the OpenCV camera frame (metres), ``<= 0`` or non-finite means no depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from scorers.fc_kernels import view_consistency_counts
from scorers.poses import camera_to_ego0, check_candidates, check_view_maps, relative_camera_motion


@dataclass
class ViewConsistencyResult:
    """Per-candidate view-consistency features.

    Attributes:
        overlap: ``[K]`` in [0, 1]: share of valid pixels of frames t that reproject onto a valid pixel of t+1.
        depth_agreement: ``[K]`` in [0, 1]: among those, share with relative depth error < ``depth_rel_tol``.
        photometric_error: ``[K]`` in [0, 1]: mean absolute colour difference (rgb scaled to [0, 1]) among those.
        pairs: number of reprojected pixel pairs per candidate ``[K]``.
    """

    overlap: Tensor
    depth_agreement: Tensor
    photometric_error: Tensor
    pairs: Tensor


def _as_unit_rgb(rgb: Tensor) -> Tensor:
    if rgb.dtype == torch.uint8:
        return rgb.float() / 255.0
    return rgb.float()


def pair_projection(intrinsics: Tensor, T_10: Tensor) -> tuple[Tensor, Tensor]:
    """Homogeneous pixel in frame 1 = d0 · A [u, v, 1] + b (pinhole K, last row [0, 0, 1]).

    Args:
        intrinsics: ``[N, 3, 3]``; T_10: ``[N, 4, 4]`` camera-0 → camera-1 coordinates.

    Returns:
        ``A = K R K⁻¹ [N, 3, 3]`` and ``b = K t [N, 3, 1]``.
    """
    A = intrinsics @ T_10[:, :3, :3] @ torch.linalg.inv(intrinsics)
    b = intrinsics @ T_10[:, :3, 3:4]
    return A, b


def reproject_pair(
    depth0: Tensor,
    valid0: Tensor,
    depth1: Tensor,
    valid1: Tensor,
    intrinsics: Tensor,
    T_10: Tensor,
    stride: int = 1,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Reproject frame-0 pixels into frame 1 (batched over N frame pairs).

    Args:
        depth0, valid0: ``[N, h, w]`` z-depth (m) and validity of the frame-0 pixels used: every
            ``stride``-th row and column of the full image (``depth0_full[:, ::stride, ::stride]``).
        depth1, valid1: ``[N, H, W]`` full frame 1.
        intrinsics: ``[N, 3, 3]`` of the full image. T_10: ``[N, 4, 4]`` camera-0 → camera-1 coordinates.

    Returns:
        ``grid [N, h, w, 2]`` (normalised sampling grid into frame 1 for ``grid_sample``,
        align_corners=False), ``z_pred [N, h, w]`` predicted depth in frame 1 (m), ``pair [N, h, w]`` bool:
        frame-0 pixel valid, in front of camera 1, inside the image and landing on a valid frame-1 pixel,
        and ``depth1_at [N, h, w]`` the frame-1 depth found there (nearest pixel, m).
    """
    N, h, w = depth0.shape
    H, W = depth1.shape[-2:]
    dtype = depth0.dtype
    A, b = pair_projection(intrinsics, T_10)
    v, u = torch.meshgrid(
        torch.arange(0, stride * h, stride, dtype=dtype),
        torch.arange(0, stride * w, stride, dtype=dtype),
        indexing="ij",
    )
    u, v = u.reshape(1, 1, -1), v.reshape(1, 1, -1)  # [1, 1, hw]
    d0 = torch.where(torch.isfinite(depth0) & valid0, depth0, torch.zeros_like(depth0))
    ph = d0.reshape(N, 1, -1) * (A[:, :, 0:1] * u + A[:, :, 1:2] * v + A[:, :, 2:3]) + b  # [N, 3, hw]
    z = ph[:, 2]
    zs = torch.where(z > 1e-6, z, torch.ones_like(z))
    u1, v1 = ph[:, 0] / zs, ph[:, 1] / zs
    inside = (u1 > -0.5) & (u1 < W - 0.5) & (v1 > -0.5) & (v1 < H - 0.5)
    ok = (valid0 & (d0 > 0)).reshape(N, -1) & (z > 1e-6) & inside
    grid = torch.stack([(2 * u1 + 1) / W - 1, (2 * v1 + 1) / H - 1], dim=-1).view(N, h, w, 2)
    grid = torch.where(ok.view(N, h, w, 1), grid, torch.full_like(grid, -2.0))
    v1_valid = F.grid_sample(valid1.unsqueeze(1).to(dtype), grid, mode="nearest", align_corners=False)
    d1 = torch.where(torch.isfinite(depth1), depth1, torch.zeros_like(depth1))
    d1_s = F.grid_sample(d1.unsqueeze(1), grid, mode="nearest", align_corners=False)
    pair = ok.view(N, h, w) & (v1_valid[:, 0] > 0.5) & (d1_s[:, 0] > 0)
    return grid, z.view(N, h, w), pair, d1_s[:, 0]


def view_consistency(
    depth: Tensor,
    valid: Tensor,
    intrinsics: Tensor,
    *,
    rgb: Tensor | None = None,
    candidates: Tensor | None = None,
    T_ego_cam: Tensor | None = None,
    relative_motion: Tensor | None = None,
    depth_rel_tol: float = 0.1,
    stride: int = 1,
    chunk_pairs: int = 64,
    backend: str = "numba",
) -> ViewConsistencyResult:
    """Depth / photometric agreement between consecutive imagined frames of every candidate.

    Args:
        depth: ``[K, T, C, H, W]`` (or ``[K, T, C, 1, H, W]``) z-depth (m).
        valid: same shape, bool.
        intrinsics: ``[C, 3, 3]`` for the rendered image size.
        rgb: optional ``[K, T, C, 3, H, W]`` (uint8 or float in [0, 1]); without it photometric_error is NaN.
        candidates: ``[K, T, 3]`` and ``T_ego_cam [C, 4, 4]``: used to derive the commanded motion, or give
        relative_motion: ``[K, T-1, C, 4, 4]`` camera-t → camera-(t+1) transforms directly.
        depth_rel_tol: |z_pred − z_rendered| / z_rendered below which depths agree.
        stride: use every ``stride``-th row / column of frame t as source pixels (a regular subsample:
            stride² less work, same expected shares); frame t+1 is always sampled at full resolution.
        chunk_pairs: frame pairs per batch (memory bound; the numba backend computes the per-pair projections
            ``A, b`` in the same batches, so both backends see the same float32 matrices).
        backend: ``numba`` (one compiled pass, :func:`scorers.fc_kernels.view_consistency_counts`) or ``torch``
            (the reference twin: batched tensors, ``grid_sample``). Same counts (overlap and depth agreement are
            equal); the photometric error differs only by the order of its float sums (< 1e-5 relative).

    Returns:
        :class:`ViewConsistencyResult` (NaN where a candidate has no valid pair).
    """
    depth, valid = check_view_maps(depth, valid, "depth/valid")
    K, T, C, H, W = depth.shape
    if T < 2:
        raise ValueError(f"view_consistency needs at least 2 frames per candidate, got T={T}")
    if relative_motion is None:
        if candidates is None or T_ego_cam is None:
            raise ValueError("give either relative_motion or both candidates and T_ego_cam")
        cand = check_candidates(candidates).double()
        if cand.shape[:2] != (K, T):
            raise ValueError(f"candidates: expected [{K}, {T}, 3] to match depth, got {tuple(cand.shape)}")
        relative_motion = relative_camera_motion(camera_to_ego0(cand, torch.as_tensor(T_ego_cam).double()))
    relative_motion = torch.as_tensor(relative_motion).float()
    if relative_motion.shape != (K, T - 1, C, 4, 4):
        raise ValueError(
            f"relative_motion: expected [{K}, {T - 1}, {C}, 4, 4], got {tuple(relative_motion.shape)}"
        )
    intrinsics = torch.as_tensor(intrinsics).float()
    if intrinsics.shape != (C, 3, 3):
        raise ValueError(f"intrinsics: expected [{C}, 3, 3], got {tuple(intrinsics.shape)}")
    if rgb is not None:
        rgb = torch.as_tensor(rgb)
        if rgb.shape != (K, T, C, 3, H, W):
            raise ValueError(f"rgb: expected [{K}, {T}, {C}, 3, {H}, {W}], got {tuple(rgb.shape)}")
    if backend not in ("numba", "torch"):
        raise ValueError(f"backend: expected 'numba' or 'torch', got {backend!r}")
    depth, valid = depth.float(), valid.bool()
    kk = torch.arange(K).view(K, 1, 1).expand(K, T - 1, C).reshape(-1)
    tt = torch.arange(T - 1).view(1, -1, 1).expand(K, T - 1, C).reshape(-1)
    cc = torch.arange(C).view(1, 1, C).expand(K, T - 1, C).reshape(-1)
    if backend == "numba":
        A = torch.empty(K * (T - 1) * C, 3, 3)
        b = torch.empty(K * (T - 1) * C, 3)
        rel = relative_motion.reshape(-1, 4, 4)
        for s in range(0, kk.numel(), chunk_pairs):
            a_s, b_s = pair_projection(intrinsics[cc[s : s + chunk_pairs]], rel[s : s + chunk_pairs])
            A[s : s + chunk_pairs], b[s : s + chunk_pairs] = a_s, b_s[..., 0]
        counts = view_consistency_counts(
            depth, valid, rgb, A.view(K, T - 1, C, 3, 3), b.view(K, T - 1, C, 3), stride, depth_rel_tol
        )
        n_valid, n_pair, n_agree, photo = (torch.from_numpy(x).double() for x in counts)
        return _result(n_valid, n_pair, n_agree, photo if rgb is not None else None)
    n_valid = torch.zeros(K, dtype=torch.float64)
    n_pair = torch.zeros(K, dtype=torch.float64)
    n_agree = torch.zeros(K, dtype=torch.float64)
    photo = torch.zeros(K, dtype=torch.float64)
    # reference twin: flattened pairs (k, t, c) in chunks
    for s in range(0, kk.numel(), chunk_pairs):
        k, t, c = kk[s : s + chunk_pairs], tt[s : s + chunk_pairs], cc[s : s + chunk_pairs]
        sub = (slice(None), slice(None, None, stride), slice(None, None, stride))
        d0, v0 = depth[k, t, c][sub], valid[k, t, c][sub]
        grid, z_pred, pair, d1 = reproject_pair(
            d0, v0, depth[k, t + 1, c], valid[k, t + 1, c], intrinsics[c], relative_motion[k, t, c], stride
        )
        agree = pair & ((z_pred - d1).abs() < depth_rel_tol * d1)
        n_valid.index_add_(0, k, v0.flatten(1).sum(1).double())
        n_pair.index_add_(0, k, pair.flatten(1).sum(1).double())
        n_agree.index_add_(0, k, agree.flatten(1).sum(1).double())
        if rgb is not None:
            c0 = _as_unit_rgb(rgb[k, t, c][:, :, ::stride, ::stride])
            c1 = F.grid_sample(_as_unit_rgb(rgb[k, t + 1, c]), grid, mode="bilinear", align_corners=False)
            diff = (c0 - c1).abs().mean(1)  # [n, H, W]
            photo.index_add_(0, k, (diff * pair).flatten(1).sum(1).double())
    return _result(n_valid, n_pair, n_agree, photo if rgb is not None else None)


def _result(n_valid: Tensor, n_pair: Tensor, n_agree: Tensor, photo: Tensor | None) -> ViewConsistencyResult:
    """Shares from the float64 ``[K]`` counts (NaN where a candidate has no valid pixel / pair; photometric NaN
    without colours)."""
    K = n_valid.shape[0]
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    overlap = torch.where(n_valid > 0, n_pair / n_valid.clamp_min(1), nan)
    agreement = torch.where(n_pair > 0, n_agree / n_pair.clamp_min(1), nan)
    photometric = (
        torch.where(n_pair > 0, photo / n_pair.clamp_min(1), nan)
        if photo is not None
        else torch.full((K,), nan)
    )
    return ViewConsistencyResult(overlap, agreement, photometric, n_pair)
