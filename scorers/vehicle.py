"""Ego vehicle footprint (nuPlan Chrysler Pacifica, the box NAVSIM's PDM score uses).

The default footprint is derived from :data:`inspatio_drive.contracts.PACIFICA` (nuplan-devkit
``get_pacifica_parameters``: width 2.297 m, front length 4.049 m and rear length 1.127 m measured from the
rear axle, so total length 5.176 m and rear axle → box centre 1.461 m — the same float64 values).
"""

from __future__ import annotations

from dataclasses import dataclass

from inspatio_drive.contracts import PACIFICA as PACIFICA_PARAMETERS


@dataclass(frozen=True)
class Footprint:
    """Rectangular ego footprint in the rear-axle frame (x forward, y left), metres.

    Attributes:
        length: bumper-to-bumper length (m).
        width: body width without mirrors (m).
        rear_axle_to_center: longitudinal offset from the rear axle to the box centre (m, forward > 0).
    """

    length: float = PACIFICA_PARAMETERS.length
    width: float = PACIFICA_PARAMETERS.width
    rear_axle_to_center: float = PACIFICA_PARAMETERS.rear_axle_to_center

    def __post_init__(self) -> None:
        if not (self.length > 0 and self.width > 0):
            raise ValueError(f"footprint length and width must be > 0, got {self.length}, {self.width}")

    @property
    def half_length(self) -> float:
        return 0.5 * self.length

    @property
    def half_width(self) -> float:
        return 0.5 * self.width


PACIFICA = Footprint()
