"""Small geometry helpers of the metric-cache builder (nuplan conventions, float64 numpy).

Box corners are in nuplan ``OrientedBox.all_corners`` order: front-left, rear-left, rear-right, front-right.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts import VehicleParameters
from inspatio_drive.geometry.se2 import normalize_angle

__all__ = ["box_corners", "ego_center", "ego_corners", "normalize_angle", "translate_lon_lat"]


def translate_lon_lat(
    xy: ArrayLike, heading: ArrayLike, lon: ArrayLike, lat: ArrayLike
) -> NDArray[np.float64]:
    """Move ``[..., 2]`` points by ``lon`` along ``heading`` and ``lat`` to its left (nuplan's formula)."""
    p = np.asarray(xy, dtype=np.float64)
    h = np.asarray(heading, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    half_pi = np.pi / 2.0
    dx = lat * np.cos(h + half_pi) + lon * np.cos(h)
    dy = lat * np.sin(h + half_pi) + lon * np.sin(h)
    return p + np.stack([dx, dy], axis=-1)


def box_corners(
    center: ArrayLike, heading: ArrayLike, length: ArrayLike, width: ArrayLike
) -> NDArray[np.float64]:
    """``[..., 2]`` centres, ``[...]`` headings / sizes → ``[..., 4, 2]`` corners (FL, RL, RR, FR)."""
    c = np.asarray(center, dtype=np.float64)
    h = np.asarray(heading, dtype=np.float64)
    hl = np.asarray(length, dtype=np.float64) / 2.0
    hw = np.asarray(width, dtype=np.float64) / 2.0
    cos, sin = np.cos(h), np.sin(h)
    cos_l, sin_l = np.cos(h + np.pi / 2.0), np.sin(h + np.pi / 2.0)
    lon = np.array([1.0, -1.0, -1.0, 1.0])
    lat = np.array([1.0, 1.0, -1.0, -1.0])
    a = lat * hw[..., None] if np.ndim(hw) else lat * hw  # [..., 4]
    b = lon * hl[..., None] if np.ndim(hl) else lon * hl
    dx = a * cos_l[..., None] + b * cos[..., None]
    dy = a * sin_l[..., None] + b * sin[..., None]
    return c[..., None, :] + np.stack([dx, dy], axis=-1)


def ego_center(pose: ArrayLike, vehicle: VehicleParameters) -> NDArray[np.float64]:
    """``[..., 3]`` rear-axle poses → ``[..., 2]`` box centres (nuplan ``translate_longitudinally``)."""
    p = np.asarray(pose, dtype=np.float64)
    d = vehicle.rear_axle_to_center
    return np.stack([p[..., 0] + d * np.cos(p[..., 2]), p[..., 1] + d * np.sin(p[..., 2])], axis=-1)


def ego_corners(pose: ArrayLike, vehicle: VehicleParameters) -> NDArray[np.float64]:
    """``[..., 3]`` rear-axle poses → ``[..., 4, 2]`` ego box corners (FL, RL, RR, FR)."""
    p = np.asarray(pose, dtype=np.float64)
    h = p[..., 2]
    d = vehicle.rear_axle_to_center
    cos, sin = np.cos(h), np.sin(h)
    cx, cy = p[..., 0] + d * cos, p[..., 1] + d * sin
    cos_l, sin_l = np.cos(h + np.pi / 2.0), np.sin(h + np.pi / 2.0)
    hl, hw = vehicle.length / 2.0, vehicle.width / 2.0
    out = np.empty((*h.shape, 4, 2), dtype=np.float64)
    for k, (s_lon, s_lat) in enumerate(((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))):
        a, b = s_lat * hw, s_lon * hl
        out[..., k, 0] = cx + (a * cos_l + b * cos)
        out[..., k, 1] = cy + (a * sin_l + b * sin)
    return out
