"""Geometric future renderer: coloured point clouds from history LiDAR + images, batched z-buffer
splatting of K candidates × T poses × C cameras, dynamic objects, InSpatio-World condition export."""

from inspatio_drive.render.depth_backend import DepthBackend, align_depth, depth_to_points
from inspatio_drive.render.dynamic import (
    DYNAMIC_MODES,
    HONEST_MODES,
    object_motion,
    object_poses,
    points_in_boxes,
    tracks_from_scene,
)
from inspatio_drive.render.point_cloud import build_point_cloud, colorize, voxel_downsample
from inspatio_drive.render.renderer import render_candidates, render_views
from inspatio_drive.render.types import ColoredPoints, ObjectTracks, RenderBatch, RenderCameras

__all__ = [
    "DYNAMIC_MODES",
    "HONEST_MODES",
    "ColoredPoints",
    "DepthBackend",
    "ObjectTracks",
    "RenderBatch",
    "RenderCameras",
    "align_depth",
    "build_point_cloud",
    "colorize",
    "depth_to_points",
    "object_motion",
    "object_poses",
    "points_in_boxes",
    "render_candidates",
    "render_views",
    "tracks_from_scene",
    "voxel_downsample",
]
