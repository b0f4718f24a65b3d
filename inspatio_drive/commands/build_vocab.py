"""``inspatio-drive build-vocab``: cluster a trajectory vocabulary from the logged ego futures of a split
(configs/build_vocab.yaml)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from inspatio_drive.config import compose
from planners.vocabulary import build_vocab_from_config


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive build-vocab data_root=... split=... output=... [k=64 ...]``."""
    cfg = compose("build_vocab", overrides)
    try:
        build_vocab_from_config(cfg)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
