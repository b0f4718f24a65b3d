"""``inspatio-drive train-scorer``: train the learned DrivoR-form scorer on an FC dataset (configs/train_scorer.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_and_run
from planners.scoring.train_drivor_form import train_scorer_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive train-scorer dataset=… fc=none|features|features+head output_dir=… [seed=0 …]``."""
    return 0 if compose_and_run("train-scorer", "train_scorer", overrides, train_scorer_from_config,
                                (ValueError, KeyError)) is not None else 2
