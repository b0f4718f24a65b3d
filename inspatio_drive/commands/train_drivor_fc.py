"""``inspatio-drive train-drivor-fc``: FC-input sub-score heads on a frozen DrivoR port (configs/train_drivor_fc.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_and_run
from planners.scoring.train_drivor_fc import train_drivor_fc_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive train-drivor-fc planner.checkpoint=… data.data_root=… [train_split=train val_split=val …]``."""
    return 0 if compose_and_run("train-drivor-fc", "train_drivor_fc", overrides, train_drivor_fc_from_config,
                                (ValueError, KeyError)) is not None else 2
