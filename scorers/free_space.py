"""Free-space feature: the ego footprint swept along a candidate against observed 3D points.

The ego box (rear-axle frame, see :mod:`scorers.vehicle`) is placed at poses interpolated along every
candidate (from t = 0 excluded to the last pose); observed points above the ground (a height band) are
treated as static obstacles. For each candidate this gives the minimum signed clearance (m) between the
box and the points and the time (s) at which the clearance first drops below ``margin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from scorers.poses import check_candidates, interpolate_poses
from scorers.vehicle import PACIFICA, Footprint


@dataclass
class FreeSpaceResult:
    """Per-candidate free-space features.

    Attributes:
        min_clearance: ``[K]`` metres; min over swept poses and points of the signed distance from a point
            to the ego box (negative = the point is inside the box); ``max_clearance`` when no point is
            closer than that.
        first_intrusion_s: ``[K]`` seconds; first sample time with clearance < margin; ``inf`` if none.
        clearance: ``[K, S]`` metres; min clearance per swept sample.
        times_s: ``[S]`` seconds; the sample times.
        num_points: number of points that passed the height band and range filters.
    """

    min_clearance: Tensor
    first_intrusion_s: Tensor
    clearance: Tensor
    times_s: Tensor
    num_points: int


def box_signed_distance(points_xy: Tensor, poses: Tensor, footprint: Footprint = PACIFICA) -> Tensor:
    """Signed distance (m) from 2D points to the ego box at each pose.

    Args:
        points_xy: ``[N, 2]`` points (x, y) in the current ego frame.
        poses: ``[..., 3]`` rear-axle poses (x, y, heading) in the same frame.
        footprint: ego box dimensions.

    Returns:
        ``[..., N]``: Euclidean distance to the box outline outside, minus the depth of penetration inside.
    """
    c, s = torch.cos(poses[..., 2]), torch.sin(poses[..., 2])
    cx = poses[..., 0] + footprint.rear_axle_to_center * c
    cy = poses[..., 1] + footprint.rear_axle_to_center * s
    dx = points_xy[:, 0] - cx.unsqueeze(-1)  # [..., N]
    dy = points_xy[:, 1] - cy.unsqueeze(-1)
    lon = (c.unsqueeze(-1) * dx + s.unsqueeze(-1) * dy).abs() - footprint.half_length
    lat = (-s.unsqueeze(-1) * dx + c.unsqueeze(-1) * dy).abs() - footprint.half_width
    outside = torch.hypot(lon.clamp_min(0), lat.clamp_min(0))
    inside = torch.maximum(lon, lat).clamp_max(0)
    return outside + inside


def estimate_ground_z(points: Tensor, radius: float = 20.0, quantile: float = 0.1) -> float:
    """Rough ground height (m, ego frame): the ``quantile`` of z over points within ``radius`` metres (xy)."""
    near = points[torch.hypot(points[:, 0], points[:, 1]) < radius]
    if near.shape[0] == 0:
        return 0.0
    return float(torch.quantile(near[:, 2].double(), quantile))


def free_space(
    candidates: Tensor,
    points: Tensor,
    *,
    footprint: Footprint = PACIFICA,
    dt: float = 0.5,
    substeps: int = 2,
    ground_z: float | None = 0.0,
    height_band: tuple[float, float] = (0.3, 2.5),
    margin: float = 0.0,
    max_clearance: float = 10.0,
    chunk_elems: int = 1 << 22,
) -> FreeSpaceResult:
    """Sweep the ego footprint along every candidate against observed points (vectorised over K).

    Args:
        candidates: ``[K, T, 3]`` poses (x m, y m, heading rad) at t = dt, …, T·dt, current rear-axle frame.
        points: ``[N, 3+]`` observed points (x, y, z metres, ego frame); extra columns ignored.
        footprint: ego box.
        dt: time between candidate poses (s).
        substeps: interpolated samples per interval (2 → every 0.25 s).
        ground_z: ground height in the ego frame (m); ``None`` estimates it with :func:`estimate_ground_z`.
        height_band: keep points with ``ground_z + lo <= z <= ground_z + hi`` (m): obstacles, not road.
        margin: clearance (m) below which a sample counts as an intrusion.
        max_clearance: clearances are clipped to this (m); points farther than it from every box are dropped.
        chunk_elems: max K·S·N elements per chunk (memory bound).

    Returns:
        :class:`FreeSpaceResult`.
    """
    candidates = check_candidates(candidates)
    points = torch.as_tensor(points, dtype=candidates.dtype, device=candidates.device)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"points: expected [N, 3] (x, y, z), got shape {tuple(points.shape)}")
    lo, hi = height_band
    if lo > hi:
        raise ValueError(f"height_band: expected lo <= hi, got {height_band}")
    poses = interpolate_poses(candidates, substeps)  # [K, S, 3]
    K, S = poses.shape[:2]
    times = dt * torch.arange(1, S + 1, dtype=candidates.dtype, device=candidates.device) / substeps
    gz = estimate_ground_z(points) if ground_z is None else float(ground_z)
    pts = points[(points[:, 2] >= gz + lo) & (points[:, 2] <= gz + hi), :2]
    pts = pts[torch.isfinite(pts).all(dim=1)]
    # drop points that cannot come within max_clearance of any box (bounding box of all box centres)
    reach = max_clearance + float(
        torch.hypot(torch.tensor(footprint.half_length), torch.tensor(footprint.half_width))
    )
    centre = poses[..., :2] + footprint.rear_axle_to_center * torch.stack(
        [torch.cos(poses[..., 2]), torch.sin(poses[..., 2])], dim=-1
    )
    cmin, cmax = centre.reshape(-1, 2).amin(0) - reach, centre.reshape(-1, 2).amax(0) + reach
    pts = pts[((pts >= cmin) & (pts <= cmax)).all(dim=1)]
    clearance = torch.full((K, S), max_clearance, dtype=candidates.dtype, device=candidates.device)
    step = max(1, chunk_elems // max(1, K * S))
    for start in range(0, pts.shape[0], step):
        d = box_signed_distance(pts[start : start + step], poses, footprint)  # [K, S, n]
        clearance = torch.minimum(clearance, d.amin(dim=-1))
    clearance = clearance.clamp_max(max_clearance)
    intr = clearance < margin
    first = torch.where(intr, times.expand(K, S), torch.full_like(clearance, float("inf"))).amin(dim=1)
    return FreeSpaceResult(
        min_clearance=clearance.amin(dim=1),
        first_intrusion_s=first,
        clearance=clearance,
        times_s=times,
        num_points=int(pts.shape[0]),
    )
