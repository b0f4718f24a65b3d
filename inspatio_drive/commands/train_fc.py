"""``inspatio-drive train-fc``: train the future-consistency head on an FC dataset (configs/train_fc.yaml, knobs
in configs/scorer/train_fc.yaml)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from inspatio_drive.commands.base import compose_command
from scorers.train import train_fc_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive train-fc dataset=… output_dir=… [seed=0 …]``."""
    cfg = compose_command("train-fc", "train_fc", overrides)
    if cfg is None:
        return 2
    try:
        train_fc_from_config(cfg)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
