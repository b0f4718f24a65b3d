"""What every sub-command shares: compose its hydra config, run one library function, turn user errors into one
line on stderr and exit status 2.

The error contract of ``inspatio-drive <command>`` (docs/evaluation.md, "Exit status"):

* exit 0 — done;
* exit 2 — a *user error*: a bad override (misspelt key, wrong type, unknown option, missing mandatory value),
  a missing or unreadable file, folder or environment variable, a file in the wrong format. One line on stderr,
  ``inspatio-drive <command>: <what>: <where> ... expected ...``, no traceback (``--debug`` adds it);
* exit 3 — ``evaluate`` / ``demo`` finished but some rows are ``valid=False`` (``eval.fail_on_invalid``);
* anything else (a traceback, exit 1) — a bug: please report it.

User errors are the exception types listed in :data:`USER_ERRORS` (one list; extend it when a room documents a
new input-error type).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig

from inspatio_drive.config import ConfigError, SettingError, compose

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2
"""Exit status of a user error (one line on stderr)."""

EXIT_INVALID_ROWS = 3
"""Exit status of an evaluation that finished with ``valid=False`` rows (``eval.fail_on_invalid=true``)."""

USER_ERRORS: list[str] = [
    "inspatio_drive.config:ConfigError",  # a config that does not compose (bad / misspelt / mistyped override)
    "omegaconf.errors:MissingMandatoryValue",  # a ``???`` knob not given (report run_dir=..., pdm-score candidates=...)
    "omegaconf.errors:InterpolationResolutionError",  # e.g. ``${oc.env:VAR}`` of an unset variable
    "builtins:FileNotFoundError",  # a file / folder / data root that is not there
    "builtins:NotADirectoryError",
    "builtins:IsADirectoryError",
    "builtins:ValueError",  # the house's input error: documented readers' errors below subclass it
    "inspatio_drive.contracts.errors:InputFormatError",  # a file a user gave that is not what its reader expects:
    # LogFormatError, MapFormatError, CandidateFormatError, TrajectoryFormatError (and the errors below that
    # subclass it: PCDError, SensorError, UnsafePickleError, CorruptPickleError)
    "inspatio_drive.data.pcd:PCDError",  # a LiDAR file that is not a PCD
    "inspatio_drive.data.safe_pickle:UnsafePickleError",  # a pickle that would run code
    "inspatio_drive.data.sensors:SensorError",  # a missing / corrupt sensor file
    "inspatio_drive.pdm.cache.storage:MissingCacheEntriesError",  # tokens absent from a metric-cache store
    "inspatio_drive.pdm.navsim_backend:NavsimNotAvailableError",  # backend=navsim without navsim installed
    "planners.drivor.checkpoint:CheckpointError",  # a checkpoint that does not fit the model
]
"""``module:Class`` of every documented user-error type (exit 2, one line). A type is looked up only when its
module is already imported (an error cannot come from a module that was never loaded), so this list costs no
import time. Subclasses count: ``ValueError`` covers ``LogFormatError``, ``PCDError``, ``ConfigError``."""

_debug = False


def set_debug(on: bool) -> None:
    """``--debug``: user errors also print their traceback (the exit status stays 2)."""
    global _debug
    _debug = bool(on)


def user_error_types(extra: Sequence[type[BaseException]] = ()) -> tuple[type[BaseException], ...]:
    """The classes of :data:`USER_ERRORS` whose modules are loaded, plus ``extra``."""
    out: list[type[BaseException]] = []
    for entry in USER_ERRORS:
        module, _, name = entry.partition(":")
        mod = sys.modules.get(module)
        if mod is None and module == "builtins":
            mod = importlib.import_module(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            out.append(cls)
    return (*out, *extra)


_ROOT = Path(__file__).resolve().parents[2]
OWN_CODE = tuple(str(_ROOT / name) + os.sep for name in ("inspatio_drive", "planners", "scorers"))
"""Folders of this project's own packages: a plain ``ValueError`` is a user error only when raised there."""


def is_user_error(exc: BaseException, extra: Sequence[type[BaseException]] = ()) -> bool:
    """Whether ``exc`` is a user error (one line, exit 2) rather than a bug (traceback).

    Its type must be in :data:`USER_ERRORS` (or ``extra``). A *plain* ``ValueError`` (not one of the documented
    subclasses such as :class:`~inspatio_drive.contracts.errors.InputFormatError`) counts only when this project
    raised it on purpose, i.e. its innermost traceback frame is in the project's own code: a ``ValueError`` from
    inside numpy, pandas, shapely, torch … is a bug and keeps its traceback.
    """
    if not isinstance(exc, user_error_types(extra)):
        return False
    if type(exc) is not ValueError or ValueError in extra:
        return True
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(OWN_CODE)


def user_error_message(exc: BaseException) -> str:
    """One line for a user error: what, where, what was expected (the exception's own text, lines joined)."""
    if isinstance(exc, ConfigError) and not isinstance(exc, SettingError):
        return f"bad override: {_join(str(exc))}"
    full_key = getattr(exc, "full_key", None)
    if full_key and type(exc).__module__.startswith("omegaconf"):
        msg = getattr(exc, "msg", None) or str(exc)
        if type(exc).__name__ == "MissingMandatoryValue":
            return f"{full_key}: missing mandatory value; give it on the command line ({full_key}=...)"
        first = str(msg).strip().splitlines()[0] if str(msg).strip() else type(exc).__name__
        env = re.search(r"Environment variable '([^']+)' not found", first)
        if env:
            return (f"{full_key}: environment variable {env.group(1)} is not set; expected it set, "
                    f"or {full_key}=<value>")
        return f"{full_key}: {first}"
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # str(KeyError) would quote it
    else:
        text = str(exc) or type(exc).__name__
    return _join(text)


def _join(text: str) -> str:
    return "; ".join(ln.strip() for ln in str(text).splitlines() if ln.strip())


def report_user_error(command: str, exc: BaseException) -> int:
    """Print a user error as one line on stderr (with its traceback first under ``--debug``); returns 2."""
    if _debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    print(f"inspatio-drive {command}: {user_error_message(exc)}", file=sys.stderr)
    return EXIT_USER_ERROR


def handles_user_errors(command: str, extra: Sequence[type[BaseException]] = ()) -> Callable[[F], F]:
    """Decorator of a command entry point ``main(overrides) -> int``: a user error (:data:`USER_ERRORS` plus
    ``extra``) raised inside it is printed as one line and gives 2, whether ``main`` is called by the
    ``inspatio-drive`` dispatcher or directly (tests, scripts)."""

    def wrap(main: F) -> F:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return main(*args, **kwargs)
            except Exception as exc:
                if is_user_error(exc, extra):
                    return report_user_error(command, exc)
                raise

        return run  # type: ignore[return-value]

    return wrap


def compose_command(command: str, config_name: str, overrides: Sequence[str]) -> DictConfig | None:
    """Compose ``configs/<config_name>.yaml`` with the overrides of ``inspatio-drive <command>``; a bad override
    (misspelt key, wrong type, unknown option: :class:`inspatio_drive.config.ConfigError`) is printed as one
    line on stderr (``inspatio-drive <command>: bad override: <key>: expected ...``) and gives ``None`` (the
    caller exits with 2)."""
    try:
        return compose(config_name, list(overrides))
    except ConfigError as exc:
        report_user_error(command, exc)
        return None


def compose_and_run(
    command: str,
    config_name: str,
    overrides: Sequence[str],
    run: Callable[[DictConfig], T],
    errors: tuple[type[BaseException], ...] = (),
) -> T | None:
    """Shared body of the sub-command entry points: compose ``configs/<config_name>.yaml`` with the overrides
    (:func:`compose_command`) and call ``run(cfg)``; a bad override or a user error (:data:`USER_ERRORS`, plus the
    command's own ``errors``) is printed as one line on stderr (``inspatio-drive <command>: ...``) and gives
    ``None`` (the caller exits with 2)."""
    cfg = compose_command(command, config_name, overrides)
    if cfg is None:
        return None
    try:
        return run(cfg)
    except Exception as exc:
        if is_user_error(exc, errors):
            report_user_error(command, exc)
            return None
        raise
