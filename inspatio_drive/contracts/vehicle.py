"""The ego vehicle: box and kinematic parameters (nuPlan ``VehicleParameters``), metres.

The rear-axle frame is the ego frame of every layer (x forward, y left, z up); the box extends
``front_length`` ahead of and ``rear_length`` behind the rear axle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VehicleParameters:
    """Ego box and kinematics (nuplan ``VehicleParameters``); lengths in metres."""

    width: float
    front_length: float  # rear axle -> front bumper
    rear_length: float  # rear axle -> rear bumper
    wheel_base: float
    cog_position_from_rear_axle: float
    height: float | None = None

    @property
    def length(self) -> float:
        return self.front_length + self.rear_length

    @property
    def half_width(self) -> float:
        return self.width / 2.0

    @property
    def half_length(self) -> float:
        return self.length / 2.0

    @property
    def rear_axle_to_center(self) -> float:
        """Distance rear axle -> box centre along the heading (1.461 m for the Pacifica)."""
        return self.half_length - self.rear_length


PACIFICA = VehicleParameters(
    width=1.1485 * 2.0,
    front_length=4.049,
    rear_length=1.127,
    wheel_base=3.089,
    cog_position_from_rear_axle=1.67,
    height=1.777,
)
"""Chrysler Pacifica, nuplan ``get_pacifica_parameters()`` (same float expressions)."""
