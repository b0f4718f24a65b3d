"""``inspatio-drive demo`` (``make demo``): the main job on the bundled sandbox sample.

The trajectory-vocabulary planner's 64 candidates per scene, every one rendered geometrically and PDM-scored
(NAVSIM v1.1), selected five ways next to the oracle:

* ``rule``, ``rule+FC``, ``FC alone`` — the honest rule scorer without / with the post-hoc future-consistency
  term (the FC head trained by ``inspatio-drive study``, its validation ``w_fc``), and FC alone;
* ``learned``, ``learned+FC`` — the learned DrivoR-form scorer trained by the study's ablation step without FC
  inputs (``fc=none``) and with the FC features of every candidate as inputs (``fc=features``);
* ``oracle@K`` — the best candidate by the true PDMS (privileged).

Three ``evaluate`` runs (:func:`demo_runs`): the rule run (plots, one video per shown scene, the HTML report) and
one run per learned scorer under ``<output_dir>/learned`` and ``<output_dir>/learned_fc``; then one table and one
plot of all six (``demo_table.txt``, ``demo_summary.csv``, ``demo.png`` in the rule run's folder). Any evaluate
override can be appended and applies to every run, e.g. ``inspatio-drive demo worker=process_pool
eval.output_dir=runs/demo2``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from inspatio_drive.assets import (
    FC_HEAD_SANDBOX,
    SCORER_LEARNED_FC_SANDBOX,
    SCORER_LEARNED_SANDBOX,
    VOCAB_SANDBOX,
)
from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.commands.evaluate import exit_status
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.run import print_result, run_evaluation
from inspatio_drive.evaluation.summary import format_table, plot_summary, summarize
from planners.scoring.drivor_form import PLANNER_SELECTION, load_scorer
from scorers.head import load_head

VOCAB, FC_HEAD = VOCAB_SANDBOX, FC_HEAD_SANDBOX
LEARNED, LEARNED_FC = SCORER_LEARNED_SANDBOX, SCORER_LEARNED_FC_SANDBOX
NAMES = {"base": "rule", "fc": "rule+FC", "fc_only": "FC alone", "oracle": "oracle@K"}
"""The rule run's variants → their names in the demo table."""
ORDER = ("rule", "rule+FC", "FC alone", "learned", "learned+FC", "oracle@K")


def chosen_w_fc() -> float:
    """``w_fc`` chosen on the study's validation split, stored in the FC head's metadata (1.0 if absent)."""

    _, info = load_head(FC_HEAD)
    w = info.get("extra", {}).get("w_fc")
    return 1.0 if w is None else float(w)


def _common() -> list[str]:
    return ["data=sample", "planner=vocabulary", f"planner.vocabulary={VOCAB}",
            "eval.on_config_change=restart"]  # a demo folder from another version / config starts afresh


def demo_overrides(output_dir: str = "runs/demo") -> list[str]:
    """The evaluate overrides of the rule run (``w_fc`` from the head's validation choice)."""
    return [
        *_common(),
        "planner/selection=v1_comfort",  # the selection the shipped head's w_fc was chosen with (configs/study.yaml)
        "+scorer=geometric_fc",
        f"scorer.model.head={FC_HEAD}",
        f"scorer.w_fc={chosen_w_fc()}",
        f"eval.output_dir={output_dir}",
        "eval.artefacts=2",
        "eval.report=true",
    ]


def learned_overrides(checkpoint: Path, output_dir: str) -> list[str]:
    """The evaluate overrides of a learned-scorer run: the vocabulary planner scored by the DrivoR-form checkpoint
    (its FC inputs, if any, computed inside the scorer by ``GeometricFC`` with ``configs/scorer/geometric_fc.yaml``,
    the settings the study computed them with), selected with the preset of its targets, variant ``base`` only."""
    model, _ = load_scorer(checkpoint)
    return [*_common(), f"planner/selection={PLANNER_SELECTION[str(model.config.selection)]}",
            "planner.scorer=drivor_form", f"planner.head={checkpoint}", *_learned_fixed(output_dir)]


def _learned_fixed(output_dir: str) -> list[str]:
    """What a learned run keeps whatever the user overrides: its folder, variant ``base`` only, no artefacts."""
    return [f"eval.output_dir={output_dir}", "eval.variants=[base]", "eval.artefacts=0", "eval.report=false"]


def demo_runs(output_dir: str = "runs/demo") -> dict[str, list[str]]:
    """``{run name: evaluate overrides}``: ``rule`` (:func:`demo_overrides`), ``learned`` and ``learned+FC``
    (:func:`learned_overrides` of the shipped scorers, under ``<output_dir>/learned`` and ``/learned_fc``)."""
    return {"rule": demo_overrides(output_dir),
            "learned": learned_overrides(LEARNED, f"{output_dir}/learned"),
            "learned+FC": learned_overrides(LEARNED_FC, f"{output_dir}/learned_fc")}


def combined_rows(folders: dict[str, Path]) -> pd.DataFrame:
    """The result rows of the three runs with the demo's variant names (:data:`NAMES`; a learned run's ``base``
    rows are named after the run)."""
    parts = []
    for run, folder in folders.items():
        df = ResultStore(folder).dataframe()
        df["variant"] = df["variant"].map(NAMES) if run == "rule" else df["variant"].map({"base": run})
        parts.append(df[df["variant"].notna()])
    return pd.concat(parts, ignore_index=True)


@handles_user_errors("demo")
def main(overrides: Sequence[str]) -> int:
    missing = [p for p in (VOCAB, FC_HEAD) if not p.is_file()]
    if missing:
        print(f"inspatio-drive demo: missing shipped assets {[str(p) for p in missing]}; "
              "re-create them with `inspatio-drive study report.assets_dir=inspatio_drive/assets` (see README)",
              file=sys.stderr)
        return 2
    no_scorers = [str(p) for p in (LEARNED, LEARNED_FC) if not p.is_file()]
    if no_scorers:  # the rule runs still go; the learned ones need the study's ablation step
        print(f"inspatio-drive demo: learned scorers not shipped ({no_scorers}): only the rule scorer runs; make "
              "them with `inspatio-drive study report.assets_dir=inspatio_drive/assets` (see README)", file=sys.stderr)
    start = time.perf_counter()
    print("inspatio-drive demo: the vocabulary planner's 64 candidates per scene on the bundled sandbox sample "
          "(3 scenes), every candidate rendered and PDM-scored, selected by the rule scorer with / without the "
          "future-consistency term and by the learned DrivoR-form scorer without / with FC inputs\n")
    cfg = compose_command("demo", "evaluate", [*demo_overrides(), *overrides])
    if cfg is None:
        return 2
    out = str(cfg.eval.output_dir)
    result = run_evaluation(cfg)
    print_result(result)
    status = exit_status(result, bool(cfg.eval.fail_on_invalid))
    folders = {"rule": Path(out)}
    learned = [] if no_scorers else list(zip(list(demo_runs(out).items())[1:], ("learned", "learned_fc"), strict=True))
    for (name, run), sub_dir in learned:
        print(f"\ninspatio-drive demo: {name} (learned DrivoR-form scorer) → {out}/{sub_dir}", flush=True)
        sub = compose_command("demo", "evaluate", [*run, *overrides, *_learned_fixed(f"{out}/{sub_dir}")])
        if sub is None:
            return 2
        res = run_evaluation(sub)
        stats = res["stats"]
        print(f"evaluate: {stats.total} scenes in {res.get('wall_s', stats.wall_s):.1f} s", flush=True)
        status = max(status, exit_status(res, bool(sub.eval.fail_on_invalid)))
        folders[name] = Path(sub.eval.output_dir)
    summary = summarize(combined_rows(folders), reference="rule", n_boot=500)
    table = format_table(summary, [v for v in ORDER if v in set(summary["variant"])])
    Path(out, "demo_table.txt").write_text(table + "\n")
    summary.to_csv(Path(out, "demo_summary.csv"), index=False)
    plot = plot_summary(summary, Path(out, "demo.png"),
                        title="demo (bundled sample): rule / learned scorer, without / with FC (NAVSIM v1.1)")
    print(f"\nrule scorer ± post-hoc FC, learned DrivoR-form scorer ± FC inputs, oracle@K (NAVSIM v1.1 PDM score):\n"
          f"{table}\n\ntable: {out}/demo_table.txt, plot: {plot}")
    print(f"\ndemo finished in {time.perf_counter() - start:.0f} s")
    return status
