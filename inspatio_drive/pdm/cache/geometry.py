"""Small geometry helpers of the metric-cache builder (nuplan conventions, float64 numpy).

Box corners are in nuplan ``OrientedBox.all_corners`` order: front-left, rear-left, rear-right, front-right.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.pdm.types import VehicleParameters

__all__ = ["box_corners", "ego_center", "ego_corners", "normalize_angle", "translate_lon_lat"]


def normalize_angle(angle: ArrayLike) -> NDArray[np.float64]:
    """Wrap to [−π, π] with ``arctan2(sin, cos)`` (navsim ``normalize_angle``)."""
    a = np.asarray(angle, dtype=np.float64)
    return np.arctan2(np.sin(a), np.cos(a))


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
    signs = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))
    return np.stack([translate_lon_lat(c, h, s_lon * hl, s_lat * hw) for s_lon, s_lat in signs], axis=-2)


def ego_center(pose: ArrayLike, vehicle: VehicleParameters) -> NDArray[np.float64]:
    """``[..., 3]`` rear-axle poses → ``[..., 2]`` box centres (nuplan ``translate_longitudinally``)."""
    p = np.asarray(pose, dtype=np.float64)
    d = vehicle.rear_axle_to_center
    return np.stack([p[..., 0] + d * np.cos(p[..., 2]), p[..., 1] + d * np.sin(p[..., 2])], axis=-1)


def ego_corners(pose: ArrayLike, vehicle: VehicleParameters) -> NDArray[np.float64]:
    """``[..., 3]`` rear-axle poses → ``[..., 4, 2]`` ego box corners (FL, RL, RR, FR)."""
    p = np.asarray(pose, dtype=np.float64)
    return box_corners(ego_center(p, vehicle), p[..., 2], vehicle.length, vehicle.width)
