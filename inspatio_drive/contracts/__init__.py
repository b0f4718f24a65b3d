"""Layer 0 — contracts and vocabulary that every other layer speaks; imports nothing of the project.

- :class:`Candidates`: ``[K, 8, 3]`` trajectories (+ sub-score logits, features) — :mod:`.candidates`;
- :class:`FCOutput` / :class:`FutureConsistency`: the future-consistency contract — :mod:`.future_consistency`;
- :data:`SUBSCORE_NAMES` and the other sub-score names — :mod:`.subscores`;
- :class:`VehicleParameters` / :data:`PACIFICA`: the ego vehicle — :mod:`.vehicle`;
- :class:`InputFormatError` and its subclasses: the documented errors of every reader of a user file — :mod:`.errors`.

Frames: the ego frame is the centre of the rear axle, x forward, y left, z up (ISO 8855); cameras use
OpenCV axes (x right, y down, z forward); the global frame is the map's UTM projection in metres.
"""

from inspatio_drive.contracts.candidates import Candidates
from inspatio_drive.contracts.errors import (
    CandidateFormatError,
    InputFormatError,
    LogFormatError,
    MapFormatError,
    TrajectoryFormatError,
)
from inspatio_drive.contracts.future_consistency import FCOutput, FutureConsistency
from inspatio_drive.contracts.subscores import (
    DRIVOR_HEAD_TO_SUBSCORE,
    METRIC_LABELS,
    NAVSIM_PDM_COLUMNS,
    NAVSIM_TO_SUBSCORE,
    SUBSCORE_NAMES,
    SUBSCORE_TO_NAVSIM,
)
from inspatio_drive.contracts.vehicle import PACIFICA, VehicleParameters

__all__ = [
    "DRIVOR_HEAD_TO_SUBSCORE",
    "METRIC_LABELS",
    "NAVSIM_PDM_COLUMNS",
    "NAVSIM_TO_SUBSCORE",
    "PACIFICA",
    "SUBSCORE_NAMES",
    "SUBSCORE_TO_NAVSIM",
    "CandidateFormatError",
    "Candidates",
    "FCOutput",
    "FutureConsistency",
    "InputFormatError",
    "LogFormatError",
    "MapFormatError",
    "TrajectoryFormatError",
    "VehicleParameters",
]
