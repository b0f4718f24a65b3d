"""Camera-motion recovery from two frames without network weights (ORB + essential matrix, OpenCV).

Used on generated (world-model) frames: the relative pose estimated from the images is compared with the
commanded relative camera motion of the candidate. Errors are in degrees; the translation of an
essential matrix is known only up to scale, so only its direction is compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor


def _cv2():
    try:
        import cv2  # lazy: video codec, only when a video is written
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "camera-motion recovery needs OpenCV: pip install opencv-python-headless"
        ) from exc
    return cv2


@dataclass(frozen=True)
class MotionEstimate:
    """Relative pose camera-0 → camera-1 (``x1 = R x0 + t``), ``t`` unit norm; ``ok`` False if it failed."""

    R: NDArray[np.float64]
    t: NDArray[np.float64]
    inliers: int
    ok: bool


def rotation_angle_deg(R: NDArray[np.float64]) -> float:
    """Rotation angle (deg) of a 3×3 rotation matrix."""
    cos = (np.trace(R) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def direction_angle_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Angle (deg) between two 3-vectors (NaN if one is zero)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))))


def _gray_u8(image: NDArray) -> NDArray[np.uint8]:
    """``[3, H, W]`` or ``[H, W, 3]`` rgb (uint8 or float in [0, 1]) → ``[H, W]`` uint8 gray."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = np.moveaxis(img, 0, -1)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = np.rint(img @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return np.ascontiguousarray(img)


def estimate_relative_pose(
    image0: NDArray,
    image1: NDArray,
    intrinsics: NDArray,
    *,
    n_features: int = 2000,
    min_matches: int = 15,
    ransac_threshold_px: float = 1.0,
) -> MotionEstimate:
    """Relative camera motion from two images of the same pinhole camera.

    Args:
        image0, image1: ``[3, H, W]`` / ``[H, W, 3]`` rgb or ``[H, W]`` gray, uint8 or float in [0, 1].
        intrinsics: ``[3, 3]`` pinhole matrix (pixels).
        n_features: ORB features per image.
        min_matches: fewer cross-checked matches (or essential-matrix inliers) → ``ok=False``.
        ransac_threshold_px: RANSAC epipolar threshold (pixels).

    Returns:
        :class:`MotionEstimate` (identity / zero when it failed).
    """
    cv2 = _cv2()
    failed = MotionEstimate(np.eye(3), np.zeros(3), 0, False)
    g0, g1 = _gray_u8(image0), _gray_u8(image1)
    orb = cv2.ORB_create(nfeatures=n_features)
    k0, d0 = orb.detectAndCompute(g0, None)
    k1, d1 = orb.detectAndCompute(g1, None)
    if d0 is None or d1 is None or len(k0) < min_matches or len(k1) < min_matches:
        return failed
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d0, d1)
    if len(matches) < min_matches:
        return failed
    p0 = np.float64([k0[m.queryIdx].pt for m in matches])
    p1 = np.float64([k1[m.trainIdx].pt for m in matches])
    Kmat = np.asarray(intrinsics, dtype=np.float64)
    try:  # degenerate matches (e.g. all on one line) make OpenCV's polynomial solver assert: no estimate
        E, mask = cv2.findEssentialMat(p0, p1, Kmat, method=cv2.RANSAC, prob=0.999, threshold=ransac_threshold_px)
        if E is None or E.shape != (3, 3) or mask is None or int(mask.sum()) < min_matches:
            return failed
        n_in, R, t, _ = cv2.recoverPose(E, p0, p1, Kmat, mask=mask)
    except cv2.error:
        return failed
    if n_in < min_matches:
        return failed
    t = t.reshape(3)
    return MotionEstimate(R.astype(np.float64), t / max(np.linalg.norm(t), 1e-12), int(n_in), True)


@dataclass
class MotionRecoveryResult:
    """Per-candidate motion-recovery features (median over the frame pairs that succeeded).

    Attributes:
        rotation_error_deg: ``[K]`` degrees in [0, 180]; NaN if no pair succeeded.
        translation_dir_error_deg: ``[K]`` degrees in [0, 180]; NaN if no pair succeeded with enough
            commanded translation.
        success_share: ``[K]`` in [0, 1]: pairs where an essential matrix was recovered.
    """

    rotation_error_deg: Tensor
    translation_dir_error_deg: Tensor
    success_share: Tensor


def motion_recovery(
    frames: Tensor,
    relative_motion: Tensor,
    intrinsics: Tensor,
    *,
    cameras: list[int] | None = None,
    min_translation_m: float = 0.05,
    n_features: int = 2000,
    min_matches: int = 15,
    ransac_threshold_px: float = 1.0,
) -> MotionRecoveryResult:
    """Compare the motion recovered from consecutive generated frames with the commanded one.

    Args:
        frames: ``[K, T, C, 3, H, W]`` generated rgb (uint8, or float in [0, 1]).
        relative_motion: ``[K, T-1, C, 4, 4]`` commanded camera-t → camera-(t+1) transforms
            (:func:`scorers.poses.relative_camera_motion`).
        intrinsics: ``[C, 3, 3]`` for the frame size.
        cameras: camera indices to use (default all).
        min_translation_m: pairs whose commanded translation is shorter have no direction error.

    Returns:
        :class:`MotionRecoveryResult`.
    """
    frames = torch.as_tensor(frames)
    if frames.ndim != 6 or frames.shape[3] != 3:
        raise ValueError(f"frames: expected [K, T, C, 3, H, W], got {tuple(frames.shape)}")
    K, T, C = frames.shape[:3]
    rel = torch.as_tensor(relative_motion).double().numpy()
    if rel.shape != (K, T - 1, C, 4, 4):
        raise ValueError(f"relative_motion: expected [{K}, {T - 1}, {C}, 4, 4], got {rel.shape}")
    intr = torch.as_tensor(intrinsics).double().numpy()
    if intr.shape != (C, 3, 3):
        raise ValueError(f"intrinsics: expected [{C}, 3, 3], got {intr.shape}")
    cams = list(range(C)) if cameras is None else list(cameras)
    frames_np = frames.numpy()
    rot = np.full(K, np.nan)
    trans = np.full(K, np.nan)
    share = np.zeros(K)
    for k in range(K):
        r_err, t_err, n_ok, n_all = [], [], 0, 0
        for t in range(T - 1):
            for c in cams:
                n_all += 1
                est = estimate_relative_pose(
                    frames_np[k, t, c],
                    frames_np[k, t + 1, c],
                    intr[c],
                    n_features=n_features,
                    min_matches=min_matches,
                    ransac_threshold_px=ransac_threshold_px,
                )
                if not est.ok:
                    continue
                n_ok += 1
                R_cmd, t_cmd = rel[k, t, c, :3, :3], rel[k, t, c, :3, 3]
                r_err.append(rotation_angle_deg(est.R.T @ R_cmd))
                if np.linalg.norm(t_cmd) >= min_translation_m:
                    t_err.append(direction_angle_deg(est.t, t_cmd))
        share[k] = n_ok / max(n_all, 1)
        if r_err:
            rot[k] = float(np.median(r_err))
        if t_err:
            trans[k] = float(np.median(t_err))
    return MotionRecoveryResult(torch.from_numpy(rot), torch.from_numpy(trans), torch.from_numpy(share))
