"""Data layer: OpenScene / NAVSIM logs, sensors, scenes, and nuPlan GPKG maps (no navsim needed)."""

from inspatio_drive.data.types import (
    CAMERA_NAMES,
    AgentInput,
    Annotations,
    Camera,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
)

__all__ = [
    "CAMERA_NAMES",
    "AgentInput",
    "Annotations",
    "Camera",
    "EgoStatus",
    "Frame",
    "Lidar",
    "Scene",
    "SceneMetadata",
]
