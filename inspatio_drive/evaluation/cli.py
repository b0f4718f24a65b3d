"""``inspatio-drive evaluate``: a planner with and without the future-consistency term over a split.

Writes into ``eval.output_dir``: ``results.jsonl`` (the crash-safe journal; re-running skips finished
scenes), ``<variant>.csv`` (navsim v1.1 columns first, then ours, last row ``average``),
``results.parquet``, ``summary.csv`` / ``summary.png`` (means with bootstrap CIs, paired differences to
``base``), ``config.yaml``, per-scene artefacts (``artefacts/<token>/``) and the HTML report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.runner import RunStats, run_tasks
from inspatio_drive.evaluation.summary import format_table, plot_summary, summarize
from inspatio_drive.evaluation.task import EvaluateTask
from inspatio_drive.evaluation.workers import make_worker


def run_evaluation(cfg: Any) -> dict[str, Any]:
    """Run the composed ``evaluate`` config; returns paths and figures (also printed by :func:`main`)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    out = Path(plain["eval"]["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    task = EvaluateTask(plain)
    tokens = task.tokens()
    if plain["eval"].get("max_scenes"):
        tokens = tokens[: int(plain["eval"]["max_scenes"])]
    if not tokens:
        raise ValueError(f"evaluate: no scenes in {plain['data']} after the scene filter")
    store = ResultStore(out)
    stats: RunStats = run_tasks(task, tokens, make_worker(plain["worker"]), store,
                                progress=bool(plain["eval"].get("progress", True)), desc="evaluate")
    df = store.dataframe()
    summary = summarize(df[df["token"].isin(tokens)])
    summary.to_csv(out / "summary.csv", index=False)
    result: dict[str, Any] = {"output_dir": str(out), "stats": stats, "summary": summary,
                              "table": format_table(summary, [v for v in ("base", "fc", "fc_only", "oracle")
                                                              if v in set(summary.get("variant", []))])}
    if not summary.empty:
        result["plot"] = plot_summary(summary, out / "summary.png",
                                      title=f"{task.planner_name}: PDM score with / without FC")
    n_art = int(plain["eval"].get("artefacts") or 0)
    if n_art > 0:
        from inspatio_drive.evaluation.artefacts import write_artefacts

        valid = [t for t in tokens if t in store.finished_tokens(task.variants)]
        result["artefacts"] = write_artefacts(task, valid[:n_art], out / "artefacts", plain)
    if plain["eval"].get("report", True):
        from inspatio_drive.evaluation.report import write_run_report

        result["report"] = write_run_report(out, title=f"inspatio-drive: {task.planner_name}")
    (out / "run_stats.json").write_text(json.dumps({
        "scenes": stats.total, "skipped_finished": stats.skipped, "ran": stats.ran,
        "invalid_rows": stats.invalid_rows, "wall_s": stats.wall_s, "scenes_per_s": stats.scenes_per_s}, indent=1))
    return result


def print_result(result: dict[str, Any]) -> None:
    stats: RunStats = result["stats"]
    print(f"\nevaluate: {stats.total} scenes ({stats.skipped} already finished, {stats.ran} run, "
          f"{stats.invalid_rows} invalid rows) in {stats.wall_s:.1f} s")
    print(result["table"])
    print(f"\nresults  : {result['output_dir']}  (navsim CSV per variant, results.parquet, summary.csv)")
    if "plot" in result:
        print(f"plot     : {result['plot']}")
    for video in result.get("artefacts", {}).get("videos", []):
        print(f"video    : {video}")
    if "report" in result:
        print(f"report   : {result['report']}  (open in a browser)")


def main(overrides: Sequence[str]) -> int:
    from inspatio_drive.config import compose_and_run

    result = compose_and_run("evaluate", "evaluate", overrides, run_evaluation)
    if result is None:
        return 2
    print_result(result)
    return 0
