"""Data layer: OpenScene / NAVSIM logs, sensors, scenes (no navsim or nuplan-devkit needed).

Public entry points: :func:`read_log` (log pickle → typed frames), :class:`SceneLoader` (split →
scenes / agent inputs, navsim semantics; with ``include_synthetic_scenes`` also navsim v2's synthetic scene pickles,
:func:`read_synthetic_scene`), :class:`SceneFilter`, :class:`SensorConfig`, navsim's named splits
(:func:`navsim_split`), candidate files (:func:`read_candidates`), PCD reader/writer, OpenScene writers (:mod:`inspatio_drive.data.writers`), and
:func:`scene_loader_from_config`: the one loader builder from a ``data`` node (schema :class:`DataConfig`). nuPlan maps:
``inspatio_drive.maps.load_map``.
"""

import os
from typing import Any

from inspatio_drive.data.candidates import CandidateFile, read_candidates
from inspatio_drive.data.filters import SceneFilter, SensorConfig
from inspatio_drive.data.loader import SceneLoader, SceneRef, scene_loader_from_config
from inspatio_drive.data.log_reader import (
    LogFormatError,
    frame_from_dict,
    global_ego_pose,
    read_log,
    read_raw_log,
)
from inspatio_drive.data.pcd import PCDError, parse_pcd, read_pcd, write_pcd
from inspatio_drive.data.roots import DataConfig, resolve_data_paths
from inspatio_drive.data.safe_pickle import (
    CorruptPickleError,
    SafeUnpickler,
    UnsafePickleError,
    safe_load,
    safe_loads,
)
from inspatio_drive.data.sensors import SensorError, SensorTimer, load_image, load_lidar
from inspatio_drive.data.splits import NavsimSplit, available_splits, navsim_split
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
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
    TrackedObjects,
    TrafficLightStatus,
    TrafficLightStatusType,
    navsim_absolute_to_relative,
)
from inspatio_drive.maps import load_map as _load_map


def load_map(maps_root: str | os.PathLike[str], location: str, version: str | None = None) -> Any:
    """nuPlan GPKG map of ``location`` under ``maps_root`` (``<location>/<version>/map.gpkg``): the same as
    ``inspatio_drive.maps.load_map``, which the maps room owns; imported lazily."""

    return _load_map(maps_root, location, version)


__all__ = [
    "CAMERA_NAMES",
    "LIDAR_FIELDS",
    "NAVSIM_INTERVAL_LENGTH",
    "AgentInput",
    "Annotations",
    "Camera",
    "CandidateFile",
    "CorruptPickleError",
    "DataConfig",
    "EgoStatus",
    "Frame",
    "Lidar",
    "LogFormatError",
    "NavsimSplit",
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
    "TrackedObjects",
    "TrafficLightStatus",
    "TrafficLightStatusType",
    "UnsafePickleError",
    "available_splits",
    "frame_from_dict",
    "global_ego_pose",
    "load_image",
    "load_lidar",
    "load_map",
    "navsim_absolute_to_relative",
    "navsim_split",
    "parse_pcd",
    "read_candidates",
    "read_log",
    "read_pcd",
    "read_raw_log",
    "read_synthetic_scene",
    "resolve_data_paths",
    "safe_load",
    "safe_loads",
    "scene_loader_from_config",
    "write_pcd",
]
