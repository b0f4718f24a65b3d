"""``inspatio-drive demo`` (``make demo``): the main job on the bundled sandbox sample.

Evaluates the trajectory-vocabulary planner (honest rule scorer) with and without the future-consistency
term — candidates rendered geometrically along every trajectory, FC features, the FC head trained by
``inspatio-drive study`` — scores every candidate with the NAVSIM v1.1 PDM score, prints the table and writes
the plots, one video per shown scene and the HTML report. Any evaluate override can be appended, e.g.
``inspatio-drive demo worker=process_pool eval.output_dir=runs/demo2``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.commands.evaluate import exit_status
from inspatio_drive.evaluation.run import print_result, run_evaluation
from scorers.head import load_head

ASSETS = Path(__file__).resolve().parents[1] / "assets"
VOCAB = ASSETS / "vocab_sandbox.safetensors"
FC_HEAD = ASSETS / "fc_head_sandbox.safetensors"


def chosen_w_fc() -> float:
    """``w_fc`` chosen on the study's validation split, stored in the FC head's metadata (1.0 if absent)."""

    _, info = load_head(FC_HEAD)
    w = info.get("extra", {}).get("w_fc")
    return 1.0 if w is None else float(w)


def demo_overrides(output_dir: str = "runs/demo") -> list[str]:
    """The evaluate overrides of the demo (``w_fc`` from the head's validation choice)."""
    return [
        "data=sample",
        "planner=vocabulary",
        "planner/selection=v1_comfort",  # the selection the shipped head's w_fc was chosen with (configs/study.yaml)
        f"planner.vocabulary={VOCAB}",
        "+scorer=geometric_fc",
        f"scorer.model.head={FC_HEAD}",
        f"scorer.w_fc={chosen_w_fc()}",
        f"eval.output_dir={output_dir}",
        "eval.artefacts=2",
        "eval.on_config_change=restart",  # a demo folder from another version / config starts afresh
        "eval.report=true",
    ]


@handles_user_errors("demo")
def main(overrides: Sequence[str]) -> int:
    missing = [p for p in (VOCAB, FC_HEAD) if not p.is_file()]
    if missing:
        print(f"inspatio-drive demo: missing shipped assets {[str(p) for p in missing]}; "
              "re-create them with `inspatio-drive study` (see README)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print("inspatio-drive demo: vocabulary planner with / without the future-consistency term on the bundled "
          "sandbox sample (3 scenes, 64 candidates each, every candidate rendered and PDM-scored)\n")
    cfg = compose_command("demo", "evaluate", [*demo_overrides(), *overrides])
    if cfg is None:
        return 2
    result = run_evaluation(cfg)
    print_result(result)
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    return exit_status(result, bool(cfg.eval.fail_on_invalid))
