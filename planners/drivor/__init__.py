"""DrivoR ("Driving on Registers", CVPR 2026): pure-torch port loading the official checkpoints."""

from planners.drivor.checkpoint import CheckpointError, load_state_dict_strict, read_checkpoint
from planners.drivor.features import build_drivor_features
from planners.drivor.model import DRIVOR_HEADS, DrivoRConfig, DrivoRModel
from planners.drivor.planner import DrivoRPlanner, output_to_candidates

__all__ = [
    "DRIVOR_HEADS",
    "CheckpointError",
    "DrivoRConfig",
    "DrivoRModel",
    "DrivoRPlanner",
    "build_drivor_features",
    "load_state_dict_strict",
    "output_to_candidates",
    "read_checkpoint",
]
