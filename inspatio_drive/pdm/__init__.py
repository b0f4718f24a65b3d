"""NAVSIM v1.1 PDM score, re-implemented on plain arrays (metric cache, LQR + bicycle simulation, scorer)."""

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.pdm.scorer import PDMResults, PDMScorerConfig, score_candidates
from inspatio_drive.pdm.types import (
    Centerline,
    DrivableAreaMap,
    MapLayer,
    MetricCache,
    Observation,
    StateIndex,
)

__all__ = [
    "PACIFICA",
    "Centerline",
    "DrivableAreaMap",
    "MapLayer",
    "MetricCache",
    "Observation",
    "PDMResults",
    "PDMScorerConfig",
    "StateIndex",
    "VehicleParameters",
    "score_candidates",
]
