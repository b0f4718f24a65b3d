"""NAVSIM v1.1 PDM score, re-implemented on plain arrays (metric cache, LQR + bicycle simulation, scorer)."""

from inspatio_drive.pdm.types import (
    PACIFICA,
    Centerline,
    DrivableAreaMap,
    MapLayer,
    MetricCache,
    Observation,
    StateIndex,
    VehicleParameters,
)

__all__ = [
    "PACIFICA",
    "Centerline",
    "DrivableAreaMap",
    "MapLayer",
    "MetricCache",
    "Observation",
    "StateIndex",
    "VehicleParameters",
]
