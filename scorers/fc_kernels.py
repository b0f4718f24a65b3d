"""Compiled (numba) kernels of the FC features: the same numbers as the torch reference twins, one core, no
``[K, T, C, H, W]`` intermediates.

Each kernel repeats its torch twin's float arithmetic in the same order (float32 where the twin is float32,
float64 where it is float64; no fused multiply-add except where the twin's kernel uses one), so the counts it
produces (pixels, pairs, intrusions) equal the twin's and the continuous sums differ only by summation order:

* :func:`near_path_counts` — the near-path region and the observed share of it
  (twin: :func:`scorers.observability.near_path_mask` + :func:`scorers.observability.observability`);
* :func:`view_consistency_counts` — reprojection of frame t into frame t+1
  (twin: the chunked torch loop of :func:`scorers.view_consistency.view_consistency`, ``backend="torch"``);
* :func:`grid_clearance` — the swept-box clearance on the occupancy grid
  (twin: :func:`scorers.free_space._grid_clearance`).

The parity tests (``tests/scorers/test_fc_kernels.py``) compare every kernel with its twin. numba is a core
dependency; it is imported (and the kernels compiled, cached on disk) on first use.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

F32 = np.float32


def _near_path_counts(
    valid: np.ndarray,
    hit_cam: np.ndarray,
    hit_row: np.ndarray,
    hit_col: np.ndarray,
    local: np.ndarray,
    pose_x: np.ndarray,
    pose_y: np.ndarray,
    cos_h: np.ndarray,
    sin_h: np.ndarray,
    path: np.ndarray,
    half_width: np.float32,
    stride: int,
    n_region: np.ndarray,
    n_obs: np.ndarray,
) -> None:
    """Near-path region counts of every candidate (see :func:`near_path_counts`)."""
    K, T = pose_x.shape
    H, W = valid.shape[3], valid.shape[4]
    V = path.shape[1]
    G = hit_cam.shape[0]
    one, zero, tiny = F32(1.0), F32(0.0), F32(1e-12)
    # a point farther than this from the path's bounding box is farther than half_width from every segment, with a
    # 1 mm slack far above the float32 rounding of the per-segment distance (ground hits lie within max_range)
    reach = np.float64(half_width) + 1e-3
    for k in range(K):
        bx0, by0, bx1, by1 = np.inf, np.inf, -np.inf, -np.inf
        for j in range(V):
            px, py = np.float64(path[k, j, 0]), np.float64(path[k, j, 1])
            bx0, by0, bx1, by1 = min(bx0, px), min(by0, py), max(bx1, px), max(by1, py)
        bx0, by0, bx1, by1 = bx0 - reach, by0 - reach, bx1 + reach, by1 + reach
        reg = 0
        obs = 0
        for t in range(T):
            x0, y0, c, s = pose_x[k, t], pose_y[k, t], cos_h[k, t], sin_h[k, t]
            for g in range(G):
                lx, ly = local[g, 0], local[g, 1]
                # twin: gx = x + c·lx − s·ly, gy = y + s·lx + c·ly (float32, one rounding per operation)
                gx = (x0 + c * lx) - s * ly
                gy = (y0 + s * lx) + c * ly
                if gx < bx0 or gx > bx1 or gy < by0 or gy > by1:
                    continue
                near = False
                for j in range(V - 1):
                    ax, ay = path[k, j, 0], path[k, j, 1]
                    abx, aby = path[k, j + 1, 0] - ax, path[k, j + 1, 1] - ay
                    denom = max(abx * abx + aby * aby, tiny)
                    apx, apy = gx - ax, gy - ay
                    f = (apx * abx + apy * aby) / denom
                    f = min(max(f, zero), one)
                    dx, dy = gx - (ax + f * abx), gy - (ay + f * aby)
                    # torch's float32 2-norm of a pair is sqrt(fma(dy, dy, dx·dx)): the product dy·dy is exact in
                    # float64 and the sum rounds once to float32
                    d = np.sqrt(F32(np.float64(dx * dx) + np.float64(dy) * np.float64(dy)))
                    if d <= half_width:
                        near = True
                        break
                if not near:
                    continue
                cam = hit_cam[g]
                r0, c0 = hit_row[g] * stride, hit_col[g] * stride
                r1, c1 = min(r0 + stride, H), min(c0 + stride, W)
                reg += (r1 - r0) * (c1 - c0)
                for r in range(r0, r1):
                    for q in range(c0, c1):
                        obs += valid[k, t, cam, r, q]
        n_region[k] = reg
        n_obs[k] = obs


def _view_consistency_counts(
    depth: np.ndarray,
    valid: np.ndarray,
    rgb_u8: np.ndarray,
    rgb_f: np.ndarray,
    lut: np.ndarray,
    A: np.ndarray,
    b: np.ndarray,
    stride: int,
    tol: np.float32,
    use_rgb: bool,
    is_u8: bool,
    n_valid: np.ndarray,
    n_pair: np.ndarray,
    n_agree: np.ndarray,
    photo: np.ndarray,
) -> None:
    """Reprojection counts of every candidate (see :func:`view_consistency_counts`)."""
    K, T, C, H, W = depth.shape
    Wf, Hf = F32(W), F32(H)
    half_w, half_h = F32(W / 2), F32(H / 2)
    one, two, half, zero = F32(1.0), F32(2.0), F32(0.5), F32(0.0)
    z_min = F32(1e-6)
    u_hi, v_hi = F32(W - 0.5), F32(H - 0.5)
    three = F32(3.0)
    for k in range(K):
        nv = 0
        npair = 0
        nagree = 0
        ph_sum = 0.0
        for t in range(T - 1):
            for c in range(C):
                a00, a01, a02 = A[k, t, c, 0, 0], A[k, t, c, 0, 1], A[k, t, c, 0, 2]
                a10, a11, a12 = A[k, t, c, 1, 0], A[k, t, c, 1, 1], A[k, t, c, 1, 2]
                a20, a21, a22 = A[k, t, c, 2, 0], A[k, t, c, 2, 1], A[k, t, c, 2, 2]
                b0, b1, b2 = b[k, t, c, 0], b[k, t, c, 1], b[k, t, c, 2]
                for row in range(0, H, stride):
                    v = F32(row)
                    for col in range(0, W, stride):
                        if not valid[k, t, c, row, col]:
                            continue
                        nv += 1
                        d0 = depth[k, t, c, row, col]
                        if not (np.isfinite(d0) and d0 > zero):
                            continue
                        u = F32(col)
                        # twin: ph = d0 · ((A[:, 0]·u + A[:, 1]·v) + A[:, 2]) + b, one rounding per operation
                        x = d0 * ((a00 * u + a01 * v) + a02) + b0
                        y = d0 * ((a10 * u + a11 * v) + a12) + b1
                        z = d0 * ((a20 * u + a21 * v) + a22) + b2
                        if not z > z_min:
                            continue
                        u1, v1 = x / z, y / z
                        if not (u1 > -half and u1 < u_hi and v1 > -half and v1 < v_hi):
                            continue
                        # the twin's normalised grid, then grid_sample's un-normalisation (align_corners=False)
                        gx = (two * u1 + one) / Wf - one
                        gy = (two * v1 + one) / Hf - one
                        ix = (gx + one) * half_w - half
                        iy = (gy + one) * half_h - half
                        xn, yn = np.rint(ix), np.rint(iy)
                        if not (xn > -1 and xn < W and yn > -1 and yn < H):
                            continue
                        qi, ri = int(xn), int(yn)
                        if not valid[k, t + 1, c, ri, qi]:
                            continue
                        d1 = depth[k, t + 1, c, ri, qi]
                        if not (np.isfinite(d1) and d1 > zero):
                            continue
                        npair += 1
                        if abs(z - d1) < tol * d1:
                            nagree += 1
                        if use_rgb:
                            xw, yn0 = np.floor(ix), np.floor(iy)
                            w_ = ix - xw
                            e_ = one - w_
                            n_ = iy - yn0
                            s_ = one - n_
                            qw, rn = int(xw), int(yn0)
                            diff = zero
                            for ch in range(3):
                                acc = zero
                                for dr in range(2):
                                    rr = rn + dr
                                    if rr < 0 or rr >= H:
                                        continue
                                    wr = n_ if dr else s_
                                    for dq in range(2):
                                        qq = qw + dq
                                        if qq < 0 or qq >= W:
                                            continue
                                        wq = w_ if dq else e_
                                        if is_u8:
                                            acc += lut[rgb_u8[k, t + 1, c, ch, rr, qq]] * (wr * wq)
                                        else:
                                            acc += rgb_f[k, t + 1, c, ch, rr, qq] * (wr * wq)
                                c0 = lut[rgb_u8[k, t, c, ch, row, col]] if is_u8 else rgb_f[k, t, c, ch, row, col]
                                diff += abs(c0 - acc)
                            ph_sum += np.float64(diff / three)
        n_valid[k] = nv
        n_pair[k] = npair
        n_agree[k] = nagree
        photo[k] = ph_sum


def _grid_clearance(
    occ: np.ndarray,
    edt: np.ndarray,
    pose_x: np.ndarray,
    pose_y: np.ndarray,
    cos_h: np.ndarray,
    sin_h: np.ndarray,
    lattice: np.ndarray,
    on_edge: np.ndarray,
    depth: np.ndarray,
    rear_axle_to_center: float,
    lo_x: float,
    lo_y: float,
    res: float,
    max_clearance: float,
    out: np.ndarray,
) -> None:
    """Clearance of every swept pose (see :func:`grid_clearance`)."""
    K, S = pose_x.shape
    nx, ny = occ.shape
    P = lattice.shape[0]
    for k in range(K):
        for s in range(S):
            c, sn = cos_h[k, s], sin_h[k, s]
            cx = pose_x[k, s] + rear_axle_to_center * c
            cy = pose_y[k, s] + rear_axle_to_center * sn
            pen = 0.0
            outline = np.inf
            for p in range(P):
                lx, ly = lattice[p, 0], lattice[p, 1]
                wx = (cx + c * lx) - sn * ly
                wy = (cy + sn * lx) + c * ly
                ix = min(max(int(np.floor((wx - lo_x) / res + 0.5)), 0), nx - 1)
                iy = min(max(int(np.floor((wy - lo_y) / res + 0.5)), 0), ny - 1)
                if occ[ix, iy] and depth[p] > pen:
                    pen = depth[p]
                if on_edge[p] and edt[ix, iy] < outline:
                    outline = edt[ix, iy]
            value = -pen if pen > 0 else outline
            out[k, s] = min(value, max_clearance)


@functools.cache
def _compiled() -> dict[str, Any]:
    """The kernels compiled by numba (on first use; cached on disk)."""
    from numba import njit  # lazy: numba costs seconds to import; only the FC kernels need it

    jit = njit(cache=True, nogil=True)
    return {
        "near_path": jit(_near_path_counts),
        "view": jit(_view_consistency_counts),
        "clearance": jit(_grid_clearance),
    }


def _np(x: Any, dtype: Any) -> np.ndarray:
    """A C-contiguous numpy array of ``dtype`` (no copy when it already is one)."""
    return np.ascontiguousarray(np.asarray(x), dtype=dtype)


def near_path_counts(
    valid: Any,
    hit_cam: Any,
    hit_row: Any,
    hit_col: Any,
    local: Any,
    poses: Any,
    cos_h: Any,
    sin_h: Any,
    path: Any,
    half_width: float,
    stride: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Near-path pixels and the observed ones among them, per candidate.

    Args:
        valid: ``[K, T, C, H, W]`` bool render validity.
        hit_cam, hit_row, hit_col: ``[G]`` camera, row and column (of the ``stride``-coarse image) of the pixels
            whose ray hits the ground within range; local: ``[G, 2]`` float32 hit points (m, ego frame at t).
        poses: ``[K, T, 3]`` float32 candidate poses; cos_h, sin_h: ``[K, T]`` float32 cos / sin of the headings
            (computed by torch, as the twin does); path: ``[K, T + 1, 2]`` float32 polyline (origin first).
        half_width: corridor half-width (m). stride: coarse pixel → ``stride × stride`` block of the full image
            (cut at the image border).

    Returns:
        ``(n_region [K], n_obs [K])`` int64: full-resolution near-path pixels over all frames and cameras, and
        those where ``valid`` is set.
    """
    K = int(np.asarray(poses).shape[0])
    n_region = np.zeros(K, dtype=np.int64)
    n_obs = np.zeros(K, dtype=np.int64)
    p = _np(poses, np.float32)
    _compiled()["near_path"](
        _np(valid, np.bool_), _np(hit_cam, np.int64), _np(hit_row, np.int64), _np(hit_col, np.int64),
        _np(local, np.float32), np.ascontiguousarray(p[..., 0]), np.ascontiguousarray(p[..., 1]),
        _np(cos_h, np.float32), _np(sin_h, np.float32), _np(path, np.float32), F32(half_width), int(stride),
        n_region, n_obs,
    )  # fmt: skip
    return n_region, n_obs


@functools.cache
def _u8_lut() -> np.ndarray:
    """``[256]`` float32: uint8 colour → [0, 1], by the twin's own operation (``x.float() / 255.0``)."""
    return (torch.arange(256).float() / 255.0).numpy()


def view_consistency_counts(
    depth: Any, valid: Any, rgb: Any, A: Any, b: Any, stride: int, depth_rel_tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reprojection of every ``stride``-th pixel of frame t into frame t+1, per candidate.

    Args:
        depth: ``[K, T, C, H, W]`` float32 z-depth (m); valid: same, bool.
        rgb: ``[K, T, C, 3, H, W]`` uint8 (scaled by 1/255) or float in [0, 1], or ``None``.
        A: ``[K, T − 1, C, 3, 3]`` float32 ``K_c R K_c⁻¹`` and b: ``[K, T − 1, C, 3]`` float32 ``K_c t`` of the
            camera-t → camera-(t+1) motion (computed by torch, as the twin does).
        stride: source pixels every ``stride`` rows / columns. depth_rel_tol: relative depth agreement tolerance.

    Returns:
        ``(n_valid, n_pair, n_agree)`` int64 ``[K]`` and ``photo`` float64 ``[K]`` (sum over pairs of the mean
        absolute colour difference; zeros without ``rgb``).
    """
    d = _np(depth, np.float32)
    K = d.shape[0]
    dummy_u8, dummy_f = np.zeros((1, 1, 1, 1, 1, 1), np.uint8), np.zeros((1, 1, 1, 1, 1, 1), np.float32)
    img = None if rgb is None else np.asarray(rgb)
    is_u8 = img is not None and img.dtype == np.uint8
    rgb_u8 = np.ascontiguousarray(img) if is_u8 else dummy_u8
    rgb_f = _np(img, np.float32) if img is not None and not is_u8 else dummy_f
    out = [np.zeros(K, dtype=np.int64) for _ in range(3)]
    photo = np.zeros(K, dtype=np.float64)
    _compiled()["view"](
        d, _np(valid, np.bool_), rgb_u8, rgb_f, _u8_lut(), _np(A, np.float32), _np(b, np.float32), int(stride),
        F32(depth_rel_tol), img is not None, is_u8, *out, photo,
    )  # fmt: skip
    return out[0], out[1], out[2], photo


def grid_clearance(
    occ: Any,
    edt: Any,
    poses: Any,
    cos_h: Any,
    sin_h: Any,
    lattice: Any,
    on_edge: Any,
    depth: Any,
    rear_axle_to_center: float,
    lo: tuple[float, float],
    res: float,
    max_clearance: float,
) -> np.ndarray:
    """Clearance ``[K, S]`` float64 (m) of the ego box at every swept pose on an occupancy grid.

    Args:
        occ: ``[nx, ny]`` bool occupancy; edt: same, float64 distance (m) to the nearest occupied cell.
        poses: ``[K, S, 3]`` float64 rear-axle poses; cos_h, sin_h: ``[K, S]`` float64 (computed by torch).
        lattice: ``[P, 2]`` float64 sample points of the box (box frame, m); on_edge: ``[P]`` bool outline
            samples; depth: ``[P]`` float64 distance of each sample to the nearest box edge (m).
        rear_axle_to_center: m. lo: grid origin (m). res: cell size (m). max_clearance: upper clip (m).

    Returns:
        ``-`` (deepest occupied sample's depth) where a sample is occupied, else the smallest distance on the
        outline, clipped at ``max_clearance``.
    """
    p = _np(poses, np.float64)
    out = np.empty(p.shape[:2], dtype=np.float64)
    _compiled()["clearance"](
        _np(occ, np.bool_), _np(edt, np.float64), np.ascontiguousarray(p[..., 0]), np.ascontiguousarray(p[..., 1]),
        _np(cos_h, np.float64), _np(sin_h, np.float64), _np(lattice, np.float64), _np(on_edge, np.bool_),
        _np(depth, np.float64), float(rear_axle_to_center), float(lo[0]), float(lo[1]), float(res),
        float(max_clearance), out,
    )  # fmt: skip
    return out
