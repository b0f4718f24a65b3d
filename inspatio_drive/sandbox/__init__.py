"""Sandbox world: seeded procedural driving scenes written in OpenScene / nuPlan format, and an oracle
that renders the true camera view (rgb, depth, instance) and LiDAR from any ego pose at any time.

Public API: :func:`generate_scene`, :data:`SCENARIOS`, :class:`Oracle` (``render``, ``render_rig``,
``lidar``), :func:`write_split`, :func:`write_map_gpkg`.
"""

from inspatio_drive.sandbox.gpkg import write_map_gpkg, write_maps_root
from inspatio_drive.sandbox.oracle import CameraModel, LidarModel, Oracle, RenderConfig, View
from inspatio_drive.sandbox.scenarios import SCENARIOS, generate_scene
from inspatio_drive.sandbox.world import World
from inspatio_drive.sandbox.writer import write_split, write_world

__all__ = [
    "SCENARIOS",
    "CameraModel",
    "LidarModel",
    "Oracle",
    "RenderConfig",
    "View",
    "World",
    "generate_scene",
    "write_map_gpkg",
    "write_maps_root",
    "write_split",
    "write_world",
]
