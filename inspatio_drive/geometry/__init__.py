"""Geometry: SE(2)/SE(3), ego → camera poses, pose interpolation, InSpatio-World trajectory files.

Conventions: ego frame = rear axle, x forward, y left, z up; cameras = OpenCV (x right, y down,
z forward); poses are ``(x, y, heading)`` in metres / radians; 4×4 matrices map child → parent
(``T_parent_child @ p_child = p_parent``).
"""

from inspatio_drive.geometry.camera_poses import (
    camera_relative_to_source,
    camera_to_ego0,
    ego0_to_camera,
    source_to_camera,
    trajectory_to_ego_poses,
)
from inspatio_drive.geometry.inspatio_io import (
    pose2sphere,
    read_c2w_npy,
    read_tcw_txt,
    read_trajectory_txt,
    sphere2pose,
    trajectory_txt_to_poses,
    write_c2w_npy,
    write_tcw_txt,
    write_trajectory_txt,
)
from inspatio_drive.geometry.interpolation import interpolate_se2, interpolate_se3, interpolate_trajectory
from inspatio_drive.geometry.intrinsics import crop_intrinsics, fit_intrinsics, resize_intrinsics
from inspatio_drive.geometry.rig import nuplan_like_rig
from inspatio_drive.geometry.se2 import (
    absolute_to_relative_se2,
    relative_to_absolute_se2,
    se2_to_matrix,
    wrap_angle,
)
from inspatio_drive.geometry.se3 import invert_se3, se2_to_se3, se3_to_se2, transform_points

__all__ = [
    "absolute_to_relative_se2",
    "camera_relative_to_source",
    "camera_to_ego0",
    "crop_intrinsics",
    "ego0_to_camera",
    "fit_intrinsics",
    "interpolate_se2",
    "interpolate_se3",
    "interpolate_trajectory",
    "invert_se3",
    "nuplan_like_rig",
    "pose2sphere",
    "read_c2w_npy",
    "read_tcw_txt",
    "read_trajectory_txt",
    "relative_to_absolute_se2",
    "resize_intrinsics",
    "se2_to_matrix",
    "se2_to_se3",
    "se3_to_se2",
    "source_to_camera",
    "sphere2pose",
    "trajectory_to_ego_poses",
    "trajectory_txt_to_poses",
    "transform_points",
    "wrap_angle",
    "write_c2w_npy",
    "write_tcw_txt",
    "write_trajectory_txt",
]
