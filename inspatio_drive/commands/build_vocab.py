"""``inspatio-drive build-vocab``: cluster a trajectory vocabulary from the logged ego futures of a split
(configs/build_vocab.yaml)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from inspatio_drive.commands.base import compose_command
from planners.vocabulary import build_vocab_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive build-vocab data_root=... split=... output=... [k=64 ...]``."""
    cfg = compose_command("build-vocab", "build_vocab", overrides)
    if cfg is None:
        return 2
    try:
        build_vocab_from_config(cfg)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
