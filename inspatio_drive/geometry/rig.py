"""A nuPlan-like 8-camera rig (CAM_F0 … CAM_B0) for tests, benchmarks and procedural scenes.

The numbers mirror the layout of the nuPlan / OpenScene rig (1920×1080 images, f ≈ 1545 px, principal
point (960, 560), cameras ≈ 1.5 m above the rear axle, optical axes at 0°, ±55°, ±90°, ±137.5° and 180°
yaw); they are nominal values, not a calibration of any real vehicle.

Conventions: ``T_ego_cam`` maps camera (OpenCV: x right, y down, z forward) → ego (rear axle, x forward,
y left, z up); intrinsics are in pixels of an image of the requested size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.geometry.intrinsics import NAVSIM_IMAGE_SIZE

NUPLAN_FOCAL: float = 1545.0
NUPLAN_PRINCIPAL_POINT: tuple[float, float] = (960.0, 560.0)

# name -> (yaw of the optical axis in the ego frame [deg], camera position in the ego frame [m])
_LAYOUT: dict[str, tuple[float, tuple[float, float, float]]] = {
    "CAM_F0": (0.0, (1.7, 0.0, 1.5)),
    "CAM_L0": (54.4, (1.6, 0.5, 1.5)),
    "CAM_L1": (90.0, (1.0, 0.9, 1.5)),
    "CAM_L2": (137.5, (0.0, 0.9, 1.5)),
    "CAM_R0": (-54.4, (1.6, -0.5, 1.5)),
    "CAM_R1": (-90.0, (1.0, -0.9, 1.5)),
    "CAM_R2": (-137.5, (0.0, -0.9, 1.5)),
    "CAM_B0": (180.0, (-1.0, 0.0, 1.6)),
}

# OpenCV camera axes expressed in the ego frame for a camera looking along ego +x:
# x_cam = −y_ego (right), y_cam = −z_ego (down), z_cam = +x_ego (forward).
_CAM_AXES_FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_to_ego_rotation(yaw: float, pitch: float = 0.0) -> NDArray[np.float64]:
    """``[3, 3]`` rotation camera (OpenCV) → ego for an optical axis at ``yaw`` (rad, left positive)
    and ``pitch`` (rad, nose down positive) with zero roll."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])  # positive = tilt the x axis down
    return rz @ ry @ _CAM_AXES_FORWARD


def nuplan_like_intrinsics(
    width: int = NAVSIM_IMAGE_SIZE[0], height: int = NAVSIM_IMAGE_SIZE[1]
) -> NDArray[np.float64]:
    """``[3, 3]`` pinhole matrix of the nuPlan-like rig for an image stretched to ``width × height``
    (fx, cx scale with width / 1920; fy, cy with height / 1080, as NAVSIM / DrivoR do)."""
    sx, sy = width / NAVSIM_IMAGE_SIZE[0], height / NAVSIM_IMAGE_SIZE[1]
    return np.array(
        [
            [NUPLAN_FOCAL * sx, 0.0, NUPLAN_PRINCIPAL_POINT[0] * sx],
            [0.0, NUPLAN_FOCAL * sy, NUPLAN_PRINCIPAL_POINT[1] * sy],
            [0.0, 0.0, 1.0],
        ]
    )


def nuplan_like_rig(
    width: int = NAVSIM_IMAGE_SIZE[0], height: int = NAVSIM_IMAGE_SIZE[1], cameras: tuple[str, ...] | None = None
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """The nuPlan-like rig as ``{name: (K [3, 3], T_ego_cam [4, 4])}``, float64.

    Args:
        width, height: image size the intrinsics refer to.
        cameras: subset / order of camera names (default: all 8 in NAVSIM order).
    """
    names = tuple(_LAYOUT) if cameras is None else cameras
    rig = {}
    for name in names:
        if name not in _LAYOUT:
            raise KeyError(f"unknown camera {name!r}; expected one of {tuple(_LAYOUT)}")
        yaw_deg, position = _LAYOUT[name]
        t = np.eye(4)
        t[:3, :3] = camera_to_ego_rotation(np.deg2rad(yaw_deg))
        t[:3, 3] = position
        rig[name] = (nuplan_like_intrinsics(width, height), t)
    return rig
