"""``inspatio-drive closed-loop`` and ``inspatio-drive counterfactual`` (configs/closed_loop.yaml,
configs/counterfactual.yaml); the runs are in :mod:`inspatio_drive.closed_loop.run`."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.closed_loop.run import run_closed_loop, run_counterfactual
from inspatio_drive.commands.base import compose_and_run


def main(overrides: Sequence[str]) -> int:
    result = compose_and_run("closed-loop", "closed_loop", overrides, run_closed_loop,
                             (FileNotFoundError, ValueError, KeyError))
    if result is None:
        return 2
    print("\nclosed loop vs open loop (sub-scores of the metric named below; drift = imagined vs oracle views, "
          "steps 1..N-1)")
    print(result["markdown"])
    print(f"\ntable    : {result['csv']}")
    print(f"rollouts : {result['output_dir']}/<token>/<variant>/ (steps.jsonl, metrics.csv, rollout.mp4)")
    return 0


def counterfactual_main(overrides: Sequence[str]) -> int:
    result = compose_and_run("counterfactual", "counterfactual", overrides, run_counterfactual,
                             (FileNotFoundError, ValueError, KeyError))
    if result is None:
        return 2
    print(f"\ncounterfactual: {len(result['pickles'])} synthetic scenes in {result['output_dir']} "
          f"(manifest {result['manifest']})")
    return 0
