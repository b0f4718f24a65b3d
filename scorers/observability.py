"""Observability feature: how much of the imagined view near the ego path is backed by observed geometry.

The *near-path region* of a rendered frame is the set of pixels whose viewing ray hits the ground plane
within ``max_range`` metres of the camera and within ``corridor_half_width`` metres (xy) of the
candidate's path (the polyline through t = 0 and all candidate poses). The feature is the share of those
pixels where the geometric render is valid (a splatted observed point landed there).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from scorers.fc_kernels import near_path_counts
from scorers.poses import check_candidates, check_view_maps, with_origin


@dataclass
class ObservabilityResult:
    """Attributes:
    share: ``[K]`` in [0, 1]: valid near-path pixels / near-path pixels (``empty_value`` where no region).
    region_pixels: ``[K]`` number of near-path pixels over all frames and cameras.
    """

    share: Tensor
    region_pixels: Tensor


def ground_rays(
    intrinsics: Tensor, T_ego_cam: Tensor, image_hw: tuple[int, int], ground_z: float, max_range: float
) -> tuple[Tensor, Tensor]:
    """Ground hit points of every pixel centre, in the ego frame of the same time step.

    Pixel centres are at integer coordinates (OpenCV): pixel (row v, column u) ↔ ``K⁻¹ [u, v, 1]``.

    Args:
        intrinsics: ``[C, 3, 3]`` pinhole matrices for images of size ``image_hw`` (pixels).
        T_ego_cam: ``[C, 4, 4]`` camera → ego (OpenCV camera axes).
        image_hw: (H, W).
        ground_z: ground plane height in the ego frame (m).
        max_range: rays hitting farther than this (m, from the camera centre) do not count.

    Returns:
        ``xy [C, H, W, 2]`` hit points (x, y metres, ego frame) and ``hit [C, H, W]`` bool.
    """
    H, W = image_hw
    dtype = T_ego_cam.dtype
    v, u = torch.meshgrid(torch.arange(H, dtype=dtype), torch.arange(W, dtype=dtype), indexing="ij")
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # [H, W, 3]
    rays_cam = torch.einsum("cij,hwj->chwi", torch.linalg.inv(intrinsics), pix)  # [C, H, W, 3]
    rays_ego = torch.einsum("cij,chwj->chwi", T_ego_cam[:, :3, :3], rays_cam)
    origin = T_ego_cam[:, :3, 3].view(-1, 1, 1, 3)
    dz = rays_ego[..., 2]
    lam = (ground_z - origin[..., 2]) / torch.where(dz.abs() > 1e-9, dz, torch.full_like(dz, -1e-9))
    hit_pts = origin + lam.unsqueeze(-1) * rays_ego
    dist = lam * rays_ego.norm(dim=-1)
    hit = (lam > 0) & (dist <= max_range)
    return hit_pts[..., :2], hit


def point_to_polyline_distance(points: Tensor, polyline: Tensor) -> Tensor:
    """Distance (m) from points to a polyline, batched over candidates.

    Args:
        points: ``[K, P, 2]``.
        polyline: ``[K, V, 2]`` vertices (V >= 2).

    Returns:
        ``[K, P]``.
    """
    a, b = polyline[:, :-1], polyline[:, 1:]  # [K, V-1, 2]
    ab = b - a
    ap = points.unsqueeze(2) - a.unsqueeze(1)  # [K, P, V-1, 2]
    denom = (ab * ab).sum(-1).clamp_min(1e-12).unsqueeze(1)
    t = ((ap * ab.unsqueeze(1)).sum(-1) / denom).clamp(0, 1)
    closest = a.unsqueeze(1) + t.unsqueeze(-1) * ab.unsqueeze(1)
    return (points.unsqueeze(2) - closest).norm(dim=-1).amin(dim=2)


def _checked_geometry(
    candidates: Tensor, intrinsics: Tensor, T_ego_cam: Tensor, stride: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Candidates, intrinsics and extrinsics in the candidates' dtype, shapes and ``stride`` checked."""
    candidates = check_candidates(candidates)
    dtype = candidates.dtype
    intrinsics = torch.as_tensor(intrinsics, dtype=dtype)
    T_ego_cam = torch.as_tensor(T_ego_cam, dtype=dtype)
    if intrinsics.ndim != 3 or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics: expected [C, 3, 3], got {tuple(intrinsics.shape)}")
    if T_ego_cam.shape != (intrinsics.shape[0], 4, 4):
        raise ValueError(f"T_ego_cam: expected [{intrinsics.shape[0]}, 4, 4], got {tuple(T_ego_cam.shape)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return candidates, intrinsics, T_ego_cam


def _coarse_grid(intrinsics: Tensor, image_hw: tuple[int, int], stride: int) -> tuple[Tensor, tuple[int, int]]:
    """Intrinsics and size ``(ceil(H / stride), ceil(W / stride))`` of the image of the ``stride × stride``
    block centres."""
    full_h, full_w = image_hw
    coarse = intrinsics.clone()
    coarse[:, :2, :2] /= stride
    coarse[:, :2, 2] = (intrinsics[:, :2, 2] - (stride - 1) / 2) / stride
    return coarse, (-(-full_h // stride), -(-full_w // stride))


def _ground_hits(
    candidates: Tensor, intrinsics: Tensor, T_ego_cam: Tensor, image_hw: tuple[int, int], ground_z: float,
    max_range: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """float32 inputs of the near-path test: ``candidates [K, T, 3]``, the flat ``[C·H·W]`` indices ``idx [G]``
    of the pixels whose ray hits the ground, their hit points ``local [G, 2]`` (m, ego frame at t), the path
    polyline ``[K, T + 1, 2]`` and ``cos, sin [K, T]`` of the headings."""
    candidates = candidates.float()
    xy, hit = ground_rays(intrinsics.float(), T_ego_cam.float(), image_hw, ground_z, max_range)
    idx = hit.reshape(-1).nonzero().squeeze(1)  # hit pixels over [C, H, W]
    local = xy.reshape(-1, 2)[idx]  # [G, 2] ego_t frame
    path = with_origin(candidates)[..., :2]  # [K, T+1, 2]
    c, s = torch.cos(candidates[..., 2]), torch.sin(candidates[..., 2])  # [K, T]
    return candidates, idx, local, path, c, s


def near_path_mask(
    candidates: Tensor,
    intrinsics: Tensor,
    T_ego_cam: Tensor,
    image_hw: tuple[int, int],
    *,
    corridor_half_width: float = 2.5,
    max_range: float = 40.0,
    ground_z: float = 0.0,
    stride: int = 1,
    chunk_elems: int = 1 << 24,
) -> Tensor:
    """Near-path pixel region of every frame rendered along every candidate (the reference twin of
    :func:`observed_near_path`, which counts the same region without building it).

    Args:
        candidates: ``[K, T, 3]`` ego poses (current rear-axle frame).
        intrinsics: ``[C, 3, 3]``; T_ego_cam: ``[C, 4, 4]``; image_hw: (H, W) of the rendered frames.
        corridor_half_width: lateral half-width (m) of the corridor around the path.
        max_range: maximum ray length to the ground (m).
        ground_z: ground height (m, ego frame).
        stride: evaluate one pixel per ``stride × stride`` block (its centre) and copy it to the block;
            the region is smooth, so this trades a little boundary accuracy for stride² less work.

    Returns:
        ``[K, T, C, H, W]`` bool.
    """
    candidates, intrinsics, T_ego_cam = _checked_geometry(candidates, intrinsics, T_ego_cam, stride)
    if stride > 1:
        full_h, full_w = image_hw
        coarse, hw = _coarse_grid(intrinsics, image_hw, stride)
        m = near_path_mask(
            candidates, coarse, T_ego_cam, hw, corridor_half_width=corridor_half_width,
            max_range=max_range, ground_z=ground_z, stride=1, chunk_elems=chunk_elems,
        )  # fmt: skip
        m = m.repeat_interleave(stride, dim=-2).repeat_interleave(stride, dim=-1)
        return m[..., :full_h, :full_w].contiguous()
    K, T = candidates.shape[:2]
    C = intrinsics.shape[0]
    H, W = image_hw
    candidates, idx, local, path, c, s = _ground_hits(candidates, intrinsics, T_ego_cam, image_hw, ground_z,
                                                      max_range)
    mask = torch.zeros(K, T, C * H * W, dtype=torch.bool)
    if idx.numel() == 0:
        return mask.view(K, T, C, H, W)
    per_k = T * idx.numel() * T
    kstep = max(1, chunk_elems // max(1, per_k))
    for k0 in range(0, K, kstep):
        k1 = min(K, k0 + kstep)
        cc, ss = c[k0:k1, :, None], s[k0:k1, :, None]
        gx = candidates[k0:k1, :, 0:1] + cc * local[:, 0] - ss * local[:, 1]  # [k, T, G]
        gy = candidates[k0:k1, :, 1:2] + ss * local[:, 0] + cc * local[:, 1]
        g = torch.stack([gx, gy], dim=-1).reshape(k1 - k0, -1, 2)
        d = point_to_polyline_distance(g, path[k0:k1]).view(k1 - k0, T, -1)
        mask[k0:k1, :, idx] = d <= corridor_half_width
    return mask.view(K, T, C, H, W)


def observed_near_path(
    valid: Tensor,
    candidates: Tensor,
    intrinsics: Tensor,
    T_ego_cam: Tensor,
    *,
    corridor_half_width: float = 2.5,
    max_range: float = 40.0,
    ground_z: float = 0.0,
    stride: int = 1,
    empty_value: float = 0.0,
) -> ObservabilityResult:
    """``observability(valid, near_path_mask(...))`` in one compiled pass (:func:`scorers.fc_kernels.near_path_counts`):
    the region is tested once per ``stride × stride`` block and the block's valid pixels counted, so no
    ``[K, T, C, H, W]`` mask is built. Same float32 arithmetic as the twin: the counts are equal.

    Args:
        valid: ``[K, T, C, H, W]`` (or ``[K, T, C, 1, H, W]``) render validity; the image size is its (H, W).
        candidates, intrinsics, T_ego_cam, corridor_half_width, max_range, ground_z, stride: as
            :func:`near_path_mask`. empty_value: as :func:`observability`.

    Returns:
        :class:`ObservabilityResult`.
    """
    valid, _ = check_view_maps(valid, valid, "valid")
    candidates, intrinsics, T_ego_cam = _checked_geometry(candidates, intrinsics, T_ego_cam, stride)
    K, T, C, H, W = valid.shape
    if candidates.shape[:2] != (K, T) or intrinsics.shape[0] != C:
        raise ValueError(f"valid {tuple(valid.shape)} does not match candidates {tuple(candidates.shape)} and "
                         f"{intrinsics.shape[0]} cameras")
    coarse, (hc, wc) = (intrinsics, (H, W)) if stride == 1 else _coarse_grid(intrinsics, (H, W), stride)
    cand, idx, local, path, c, s = _ground_hits(candidates, coarse, T_ego_cam, (hc, wc), ground_z, max_range)
    cam, rem = idx // (hc * wc), idx % (hc * wc)
    n_region, n_obs = near_path_counts(
        valid.bool(), cam, rem // wc, rem % wc, local, cand, c, s, path, corridor_half_width, stride
    )
    n_region, n_obs = torch.from_numpy(n_region), torch.from_numpy(n_obs)
    share = torch.where(
        n_region > 0,
        n_obs.double() / n_region.clamp_min(1).double(),
        torch.full_like(n_region, empty_value, dtype=torch.float64),
    )
    return ObservabilityResult(share=share, region_pixels=n_region)


def observability(valid: Tensor, region: Tensor, *, empty_value: float = 0.0) -> ObservabilityResult:
    """Share of near-path pixels backed by observed geometry.

    Args:
        valid: ``[K, T, C, H, W]`` (or ``[K, T, C, 1, H, W]``) render validity mask.
        region: same shape, bool near-path region (:func:`near_path_mask`).
        empty_value: share reported for candidates whose region is empty.

    Returns:
        :class:`ObservabilityResult` with ``share [K]`` in [0, 1].
    """
    valid, region = check_view_maps(valid, region, "valid/region")
    valid, region = valid.bool(), region.bool()
    n_region = region.flatten(1).sum(1)
    n_obs = (valid & region).flatten(1).sum(1)
    share = torch.where(
        n_region > 0,
        n_obs.double() / n_region.clamp_min(1).double(),
        torch.full_like(n_region, empty_value, dtype=torch.float64),
    )
    return ObservabilityResult(share=share, region_pixels=n_region)
