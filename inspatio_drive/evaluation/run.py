"""``inspatio-drive evaluate``: a planner with and without the future-consistency term over a split.

Writes into ``eval.output_dir``: ``results.jsonl`` (the crash-safe journal; re-running skips finished
scenes), ``<variant>.csv`` (navsim v1.1 columns first, then ours, last row ``average``),
``results.parquet``, ``summary.csv`` / ``summary.png`` (means with bootstrap CIs, paired differences to
``base``), ``config.yaml``, per-scene artefacts (``artefacts/<token>/``) and the HTML report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inspatio_drive.evaluation.artefacts import write_artefacts
from inspatio_drive.evaluation.report import write_run_report
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.runner import RunStats, run_tasks
from inspatio_drive.evaluation.summary import format_table, plot_summary, summarize
from inspatio_drive.evaluation.task import EvaluateTask, index_metric_caches
from inspatio_drive.evaluation.workers import make_worker

RESULT_KEYS: tuple[tuple[str, ...], ...] = (
    ("data",), ("planner",), ("scorer",), ("eval", "variants"), ("eval", "sensors"), ("eval", "privileged"),
)
"""Config entries that define a run's numbers (worker, progress, outputs and artefacts do not)."""


def _config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted keys under :data:`RESULT_KEYS` whose values differ between two plain configs."""

    def flat(node: Any, prefix: str) -> dict[str, Any]:
        if isinstance(node, Mapping):
            out: dict[str, Any] = {}
            for k, v in node.items():
                out.update(flat(v, f"{prefix}.{k}"))
            return out
        return {prefix: node}

    def pick(cfg: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        node: Any = cfg
        for k in path:
            node = node.get(k) if isinstance(node, Mapping) else None
        return node

    diff = []
    for path in RESULT_KEYS:
        a, b = flat(pick(old, path), ".".join(path)), flat(pick(new, path), ".".join(path))
        diff += [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return diff


def check_resume(out: Path, plain: Mapping[str, Any], on_change: str) -> None:
    """A run folder with results is resumed only with the configuration that made them.

    ``on_change``: ``error`` (default) — stop, naming the differing keys; ``restart`` — move the old
    ``results.jsonl`` aside (``results.<n>.jsonl.old``, nothing deleted) and start afresh; ``keep`` — resume anyway
    (rows of both configurations end up in one table)."""
    if on_change not in ("error", "restart", "keep"):
        raise ValueError(f"eval.on_config_change: expected error | restart | keep, got {on_change!r}")
    journal, stored = out / "results.jsonl", out / "config.yaml"
    if not (journal.is_file() and journal.stat().st_size and stored.is_file()) or on_change == "keep":
        return
    old = OmegaConf.to_container(OmegaConf.load(stored), resolve=True)
    diff = _config_diff(old if isinstance(old, Mapping) else {}, plain)
    if not diff:
        return
    if on_change == "error":
        shown = ", ".join(diff[:8]) + (f" (+{len(diff) - 8} more)" if len(diff) > 8 else "")
        raise ValueError(
            f"{out}: holds results of a different configuration ({shown} differ from {stored}); "
            "use another eval.output_dir, or eval.on_config_change=restart (moves the old results aside) / keep"
        )
    n = 0
    while (out / f"results.{n}.jsonl.old").exists():
        n += 1
    journal.rename(out / f"results.{n}.jsonl.old")


def run_evaluation(cfg: Any) -> dict[str, Any]:
    """Run the composed ``evaluate`` config; returns paths and figures (also printed by :func:`main`)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    out = Path(plain["eval"]["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    check_resume(out, plain, str(plain["eval"].get("on_config_change") or "error"))
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
    if plain["eval"].get("metric_cache_dir"):
        index_metric_caches(plain["eval"]["metric_cache_dir"])
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

        valid = [t for t in tokens if t in store.finished_tokens(task.variants)]
        result["artefacts"] = write_artefacts(task, valid[:n_art], out / "artefacts", plain)
    if plain["eval"].get("report", True):

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
