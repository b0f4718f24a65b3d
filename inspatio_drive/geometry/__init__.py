"""Geometry: SE(2)/SE(3), ego → camera poses, pose interpolation, InSpatio-World trajectory files.

Conventions: ego frame = rear axle, x forward, y left, z up; cameras = OpenCV (x right, y down,
z forward); poses are ``(x, y, heading)`` in metres / radians; 4×4 matrices map child → parent
(``T_parent_child @ p_child = p_parent``).
"""

from inspatio_drive.geometry.se2 import (
    absolute_to_relative_se2,
    relative_to_absolute_se2,
    se2_to_matrix,
    wrap_angle,
)

__all__ = ["absolute_to_relative_se2", "relative_to_absolute_se2", "se2_to_matrix", "wrap_angle"]
