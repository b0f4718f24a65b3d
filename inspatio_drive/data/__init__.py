"""Data layer: OpenScene / NAVSIM logs, sensors, scenes (no navsim or nuplan-devkit needed).

Public entry points: :func:`read_log` (log pickle → typed frames), :class:`SceneLoader` (split →
scenes / agent inputs, navsim semantics), :class:`SceneFilter`, :class:`SensorConfig`, PCD
reader/writer, OpenScene writers (:mod:`inspatio_drive.data.writers`). nuPlan maps:
``inspatio_drive.maps.load_map``.
"""

from inspatio_drive.data.filters import SceneFilter, SensorConfig
from inspatio_drive.data.loader import SceneLoader, SceneRef, loader_from_config
from inspatio_drive.data.log_reader import (
    LogFormatError,
    frame_from_dict,
    global_ego_pose,
    read_log,
    read_raw_log,
)
from inspatio_drive.data.pcd import PCDError, parse_pcd, read_pcd, write_pcd
from inspatio_drive.data.safe_pickle import SafeUnpickler, UnsafePickleError, safe_load, safe_loads
from inspatio_drive.data.sensors import SensorError, SensorTimer, load_image, load_lidar
from inspatio_drive.data.types import (
    CAMERA_NAMES,
    LIDAR_FIELDS,
    NAVSIM_INTERVAL_LENGTH,
    AgentInput,
    Annotations,
    Camera,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
    navsim_absolute_to_relative,
)


def load_map(maps_root, location, *args, **kwargs):  # type: ignore[no-untyped-def]
    """nuPlan GPKG map (``inspatio_drive.maps.load_map``; owned by the maps room, imported lazily)."""
    from inspatio_drive.maps import load_map as _load_map

    return _load_map(maps_root, location, *args, **kwargs)


__all__ = [
    "CAMERA_NAMES",
    "LIDAR_FIELDS",
    "NAVSIM_INTERVAL_LENGTH",
    "AgentInput",
    "Annotations",
    "Camera",
    "EgoStatus",
    "Frame",
    "Lidar",
    "LogFormatError",
    "PCDError",
    "SafeUnpickler",
    "Scene",
    "SceneFilter",
    "SceneLoader",
    "SceneMetadata",
    "SceneRef",
    "SensorConfig",
    "SensorError",
    "SensorTimer",
    "UnsafePickleError",
    "frame_from_dict",
    "global_ego_pose",
    "load_image",
    "load_lidar",
    "load_map",
    "loader_from_config",
    "navsim_absolute_to_relative",
    "parse_pcd",
    "read_log",
    "read_pcd",
    "read_raw_log",
    "safe_load",
    "safe_loads",
    "write_pcd",
]
