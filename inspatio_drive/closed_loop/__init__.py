"""Closed-loop world-model simulation and counterfactual scene export (``inspatio-drive closed-loop``)."""

from inspatio_drive.closed_loop.observers import LidarWorldObserver, world_points
from inspatio_drive.closed_loop.rollout import RolloutResult, StepRecord, driving_command, rollout

__all__ = ["LidarWorldObserver", "RolloutResult", "StepRecord", "driving_command", "rollout", "world_points"]
