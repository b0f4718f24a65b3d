"""``inspatio-drive build-vocab``: cluster a trajectory vocabulary from the logged ego futures of a split
(configs/build_vocab.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_and_run
from planners.vocabulary import build_vocab_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive build-vocab data.data_root=... data.split=... output=... [k=64 ...]``."""
    return 0 if compose_and_run("build-vocab", "build_vocab", overrides, build_vocab_from_config, (ValueError,)) is not None else 2
