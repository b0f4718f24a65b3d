"""Free-space feature: the ego footprint swept along a candidate against observed 3D points.

The ego box (rear-axle frame, see :mod:`scorers.vehicle`) is placed at poses interpolated along every
candidate (from t = 0 excluded to the last pose); observed points above the ground (a height band) are
treated as static obstacles. For each candidate this gives the minimum signed clearance (m) between the
box and the points and the time (s) at which the clearance first drops below ``margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from scorers.fc_kernels import grid_clearance
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


def _grid_clearance(
    pts: Tensor, poses: Tensor, footprint: Footprint, max_clearance: float, res: float, lo: Tensor, hi: Tensor,
    backend: str = "numba",
) -> Tensor:
    """Clearance ``[K, S]`` from a BEV occupancy grid (cells of ``res`` metres) and its distance transform.

    A lattice of spacing ``res/√2`` covers the box (outline included), so every grid cell under the box
    holds a sample. Outside the box: the Euclidean distance transform of the occupancy sampled on the
    outline. Inside: the deepest occupied sample, as a negative distance to the nearest box edge. Errors
    are below ``2·res`` (point snapped to its cell centre, sample within a cell).

    ``backend="numba"`` samples the lattice in one compiled pass (:func:`scorers.fc_kernels.grid_clearance`, the
    same float64 operations; float32 poses take the twin); ``"torch"`` is the reference twin (``[K, S, P]``
    tensors). Equal results.
    """

    shape = torch.ceil((hi - lo) / res).long() + 1
    nx, ny = int(shape[0]), int(shape[1])
    occ = torch.zeros(nx, ny, dtype=torch.bool)
    ij = torch.floor((pts - lo) / res + 0.5).long()
    occ[ij[:, 0].clamp(0, nx - 1), ij[:, 1].clamp(0, ny - 1)] = True
    edt = torch.from_numpy(distance_transform_edt(~occ.numpy(), sampling=res)).to(poses.dtype)
    hl, hw = footprint.half_length, footprint.half_width
    step = 0.99 * res / 2**0.5  # a rotated lattice this fine puts a sample in every grid cell it covers
    nl, nw = math.ceil(2 * hl / step) + 1, math.ceil(2 * hw / step) + 1
    lx = torch.linspace(-hl, hl, nl, dtype=poses.dtype)
    ly = torch.linspace(-hw, hw, nw, dtype=poses.dtype)
    gx, gy = torch.meshgrid(lx, ly, indexing="ij")
    lattice = torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)  # [P, 2] box frame, outline included
    on_edge = (gx.reshape(-1).abs() >= hl - 1e-9) | (gy.reshape(-1).abs() >= hw - 1e-9)
    depth = torch.minimum(hl - lattice[:, 0].abs(), hw - lattice[:, 1].abs())  # [P] distance to nearest edge
    c, s = torch.cos(poses[..., 2:3]), torch.sin(poses[..., 2:3])  # [K, S, 1]
    if backend == "numba" and poses.dtype == torch.float64:
        out = grid_clearance(occ.numpy(), edt.numpy(), poses, c[..., 0], s[..., 0], lattice, on_edge, depth,
                             footprint.rear_axle_to_center, (float(lo[0]), float(lo[1])), res, max_clearance)
        return torch.from_numpy(out).to(poses.dtype)
    cx = poses[..., 0:1] + footprint.rear_axle_to_center * c
    cy = poses[..., 1:2] + footprint.rear_axle_to_center * s
    wx = cx + c * lattice[:, 0] - s * lattice[:, 1]  # [K, S, P]
    wy = cy + s * lattice[:, 0] + c * lattice[:, 1]
    ix = torch.floor((wx - lo[0]) / res + 0.5).long().clamp(0, nx - 1)
    iy = torch.floor((wy - lo[1]) / res + 0.5).long().clamp(0, ny - 1)
    inside_occ = occ[ix, iy]  # [K, S, P]
    penetration = torch.where(inside_occ, depth.expand_as(wx), torch.zeros_like(wx)).amax(-1)
    outline = torch.where(on_edge.expand_as(wx), edt[ix, iy], torch.full_like(wx, float("inf"))).amin(-1)
    return torch.where(penetration > 0, -penetration, outline).clamp_max(max_clearance)


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
    method: str = "grid",
    grid_resolution: float = 0.1,
    exclude_ego_margin: float | None = 0.2,
    chunk_elems: int = 1 << 22,
    backend: str = "numba",
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
        method: ``"grid"`` (BEV occupancy + distance transform, error < 2·``grid_resolution``, fast for
            dense LiDAR) or ``"exact"`` (every point against every box, O(K·S·N)).
        grid_resolution: BEV cell size (m) of the grid method.
        exclude_ego_margin: drop points within this distance (m) of the ego box at t = 0 (returns from the
            ego itself, mirrors); ``None`` keeps them.
        chunk_elems: max K·S·N elements per chunk of the exact method (memory bound).
        backend: ``numba`` or ``torch`` (the reference twin) for the grid method's lattice sampling; equal results.

    Returns:
        :class:`FreeSpaceResult`.
    """
    candidates = check_candidates(candidates)
    if backend not in ("numba", "torch"):
        raise ValueError(f"backend: expected 'numba' or 'torch', got {backend!r}")
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
    if exclude_ego_margin is not None and pts.shape[0] > 0:
        own = box_signed_distance(pts, torch.zeros(3, dtype=pts.dtype, device=pts.device), footprint)
        pts = pts[own > exclude_ego_margin]
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
    if method == "grid":
        if pts.shape[0] > 0:
            clearance = _grid_clearance(pts, poses, footprint, max_clearance, grid_resolution, cmin, cmax, backend)
    elif method == "exact":
        step = max(1, chunk_elems // max(1, K * S))
        for start in range(0, pts.shape[0], step):
            d = box_signed_distance(pts[start : start + step], poses, footprint)  # [K, S, n]
            clearance = torch.minimum(clearance, d.amin(dim=-1))
    else:
        raise ValueError(f"method must be 'grid' or 'exact', got {method!r}")
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
