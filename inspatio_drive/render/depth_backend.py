"""Dense-depth plug-in: a monocular depth model densifies the LiDAR cloud, or replaces it (camera-only).

A backend only has to implement :class:`DepthBackend` (``predict(image) -> depth``); its output may be
metric or relative (:data:`INVARIANCES`: up to scale, up to scale and shift, or an affine-invariant
*disparity* as Depth Anything V2's relative checkpoints give). :func:`metric_depth` turns it into metres:

* with LiDAR: :func:`align_depth` fits the scale (and shift) to the LiDAR depths at the pixels LiDAR points
  project to, robustly (median initialisation, then Huber IRLS), so a few outliers (LiDAR through glass,
  mixed pixels at edges) do not bias it;
* without LiDAR: :func:`ground_plane_fit` fits a plane (RANSAC, normal within ``max_tilt_deg`` of the ego's
  up axis) to the unprojected pixels below the horizon; the camera's known height over the road (its
  extrinsics: the ego frame's origin is on the road) divided by its distance to that plane is the scale.
  Shifted outputs (``affine``, ``affine_disparity``) are then fitted by :func:`align_depth` to the depths of
  the road plane the extrinsics give at the fitted plane's near inlier pixels, and the plane refitted (a few
  rounds).

A backend that needs to know which view it is given (the sandbox oracle's true depth) also implements
``predict_view(image, camera, frame)`` (:func:`predict_view`). No weights ship with the package; the LiDAR
path needs none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

#: what a backend's output is: metres; depth up to a scale; depth up to scale and shift; disparity (1 / depth)
#: up to scale and shift
INVARIANCES = ("metric", "scale", "affine", "affine_disparity")


@runtime_checkable
class DepthBackend(Protocol):
    """A monocular depth estimator."""

    #: one of :data:`INVARIANCES`.
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


def predict_view(backend: DepthBackend, image: NDArray[np.uint8], camera: str, frame: int) -> NDArray[np.float32]:
    """``backend.predict_view(image, camera, frame)`` when the backend has it (a backend that looks depth up per
    view, e.g. the sandbox oracle's), else ``backend.predict(image)``; checked to be ``[H, W]`` of the image.

    Args:
        image: ``[H, W, 3]`` uint8; camera: its name (``CAM_F0`` …); frame: history index (``-1`` = current).
    """
    fn = getattr(backend, "predict_view", None)
    out = fn(image, camera, frame) if callable(fn) else backend.predict(image)
    out = np.asarray(out, dtype=np.float32)
    if out.shape != image.shape[:2]:
        raise ValueError(f"depth backend returned {out.shape} for a {image.shape[:2]} image ({camera})")
    return out


def _to_depth(pred: NDArray[np.floating], invariance: str) -> NDArray[np.float64]:
    """Initial depth (up to scale) of a raw prediction: disparity inverted, non-positive values → nan."""
    p = np.asarray(pred, dtype=np.float64)
    if invariance == "affine_disparity":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, 1.0 / p, np.nan)
    return np.where(p > 0, p, np.nan)


def _apply_fit(pred: NDArray[np.floating], invariance: str, scale: float, shift: float) -> NDArray[np.float64]:
    p = np.asarray(pred, dtype=np.float64)
    v = scale * p + shift
    if invariance == "affine_disparity":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, 1.0 / v, np.nan)
    return np.where(v > 0, v, np.nan)


def fit_to_depths(
    pred_samples: NDArray[np.floating], target_depth: NDArray[np.floating], invariance: str
) -> tuple[float, float]:
    """Robust ``(scale, shift)`` mapping raw predictions to ``target_depth`` (metres) for ``invariance``:
    ``depth = scale · pred (+ shift)``, or ``1 / depth = scale · pred + shift`` for ``affine_disparity``."""
    if invariance not in INVARIANCES:
        raise ValueError(f"depth invariance must be one of {INVARIANCES}, got {invariance!r}")
    t = np.asarray(target_depth, dtype=np.float64)
    if invariance == "affine_disparity":
        return align_depth(pred_samples, 1.0 / np.where(t > 0, t, np.nan), affine=True)
    return align_depth(pred_samples, t, affine=invariance == "affine")


def _camera_rays(shape: tuple[int, int], intrinsics: NDArray, stride: int) -> tuple[NDArray, NDArray]:
    """Pixels ``[M, 2]`` (u, v) every ``stride`` and their rays ``[M, 3]`` (camera frame, unit z)."""
    h, w = shape
    vv, uu = np.meshgrid(np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride), indexing="ij")
    uv = np.stack([uu.ravel(), vv.ravel()], -1)
    return uv, _rays_at(uv, intrinsics)


def _rays_at(uv: NDArray, intrinsics: NDArray) -> NDArray[np.float64]:
    """Rays ``[M, 3]`` (camera frame, unit z) through pixels ``uv`` ``[M, 2]``."""
    k = np.asarray(intrinsics, dtype=np.float64)
    y = (uv[:, 1] - k[1, 2]) / k[1, 1]
    x = (uv[:, 0] - k[0, 2] - k[0, 1] * y) / k[0, 0]
    return np.stack([x, y, np.ones_like(x)], -1)


@dataclass
class GroundPlane:
    """A fitted road plane in the camera frame: ``normal · P = -offset`` (``normal`` unit, pointing up, i.e.
    away from the road towards the camera); ``scale`` maps the depth it was fitted on to metres; ``inliers``
    ``[M]`` of the pixels ``uv`` ``[M, 2]`` it was fitted on; ``road_depth`` ``[M]`` their depth (m) on the road
    plane the extrinsics give (``inf`` above the horizon)."""

    normal: NDArray[np.float64]
    offset: float
    scale: float
    inliers: NDArray[np.bool_]
    uv: NDArray[np.int64]
    road_depth: NDArray[np.float64]


def ground_plane_fit(
    depth: NDArray[np.floating],
    intrinsics: NDArray[np.floating],
    T_ego_cam: NDArray[np.floating],
    camera_height: float | None = None,
    stride: int | None = None,
    max_range: float = 40.0,
    max_tilt_deg: float = 15.0,
    rel_tolerance: float = 0.03,
    iterations: int = 200,
    min_inliers: int = 50,
    seed: int = 0,
) -> GroundPlane:
    """RANSAC road plane of a depth map known up to scale, and the scale that puts the camera at its height.

    Args:
        depth: ``[H, W]`` depth along the optical axis, up to scale (nan / ≤ 0 = invalid).
        intrinsics: ``[3, 3]`` of that image; ``T_ego_cam``: ``[4, 4]`` camera → ego (the ego origin is on the road).
        camera_height: metres above the road (default: the camera's z in the ego frame).
        stride: pixels sampled every ``stride`` in u and v (default: about 160 columns); only rays pointing down to the road plane of the ego
            frame within ``max_range`` metres are candidates (the part of the image below the horizon).
        max_tilt_deg: the plane's normal must lie within this angle of the ego's up axis (no walls).
        rel_tolerance: inlier distance to the plane as a fraction of the point's depth.

    Returns:
        :class:`GroundPlane`. Raises ``ValueError`` if fewer than ``min_inliers`` road pixels are found.
    """
    t = np.asarray(T_ego_cam, dtype=np.float64)
    height = float(t[2, 3]) if camera_height is None else float(camera_height)
    if height <= 0:
        raise ValueError(f"ground-plane scale needs a camera above the road, got a height of {height:.2f} m")
    uv, rays = _camera_rays(depth.shape, intrinsics, stride or max(1, depth.shape[1] // 160))
    up_cam = t[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # the ego's up axis in the camera frame
    down = -(rays @ up_cam)  # how fast each ray descends (per unit depth)
    with np.errstate(divide="ignore"):
        plane_depth = np.where(down > 1e-6, height / down, np.inf)
    d = np.asarray(depth, dtype=np.float64)[uv[:, 1], uv[:, 0]]
    cand = (plane_depth <= max_range) & np.isfinite(d) & (d > 0)
    idx = np.flatnonzero(cand)
    if len(idx) < min_inliers:
        raise ValueError(f"ground-plane scale: only {len(idx)} valid pixels below the horizon (need {min_inliers})")
    pts = rays[idx] * d[idx, None]
    rng = np.random.default_rng(seed)
    cos_tilt = np.cos(np.deg2rad(max_tilt_deg))
    best, best_count = None, -1
    for _ in range(iterations):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n = n / norm
        if n @ up_cam < 0:
            n = -n
        if n @ up_cam < cos_tilt:
            continue
        off = -(n @ a)
        inl = np.abs(pts @ n + off) <= rel_tolerance * pts[:, 2]
        count = int(inl.sum())
        if count > best_count:
            best, best_count = inl, count
    if best is None or best_count < min_inliers:
        raise ValueError(
            f"ground-plane scale: no road plane found ({max(best_count, 0)} inliers of {len(pts)}, need {min_inliers})"
        )
    # least-squares refit on the inliers, weighted by 1 / depth² (far pixels are the least certain), then inliers
    for _ in range(2):
        q = pts[best]
        wq = 1.0 / q[:, 2] ** 2
        centre = (wq[:, None] * q).sum(0) / wq.sum()
        n = np.linalg.svd((q - centre) * np.sqrt(wq)[:, None], full_matrices=False)[2][-1]
        if n @ up_cam < 0:
            n = -n
        off = -(n @ centre)
        best = np.abs(pts @ n + off) <= rel_tolerance * pts[:, 2]
    if off <= 0:
        raise ValueError("ground-plane scale: the fitted plane is above the camera")
    inliers = np.zeros(len(uv), dtype=bool)
    inliers[idx[best]] = True
    return GroundPlane(n, float(off), height / float(off), inliers, uv, plane_depth)


def metric_depth(
    pred: NDArray[np.floating],
    invariance: str,
    intrinsics: NDArray[np.floating],
    T_ego_cam: NDArray[np.floating],
    lidar_cam: NDArray[np.floating] | None = None,
    camera_height: float | None = None,
    min_lidar: int = 20,
    rounds: int = 3,
    affine_range: float = 20.0,
) -> tuple[NDArray[np.float32], dict]:
    """Metres from a raw prediction ``[H, W]`` (see the module docstring for the two scale sources).

    Args:
        invariance: one of :data:`INVARIANCES`; ``metric`` is returned as is.
        lidar_cam: ``[M, 3]`` LiDAR points in this camera's frame (OpenCV), or ``None``; with at least
            ``min_lidar`` of them inside the image they give the scale, else the ground plane does.
        camera_height: the camera's height over the road for the ground plane (default: from ``T_ego_cam``).
        rounds, affine_range: shifted outputs: rounds of plane fit + affine fit, on road pixels up to
            ``affine_range`` metres (the near road, least confused with the foot of walls and cars).

    Returns:
        ``(depth [H, W] float32 metres (nan = invalid), info)``, ``info = {"scale_from": "metric" | "lidar" |
        "ground_plane", "scale": s, "shift": b}``.
    """
    if invariance not in INVARIANCES:
        raise ValueError(f"depth invariance must be one of {INVARIANCES}, got {invariance!r}")
    p = np.asarray(pred, dtype=np.float64)
    if invariance == "metric":
        return np.where(p > 0, p, np.nan).astype(np.float32), {"scale_from": "metric", "scale": 1.0, "shift": 0.0}
    h, w = p.shape
    if lidar_cam is not None and len(lidar_cam):
        k = np.asarray(intrinsics, dtype=np.float64)
        q = np.asarray(lidar_cam, dtype=np.float64)
        q = q[q[:, 2] > 1.0]
        u = q[:, 0] / q[:, 2] * k[0, 0] + q[:, 1] / q[:, 2] * k[0, 1] + k[0, 2]
        v = q[:, 1] / q[:, 2] * k[1, 1] + k[1, 2]
        ok = (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        if int(ok.sum()) >= min_lidar:
            samples = p[np.round(v[ok]).astype(int), np.round(u[ok]).astype(int)]
            scale, shift = fit_to_depths(samples, q[ok, 2], invariance)
            out = _apply_fit(p, invariance, scale, shift)
            return out.astype(np.float32), {"scale_from": "lidar", "scale": scale, "shift": shift}
    depth = _to_depth(p, invariance)
    scale, shift = 1.0, 0.0
    for _ in range(rounds if invariance != "scale" else 1):
        plane = ground_plane_fit(depth, intrinsics, T_ego_cam, camera_height)
        if invariance == "scale":
            scale = plane.scale
            depth = depth * scale
            break
        # the road's depths (metres, from the extrinsics) at the plane's inlier pixels are the affine fit's targets
        near = plane.inliers & (plane.road_depth <= affine_range)
        uv = plane.uv[near]
        target = plane.road_depth[near]
        scale, shift = fit_to_depths(p[uv[:, 1], uv[:, 0]], target, invariance)
        depth = _apply_fit(p, invariance, scale, shift)
    return depth.astype(np.float32), {"scale_from": "ground_plane", "scale": float(scale), "shift": float(shift)}
