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

import numpy as np
import torch

try:  # numba is optional: the torch path is the fallback
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba missing
    HAVE_NUMBA = False


def _zbuffer_one_view(
    xyz: np.ndarray,
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
    """Z-buffer ``xyz`` float32 ``[N, 3]`` seen through ``rt`` float32 ``[3, 4]`` (world→camera, OpenCV)
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
    for p in range(xyz.shape[0]):
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
        pid = np.int32(p)
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
        _zbuffer_one_view(xyz, rt[i], intr[i], w, h, splat, near, far, dout[i], iout[i])


def _render_into(
    xyz: np.ndarray,
    rt: np.ndarray,
    intr: np.ndarray,
    w: int,
    h: int,
    splat: int,
    near: np.float32,
    far: np.float32,
    colours: np.ndarray,
    valid: np.ndarray,
    depth: np.ndarray,
    index: np.ndarray,
    rgb: np.ndarray,
    want_depth: bool,
    want_index: bool,
    want_rgb: bool,
) -> None:
    """Views ``rt`` ``[A, B, 3, 4]`` / ``intr`` ``[B, 3, 3]`` → ``valid``/``depth``/``index`` ``[A, B, H, W]``
    and ``rgb`` ``[A, B, H, W, 3]`` (``colours`` uint8 ``[N + 1, 3]``, last row for empty pixels)."""
    b_count = rt.shape[1]
    empty_row = colours.shape[0] - 1
    for i in prange(rt.shape[0] * b_count):
        a, b = i // b_count, i % b_count
        dbuf = np.empty(h * w, dtype=np.float32)
        ibuf = np.empty(h * w, dtype=np.int32)
        _zbuffer_one_view(xyz, rt[a, b], intr[b], w, h, splat, near, far, dbuf, ibuf)
        for yy in range(h):
            for xx in range(w):
                j = yy * w + xx
                idx = ibuf[j]
                valid[a, b, yy, xx] = idx >= 0
                if want_depth:
                    depth[a, b, yy, xx] = dbuf[j]
                if want_index:
                    index[a, b, yy, xx] = idx
                if want_rgb:
                    c = idx if idx >= 0 else empty_row
                    rgb[a, b, yy, xx, 0] = colours[c, 0]
                    rgb[a, b, yy, xx, 1] = colours[c, 1]
                    rgb[a, b, yy, xx, 2] = colours[c, 2]


if HAVE_NUMBA:
    _zbuffer_one_view = njit(cache=True, nogil=True, inline="always")(_zbuffer_one_view)
    _zbuffer_views = njit(parallel=True, cache=True, nogil=True)(_zbuffer_views)
    _render_into = njit(parallel=True, cache=True, nogil=True)(_render_into)


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
        _as_np(xyz, torch.float32),
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
    valid: torch.Tensor,
    depth: torch.Tensor | None,
    index: torch.Tensor | None,
    rgb: torch.Tensor | None,
) -> None:
    """Render ``A × B`` views straight into CPU output views (no key buffer kept).

    Args:
        xyz: float32 ``[N, 3]`` world points.
        T_cam_world: ``[A, B, 4, 4]`` world→camera; ``intrinsics``: ``[B, 3, 3]`` (one per camera ``b``).
        colours: uint8 ``[N + 1, 3]``, the last row for empty pixels.
        valid: bool ``[A, B, H, W]``; ``depth`` float32 / ``index`` int32 ``[A, B, H, W]``;
            ``rgb`` uint8 ``[A, B, H, W, 3]`` — CPU tensors (strided views allowed), written in place.
    """
    if not HAVE_NUMBA:
        raise RuntimeError("the numba backend needs the `numba` package (pip install numba)")
    w, h = image_size
    b_count = T_cam_world.shape[1]
    if xyz.shape[0] >= 2**31:
        raise ValueError(f"at most 2³¹ − 1 points per z-buffer, got {xyz.shape[0]}")
    dummy_f = np.zeros((1, 1, 1, 1), dtype=np.float32)
    dummy_i = np.zeros((1, 1, 1, 1), dtype=np.int32)
    dummy_c = np.zeros((1, 1, 1, 1, 1), dtype=np.uint8)
    _render_into(
        _as_np(xyz, torch.float32),
        _as_np(T_cam_world[..., :3, :4], torch.float32),
        _as_np(intrinsics, torch.float32).reshape(b_count, 3, 3),
        w,
        h,
        splat,
        np.float32(near),
        np.float32(far),
        _as_np(colours, torch.uint8),
        valid.numpy(),
        depth.numpy() if depth is not None else dummy_f,
        index.numpy() if index is not None else dummy_i,
        rgb.numpy() if rgb is not None else dummy_c,
        depth is not None,
        index is not None,
        rgb is not None,
    )
