"""What every sub-command shares: compose its hydra config, run one library function, turn expected input
errors into one line on stderr and exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from hydra.errors import HydraException
from omegaconf import DictConfig

from inspatio_drive.config import compose

T = TypeVar("T")


def compose_command(command: str, config_name: str, overrides: Sequence[str]) -> DictConfig | None:
    """Compose ``configs/<config_name>.yaml`` with the overrides of ``inspatio-drive <command>``; a bad override
    (misspelt key, wrong type, unknown option: :class:`inspatio_drive.config.ConfigError`) is printed as one
    line on stderr (``inspatio-drive <command>: bad override: <key>: expected ...``) and gives ``None`` (the
    caller exits with 2)."""
    try:
        return compose(config_name, list(overrides))
    except HydraException as exc:
        print(f"inspatio-drive {command}: bad override: {exc}", file=sys.stderr)
        return None


def compose_and_run(
    command: str,
    config_name: str,
    overrides: Sequence[str],
    run: Callable[[DictConfig], T],
    errors: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError),
) -> T | None:
    """Shared body of the sub-command entry points: compose ``configs/<config_name>.yaml`` with the overrides
    (:func:`compose_command`) and call ``run(cfg)``; a bad override or an expected input error is printed as one
    line on stderr (``inspatio-drive <command>: ...``) and gives ``None`` (the caller exits with 2)."""
    cfg = compose_command(command, config_name, overrides)
    if cfg is None:
        return None
    try:
        return run(cfg)
    except errors as exc:
        print(f"inspatio-drive {command}: {exc}", file=sys.stderr)
        return None
