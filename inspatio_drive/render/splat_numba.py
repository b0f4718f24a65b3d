"""Compiled CPU z-buffer (numba): the same packed keys as :func:`inspatio_drive.render.splat.zbuffer_world`.

One parallel loop over views (``prange``); each view projects every point with its own world→camera
rotation/translation and intrinsics, and keeps a private depth-min buffer of packed int64 keys
``(float32 bits of depth) << 32 | point id`` (no atomics: a view is written by one thread only).
The buffer holds (float32 depth, int32 index) pairs compared as the keys order them (depth, then
index), packed into keys at the end. Every step repeats the torch path's float32 arithmetic in the same order (camera coordinates as
``((r0·x + r1·y) + r2·z) + t``, ``1 / z``, ``(fx·x + s·y)·(1/z) + cx``, ``ceil(u − splat/2)``), with no
fused multiply-add, so both backends give the same keys bit for bit.

:func:`render_views_into` fuses the z-buffer with the decoding of the winning keys into the
renderer's depth / index / valid / rgb outputs, so no ``[V, H, W]`` key buffer is materialised.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

try:  # numba is optional: the torch path is the fallback
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False


def _chunk_outside(
    bmin: np.ndarray,
    bmax: np.ndarray,
    rt: np.ndarray,
    intr: np.ndarray,
    w: int,
    h: int,
    splat: int,
    near: np.float32,
    far: np.float32,
) -> bool:
    """True when no point of the box ``[bmin, bmax]`` can land in the view (conservative: float64,
    ``2 + splat`` pixels and 1 mm of slack against the float32 roundings of the per-point test)."""
    fx, skew, cx = np.float64(intr[0, 0]), np.float64(intr[0, 1]), np.float64(intr[0, 2])
    fy, cy = np.float64(intr[1, 1]), np.float64(intr[1, 2])
    pad = 2.0 + splat
    u_lo, u_hi = 0.5 * splat - splat - pad, w - 1 + 0.5 * splat + pad
    v_lo, v_hi = 0.5 * splat - splat - pad, h - 1 + 0.5 * splat + pad
    # a linear function is below a bound on the whole box iff it is at all 8 corners
    n_near = n_far = n_left = n_right = n_top = n_bottom = 0
    for corner in range(8):
        px = np.float64(bmax[0] if corner & 1 else bmin[0])
        py = np.float64(bmax[1] if corner & 2 else bmin[1])
        pz = np.float64(bmax[2] if corner & 4 else bmin[2])
        x = rt[0, 0] * px + rt[0, 1] * py + rt[0, 2] * pz + np.float64(rt[0, 3])
        y = rt[1, 0] * px + rt[1, 1] * py + rt[1, 2] * pz + np.float64(rt[1, 3])
        z = rt[2, 0] * px + rt[2, 1] * py + rt[2, 2] * pz + np.float64(rt[2, 3])
        tol = 1e-3 + 1e-5 * (abs(px) + abs(py) + abs(pz))
        n_near += z < near - tol
        n_far += z > far + tol
        # u < u_lo  <=>  fx·x + s·y + (cx − u_lo)·z < 0  for z > 0 (z <= 0 is culled by the near test)
        n_left += fx * x + skew * y + (cx - u_lo) * z < 0.0
        n_right += fx * x + skew * y + (cx - u_hi) * z > 0.0
        n_top += fy * y + (cy - v_lo) * z < 0.0
        n_bottom += fy * y + (cy - v_hi) * z > 0.0
    return n_near == 8 or n_far == 8 or n_left == 8 or n_right == 8 or n_top == 8 or n_bottom == 8


def _zbuffer_one_view(
    xyz: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    bmin: np.ndarray,
    bmax: np.ndarray,
    rt: np.ndarray,
    intr: np.ndarray,
    w: int,
    h: int,
    splat: int,
    near: np.float32,
    far: np.float32,
    dbuf: np.ndarray,
    ibuf: np.ndarray,
) -> None:
    """Z-buffer ``xyz`` float32 ``[N, 3]`` (ids ``[N]``, chunks ``starts`` ``[M + 1]`` with boxes
    ``bmin``/``bmax`` ``[M, 3]``; chunks wholly outside the view are skipped) seen through ``rt`` float32 ``[3, 4]`` (world→camera, OpenCV)
    and ``intr`` float32 ``[3, 3]`` into ``dbuf`` float32 / ``ibuf`` int32 ``[H·W]`` (nearest depth, then
    lowest index: the order of the packed keys; empty = ``inf`` / ``−1``)."""
    dbuf[:] = np.inf
    ibuf[:] = -1
    r00, r01, r02, t0 = rt[0, 0], rt[0, 1], rt[0, 2], rt[0, 3]
    r10, r11, r12, t1 = rt[1, 0], rt[1, 1], rt[1, 2], rt[1, 3]
    r20, r21, r22, t2 = rt[2, 0], rt[2, 1], rt[2, 2], rt[2, 3]
    fx, skew, cx = intr[0, 0], intr[0, 1], intr[0, 2]
    fy, cy = intr[1, 1], intr[1, 2]
    one = np.float32(1.0)
    half = np.float32(splat * 0.5)
    lo = np.float32(1 - splat)
    umax, vmax = np.float32(w - 1), np.float32(h - 1)
    for chunk in range(starts.shape[0] - 1):
        if _chunk_outside(bmin[chunk], bmax[chunk], rt, intr, w, h, splat, near, far):
            continue
        for p in range(starts[chunk], starts[chunk + 1]):
            px, py, pz = xyz[p, 0], xyz[p, 1], xyz[p, 2]
            z = r20 * px + r21 * py + r22 * pz + t2
            if not (z >= near and z <= far):
                continue
            x = r00 * px + r01 * py + r02 * pz + t0
            y = r10 * px + r11 * py + r12 * pz + t1
            inv_z = one / z
            u = (fx * x + skew * y) * inv_z + cx
            v = fy * y * inv_z + cy
            uf = np.ceil(u - half)
            vf = np.ceil(v - half)
            if not (uf >= lo and uf <= umax and vf >= lo and vf <= vmax):
                continue
            ui, vi = int(uf), int(vf)
            pid = ids[p]
            for dv in range(splat):
                yy = vi + dv
                if yy < 0 or yy >= h:
                    continue
                row = yy * w
                for du in range(splat):
                    xx = ui + du
                    if xx < 0 or xx >= w:
                        continue
                    j = row + xx
                    d = dbuf[j]
                    if z < d or (z == d and pid < ibuf[j]):
                        dbuf[j] = z
                        ibuf[j] = pid


def _zbuffer_views(
    xyz: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    bmin: np.ndarray,
    bmax: np.ndarray,
    rt: np.ndarray,
    intr: np.ndarray,
    w: int,
    h: int,
    splat: int,
    near: np.float32,
    far: np.float32,
    dout: np.ndarray,
    iout: np.ndarray,
) -> None:
    """Views ``rt`` ``[V, 3, 4]``, ``intr`` ``[V, 3, 3]`` → ``dout`` float32 / ``iout`` int32 ``[V, H·W]``."""
    for i in prange(rt.shape[0]):
        _zbuffer_one_view(
            xyz, ids, starts, bmin, bmax, rt[i], intr[i], w, h, splat, near, far, dout[i], iout[i]
        )


def _render_into(
    xyz: np.ndarray,
    ids: np.ndarray,
    starts: np.ndarray,
    bmin: np.ndarray,
    bmax: np.ndarray,
    rt: np.ndarray,
    intr: np.ndarray,
    w: int,
    h: int,
    splat: int,
    near: np.float32,
    far: np.float32,
    colours: np.ndarray,
    t: int,
    valid: np.ndarray,
    depth: np.ndarray,
    index: np.ndarray,
    rgb: np.ndarray,
    want_depth: bool,
    want_index: bool,
    want_rgb: bool,
) -> None:
    """Views ``rt`` ``[A, B, 3, 4]`` / ``intr`` ``[B, 3, 3]`` → slot ``t`` of the C-contiguous outputs
    ``valid``/``depth``/``index`` ``[A, T, B, H, W]`` and ``rgb`` ``[A, T, B, H, W, 3]`` (``colours`` uint8
    ``[N + 1, 3]``, last row for empty pixels)."""
    b_count = rt.shape[1]
    empty_row = colours.shape[0] - 1
    for i in prange(rt.shape[0] * b_count):
        a, b = i // b_count, i % b_count
        dbuf = np.empty(h * w, dtype=np.float32)
        ibuf = np.empty(h * w, dtype=np.int32)
        _zbuffer_one_view(xyz, ids, starts, bmin, bmax, rt[a, b], intr[b], w, h, splat, near, far, dbuf, ibuf)
        vo = valid[a, t, b].reshape(h * w)  # contiguous [H·W] views of the outputs
        vo[:] = ibuf >= 0
        if want_depth:
            depth[a, t, b].reshape(h * w)[:] = dbuf
        if want_index:
            index[a, t, b].reshape(h * w)[:] = ibuf
        if want_rgb:
            ro = rgb[a, t, b].reshape(h * w, 3)
            for j in range(h * w):
                c = ibuf[j] if ibuf[j] >= 0 else empty_row
                ro[j, 0] = colours[c, 0]
                ro[j, 1] = colours[c, 1]
                ro[j, 2] = colours[c, 2]


if HAVE_NUMBA:
    _chunk_outside = njit(cache=True, nogil=True)(_chunk_outside)
    _zbuffer_one_view = njit(cache=True, nogil=True)(_zbuffer_one_view)
    _zbuffer_views = njit(parallel=True, cache=True, nogil=True)(_zbuffer_views)
    _render_into = njit(parallel=True, cache=True, nogil=True)(_render_into)


CHUNK_POINTS = 256
CHUNK_CELL = 4.0  # metres


def chunk_layout(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points float32 ``[N, 3]`` → ``(order int64 [N], starts int64 [M + 1])``: rows sorted by
    ``CHUNK_CELL`` grid cell, cut into chunks of at most ``CHUNK_POINTS`` points of one cell."""
    n = xyz.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    cell = np.floor(xyz / CHUNK_CELL).astype(np.int64)
    cell -= cell.min(0)
    dims = cell.max(0) + 1
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    order = np.argsort(key, kind="stable")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(key[order])) + 1, [n]])
    starts = np.concatenate([np.arange(a, b, CHUNK_POINTS) for a, b in itertools.pairwise(bounds)] + [[n]])
    return order.astype(np.int64), starts.astype(np.int64)


def spatial_chunks(
    xyz: np.ndarray, layout: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points float32 ``[N, 3]`` in chunks (``layout`` from :func:`chunk_layout`, computed if None; any
    layout gives the same z-buffer, a compact one skips more) → ``(xyz sorted [N, 3], ids int32 [N],
    starts int64 [M + 1], bmin [M, 3], bmax [M, 3])``; ``ids`` are the input rows (they break depth ties,
    so the order does not matter). The boxes are always computed from ``xyz``."""
    order, starts = chunk_layout(xyz) if layout is None else layout
    if len(order) != xyz.shape[0]:
        raise ValueError(f"chunk layout is for {len(order)} points, got {xyz.shape[0]}")
    if xyz.shape[0] == 0:
        empty = np.zeros((0, 3), np.float32)
        return xyz, np.zeros(0, np.int32), starts, empty, empty
    pts = np.ascontiguousarray(xyz[order])
    bmin = np.minimum.reduceat(pts, starts[:-1], axis=0)
    bmax = np.maximum.reduceat(pts, starts[:-1], axis=0)
    return pts, order.astype(np.int32), starts, bmin, bmax


def _as_np(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=dtype).contiguous().numpy()


def zbuffer_world_numba(
    xyz: torch.Tensor,
    T_cam_world: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    splat: int = 1,
    near: float = 0.1,
    far: float = 1e4,
) -> torch.Tensor:
    """Numba twin of :func:`inspatio_drive.render.splat.zbuffer_world`: world points float32 ``[N, 3]``,
    ``T_cam_world`` ``[V, 4, 4]``, intrinsics ``[V, 3, 3]`` → int64 ``[V, H, W]`` keys (CPU)."""
    if not HAVE_NUMBA:
        raise RuntimeError("the numba backend needs the `numba` package (pip install numba)")
    if splat < 1:
        raise ValueError(f"splat size must be >= 1 pixel, got {splat}")
    w, h = image_size
    v_count, n = T_cam_world.shape[0], xyz.shape[0]
    if n >= 2**31:
        raise ValueError(f"at most 2³¹ − 1 points per z-buffer, got {n}")
    dout = np.empty((v_count, h * w), dtype=np.float32)
    iout = np.empty((v_count, h * w), dtype=np.int32)
    intr = _as_np(intrinsics, torch.float32)
    intr = np.ascontiguousarray(np.broadcast_to(intr, (v_count, 3, 3)))
    _zbuffer_views(
        *spatial_chunks(_as_np(xyz, torch.float32)),
        _as_np(T_cam_world[:, :3, :4], torch.float32),
        intr,
        w,
        h,
        splat,
        np.float32(near),
        np.float32(far),
        dout,
        iout,
    )
    bits = torch.from_numpy(dout.view(np.int32)).to(torch.int64)
    keys = (bits << 32) | (torch.from_numpy(iout).to(torch.int64) & 0xFFFFFFFF)
    return keys.view(v_count, h, w)


def render_views_into(
    xyz: torch.Tensor,
    T_cam_world: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    splat: int,
    near: float,
    far: float,
    colours: torch.Tensor,
    t: int,
    valid: torch.Tensor,
    depth: torch.Tensor | None,
    index: torch.Tensor | None,
    rgb: torch.Tensor | None,
    layout: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Render ``A × B`` views straight into slot ``t`` of the renderer's CPU outputs (no key buffer kept).

    Args:
        xyz: float32 ``[N, 3]`` world points.
        T_cam_world: ``[A, B, 4, 4]`` world→camera; ``intrinsics``: ``[B, 3, 3]`` (one per camera ``b``).
        colours: uint8 ``[N + 1, 3]``, the last row for empty pixels.
        t: the time slot written.
        valid: bool ``[A, T, B, H, W]``; ``depth`` float32 / ``index`` int32 ``[A, T, B, H, W]``;
            ``rgb`` uint8 ``[A, T, B, H, W, 3]`` — contiguous CPU tensors, written in place.
        layout: :func:`chunk_layout` of the points (reuse it across time steps), computed if None.
    """
    if not HAVE_NUMBA:
        raise RuntimeError("the numba backend needs the `numba` package (pip install numba)")
    if xyz.shape[0] >= 2**31:
        raise ValueError(f"at most 2³¹ − 1 points per z-buffer, got {xyz.shape[0]}")
    w, h = image_size
    b_count = T_cam_world.shape[1]
    outs = [o for o in (valid, depth, index, rgb) if o is not None]
    if not all(o.is_contiguous() and o.device.type == "cpu" for o in outs):
        raise ValueError("render_views_into writes contiguous CPU outputs only")
    _render_into(
        *spatial_chunks(_as_np(xyz, torch.float32), layout),
        _as_np(T_cam_world[..., :3, :4], torch.float32),
        _as_np(intrinsics, torch.float32).reshape(b_count, 3, 3),
        w,
        h,
        splat,
        np.float32(near),
        np.float32(far),
        _as_np(colours, torch.uint8),
        t,
        valid.numpy(),
        depth.numpy() if depth is not None else np.zeros((1, 1, 1, 1, 1), dtype=np.float32),
        index.numpy() if index is not None else np.zeros((1, 1, 1, 1, 1), dtype=np.int32),
        rgb.numpy() if rgb is not None else np.zeros((1, 1, 1, 1, 1, 1), dtype=np.uint8),
        depth is not None,
        index is not None,
        rgb is not None,
    )
