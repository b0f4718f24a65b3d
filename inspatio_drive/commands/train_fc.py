"""``inspatio-drive train-fc``: train the future-consistency head on an FC dataset (configs/train_fc.yaml, knobs
in configs/scorer/train_fc.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_and_run
from scorers.train import train_fc_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive train-fc dataset=… output_dir=… [seed=0 …]``."""
    return 0 if compose_and_run("train-fc", "train_fc", overrides, train_fc_from_config, (ValueError,)) is not None else 2
