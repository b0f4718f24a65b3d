"""``inspatio-drive evaluate``: a planner with and without the future-consistency term over a split
(configs/evaluate.yaml; the run itself is :func:`inspatio_drive.evaluation.run.run_evaluation`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inspatio_drive.commands.base import EXIT_INVALID_ROWS, compose_and_run
from inspatio_drive.evaluation.run import print_result, run_evaluation


def exit_status(result: dict[str, Any], fail_on_invalid: bool) -> int:
    """0, or :data:`~inspatio_drive.commands.base.EXIT_INVALID_ROWS` (3) when some rows are ``valid=False`` and
    ``eval.fail_on_invalid`` is true (a script learns that the means leave scenes out)."""
    return EXIT_INVALID_ROWS if fail_on_invalid and len(result.get("invalid", ())) else 0


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive evaluate [key=value ...]``: exit 0, 2 (user error) or 3 (``valid=False`` rows)."""
    result = compose_and_run("evaluate", "evaluate", overrides,
                             lambda cfg: (run_evaluation(cfg), bool(cfg.eval.fail_on_invalid)))
    if result is None:
        return 2
    print_result(result[0])
    return exit_status(*result)
