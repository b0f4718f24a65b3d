"""Batched z-buffer splatting (torch; the same code runs on CPU and CUDA).

Each point is drawn as a ``splat × splat`` pixel square centred on its projection (the pixel centres
within ``[u − s/2, u + s/2) × [v − s/2, v + s/2)``); for every pixel the nearest point wins.
The depth test and the winner's index are resolved in ONE ``scatter_reduce(amin)`` over packed int64
keys ``(float32 bits of depth) << 32 | point index`` — the bit pattern of a positive float32 is
monotonic in its value, so the minimum key is the nearest point (ties: lowest index), deterministic
on every device. The empty key decodes to depth ``inf`` and index ``−1``. Pixel centres are at integer coordinates (OpenCV).
"""

from __future__ import annotations

import sys

import torch

# empty pixel: depth bits of +inf, index bits of −1 — so unpacking needs no special case
EMPTY_KEY = (0x7F800000 << 32) | 0xFFFFFFFF
_LITTLE_ENDIAN = sys.byteorder == "little"


def project(
    points_cam: torch.Tensor, intrinsics: torch.Tensor, near: float = 0.1, far: float = 1e4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pinhole projection of camera-frame points.

    Args:
        points_cam: ``[..., N, 3]`` points in OpenCV camera frames.
        intrinsics: ``[..., 3, 3]`` broadcastable to the batch of ``points_cam``.
        near, far: depth range kept (metres).

    Returns:
        ``(u [..., N], v [..., N], z [..., N])`` float pixel coordinates and depth; ``z`` is ``inf``
        outside ``[near, far]``.
    """
    x, y, z = points_cam.unbind(-1)
    ok = (z >= near) & (z <= far)
    zs = torch.where(ok, z, torch.ones_like(z))
    fx, fy = intrinsics[..., 0, 0, None], intrinsics[..., 1, 1, None]
    cx, cy = intrinsics[..., 0, 2, None], intrinsics[..., 1, 2, None]
    skew = intrinsics[..., 0, 1, None]
    inv_z = 1.0 / zs
    u = (fx * x + skew * y) * inv_z + cx
    v = fy * y * inv_z + cy
    return u, v, torch.where(ok, z, torch.full_like(z, float("inf")))


def pack_keys(depth: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """float32 depth (> 0) and int index (< 2³¹) → int64 keys ordered by depth, then index."""
    bits = depth.to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    return (bits << 32) | index.to(torch.int64)


def unpack_keys(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """int64 keys → ``(depth float32 (inf if empty), index int32 (−1 if empty), valid bool)``.

    On little-endian machines depth and index are zero-copy strided views of ``keys``."""
    if _LITTLE_ENDIAN:
        pairs = keys.contiguous().view(torch.int32).view(*keys.shape, 2)
        index, depth = pairs[..., 0], pairs[..., 1].view(torch.float32)
    else:  # pragma: no cover - big-endian hosts
        index = (keys & 0xFFFFFFFF).to(torch.int32)
        depth = (keys >> 32).to(torch.int32).view(torch.float32)
    return depth, index, index >= 0


def splat_offsets(splat: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel offsets ``(du [S²], dv [S²])`` of a ``splat × splat`` square from its first pixel."""
    if splat < 1:
        raise ValueError(f"splat size must be >= 1 pixel, got {splat}")
    r = torch.arange(splat, device=device)
    dv, du = torch.meshgrid(r, r, indexing="ij")
    return du.reshape(-1), dv.reshape(-1)


def _scatter_points(
    view_idx: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    z: torch.Tensor,
    ids: torch.Tensor,
    v_count: int,
    image_size: tuple[int, int],
    splat: int,
) -> torch.Tensor:
    """Core z-buffer on flat point-views: ``view_idx, u, v, z, ids`` ``[P]`` (all with finite depth in range)
    → int64 ``[V, H, W]`` keys."""
    w, h = image_size
    device = u.device
    # the square covers the pixel centres within [u − s/2, u + s/2): first column ceil(u − s/2)
    ui, vi = torch.ceil(u - splat / 2), torch.ceil(v - splat / 2)
    keep = (ui >= 1 - splat) & (ui <= w - 1) & (vi >= 1 - splat) & (vi <= h - 1)
    sel = keep.nonzero().view(-1)
    view_idx = view_idx.index_select(0, sel)
    ui, vi = ui.index_select(0, sel).to(torch.int64), vi.index_select(0, sel).to(torch.int64)
    keys = pack_keys(z.index_select(0, sel), ids.index_select(0, sel))
    buffer = torch.full((v_count * h * w,), EMPTY_KEY, dtype=torch.int64, device=device)
    if splat == 1:
        buffer.scatter_reduce_(0, (view_idx * h + vi) * w + ui, keys, reduce="amin")
    else:
        du, dv = splat_offsets(splat, device)
        uu, vv = ui[:, None] + du, vi[:, None] + dv  # [P, S²]
        inside = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
        flat = (view_idx[:, None] * h + vv) * w + uu
        buffer.scatter_reduce_(0, flat[inside], keys[:, None].expand_as(flat)[inside], reduce="amin")
    return buffer.view(v_count, h, w)


def zbuffer_keys(
    points_cam: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    splat: int = 1,
    near: float = 0.1,
    far: float = 1e4,
    point_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Z-buffer a batch of views given camera-frame points.

    Args:
        points_cam: float32 ``[V, N, 3]`` points in each view's OpenCV camera frame.
        intrinsics: ``[V, 3, 3]`` (or broadcastable) in pixels of ``image_size``.
        image_size: ``(W, H)``.
        splat: side of the square each point covers (pixels).
        near, far: depth range (metres).
        point_ids: int ``[N]`` ids stored in the keys (default ``arange(N)``), ``< 2³¹``.

    Returns:
        int64 ``[V, H, W]`` packed keys (:func:`unpack_keys`); ``EMPTY_KEY`` where nothing landed.
    """
    v_count, n = points_cam.shape[:2]
    u, v, z = project(points_cam, intrinsics.to(points_cam.dtype), near, far)
    ids = torch.arange(n, device=points_cam.device) if point_ids is None else point_ids.to(points_cam.device)
    view_idx, pt_idx = torch.isfinite(z).nonzero(as_tuple=True)
    return _scatter_points(
        view_idx,
        u[view_idx, pt_idx],
        v[view_idx, pt_idx],
        z[view_idx, pt_idx],
        ids[pt_idx],
        v_count,
        image_size,
        splat,
    )


def frustum_cull(
    xyz: torch.Tensor,
    T_cam_world: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    near: float = 0.1,
    far: float = 1e4,
    margin: float = 0.02,
    splat: int = 1,
) -> torch.Tensor:
    """Indices ``[S]`` of the points that may be seen by ANY of ``V`` views (conservative test).

    The views' centres are bounded by a sphere (centre m, radius r) and their optical axes by a cone
    around the mean axis (half-angle δ); a point at distance d from m in direction β off that axis can
    be in a view only if ``β <= θ + δ + asin(r / d) + margin`` (θ: half-angle of the image diagonal)
    and ``d <= far + r``. Cost ``O(N)`` per group instead of ``O(V·N)``.
    """
    rot = T_cam_world[:, :3, :3].to(torch.float64)
    centres = -(rot.transpose(-1, -2) @ T_cam_world[:, :3, 3:4].to(torch.float64))[..., 0]  # [V, 3]
    axes = rot[:, 2, :]  # camera +z in world
    m = centres.mean(0)
    r = float((centres - m).norm(dim=-1).max())
    mean_axis = axes.mean(0)
    if float(mean_axis.norm()) < 0.5:  # views look in very different directions: no culling
        return torch.arange(len(xyz), device=xyz.device)
    mean_axis = mean_axis / mean_axis.norm()
    delta = float(torch.acos((axes @ mean_axis).clamp(-1, 1)).max())
    w, h = image_size
    k = intrinsics.to(torch.float64)
    pad = splat + 1.0  # pixels: rounding and splats of points just outside the image
    half_x = (torch.maximum(k[:, 0, 2], w - 1 - k[:, 0, 2]) + pad) / k[:, 0, 0]
    half_y = (torch.maximum(k[:, 1, 2], h - 1 - k[:, 1, 2]) + pad) / k[:, 1, 1]
    theta = float(torch.atan(torch.sqrt(half_x**2 + half_y**2)).max())
    limit = theta + delta + margin
    if limit >= torch.pi:
        return torch.arange(len(xyz), device=xyz.device)
    d = xyz - m.to(xyz)
    dist = d.norm(dim=-1)
    cos_b = (d @ mean_axis.to(xyz)) / dist.clamp(min=1e-6)
    slack = torch.asin((r / dist.clamp(min=1e-6)).clamp(max=1.0))
    ok = (dist <= r + near + 1e-3) | (torch.acos(cos_b.clamp(-1, 1)) <= limit + slack)
    ok &= dist <= far + r
    return ok.nonzero().flatten()


def zbuffer_world(
    xyz: torch.Tensor,
    T_cam_world: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    splat: int = 1,
    near: float = 0.1,
    far: float = 1e4,
    cull: bool = True,
) -> torch.Tensor:
    """Z-buffer world points ``[N, 3]`` into ``V`` views (``T_cam_world`` ``[V, 4, 4]``, intrinsics
    ``[V, 3, 3]``) → int64 ``[V, H, W]`` keys whose index part refers to rows of ``xyz``.

    Points are transformed element-wise in a ``[V, N]`` layout (the float32 roundings of the numba
    backend, :mod:`inspatio_drive.render.splat_numba`) and optionally culled
    first with :func:`frustum_cull` (exact result either way)."""
    ids = frustum_cull(xyz, T_cam_world, intrinsics, image_size, near, far, splat=splat) if cull else None
    pts = xyz if ids is None else xyz[ids]
    if ids is None:
        ids = torch.arange(len(xyz), device=xyz.device)
    v_count = T_cam_world.shape[0]
    m = T_cam_world[:, :3, :4].to(torch.float32)
    px, py, pz = pts.to(torch.float32).T.contiguous()  # [S] each

    def cam_axis(row: int) -> torch.Tensor:
        # ((r0·x + r1·y) + r2·z) + t in float32, element-wise in this order (no GEMM / FMA): the
        # numba backend (splat_numba) repeats exactly these roundings, so both give the same keys
        r = m[:, row, :, None]  # [V, 4, 1]
        return r[:, 0] * px + r[:, 1] * py + r[:, 2] * pz + r[:, 3]  # [V, S]

    z = cam_axis(2)
    flat = ((z >= near) & (z <= far)).view(-1).nonzero().view(-1)  # 1-D gathers are the fast path
    s_count = px.shape[0]
    view_idx, pt_idx = flat // s_count, flat % s_count
    z = z.view(-1).index_select(0, flat)
    x = cam_axis(0).view(-1).index_select(0, flat)
    y = cam_axis(1).view(-1).index_select(0, flat)
    k = intrinsics.to(torch.float32)
    if bool((k == k[:1]).all()):  # one camera for every view (the renderer's groups): scalars
        fx, fy, cx, cy, skew = (float(k[0, i, j]) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2), (0, 1)))
    else:
        kv = k[view_idx]
        fx, fy, cx, cy, skew = kv[:, 0, 0], kv[:, 1, 1], kv[:, 0, 2], kv[:, 1, 2], kv[:, 0, 1]
    inv_z = 1.0 / z
    u = (fx * x + skew * y) * inv_z + cx
    v = fy * y * inv_z + cy
    return _scatter_points(view_idx, u, v, z, ids.index_select(0, pt_idx), v_count, image_size, splat)


def fill_holes(keys: torch.Tensor, iterations: int = 1) -> torch.Tensor:
    """Fill empty pixels from their 3×3 neighbourhood, the nearest neighbour winning (z-buffer order).

    Only empty pixels change; each iteration grows coverage by one pixel. ``keys``: int64 ``[V, H, W]``.
    """
    out = keys
    for _ in range(iterations):
        best = out.clone()
        h, w = out.shape[-2:]
        for dv in (-1, 0, 1):
            for du in (-1, 0, 1):
                if du == 0 and dv == 0:
                    continue
                dst = best[:, max(0, -dv) : h - max(0, dv), max(0, -du) : w - max(0, du)]
                src = out[:, max(0, dv) : h + min(0, dv), max(0, du) : w + min(0, du)]
                torch.minimum(dst, src, out=dst)
        out = torch.where(out == EMPTY_KEY, best, out)
    return out
