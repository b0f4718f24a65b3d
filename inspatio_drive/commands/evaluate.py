"""``inspatio-drive evaluate``: a planner with and without the future-consistency term over a split
(configs/evaluate.yaml; the run itself is :func:`inspatio_drive.evaluation.run.run_evaluation`)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_and_run
from inspatio_drive.evaluation.run import print_result, run_evaluation


def main(overrides: Sequence[str]) -> int:
    result = compose_and_run("evaluate", "evaluate", overrides, run_evaluation)
    if result is None:
        return 2
    print_result(result)
    return 0
