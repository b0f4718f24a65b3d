"""``inspatio-drive evaluate``: a planner with and without the future-consistency term over a split.

Writes into ``eval.output_dir``: ``results.jsonl`` (the crash-safe journal; re-running skips finished
scenes), ``<variant>.csv`` (navsim v1.1 columns first, then ours, last row ``average``),
``results.parquet``, ``summary.csv`` / ``summary.png`` (means with bootstrap CIs, paired differences to
``base``), ``config.yaml``, per-scene artefacts (``artefacts/<token>/``) and the HTML report.

``metric=epdms`` (NAVSIM v2.2): the rows hold the v2 sub-metrics; once the scenes are done, EC and the final
score come from navsim's one-stage aggregation over the whole journal (adjacent scenes of a log, ≤ 0.55 s apart;
:mod:`inspatio_drive.evaluation.epdms`), written as ``<variant>_one_stage.csv`` (navsim's one-stage CSV: token,
valid, 8 sub-metrics, ``two_frame_extended_comfort``, ``score``, last row ``average_all_frames``); the
``<variant>.csv``, Parquet, summary, plot and report then carry the one-stage score too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from inspatio_drive.evaluation.artefacts import write_artefacts
from inspatio_drive.evaluation.epdms import one_stage_tables, with_one_stage
from inspatio_drive.evaluation.report import write_run_report
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.runner import RunStats, failed_rows, run_tasks
from inspatio_drive.evaluation.summary import format_table, plot_summary, summarize
from inspatio_drive.evaluation.task import EvaluateTask, bad_log_token, index_metric_caches
from inspatio_drive.evaluation.workers import make_worker
from inspatio_drive.threads import status_line

RESULT_KEYS: tuple[tuple[str, ...], ...] = (
    ("data",), ("planner",), ("scorer",), ("eval", "variants"), ("eval", "sensors"), ("eval", "privileged"),
    ("metric",), ("traffic",), ("epdms",),
)
"""Config entries that define a run's numbers (worker, progress, outputs and artefacts do not)."""
METRIC_DEFAULTS: dict[str, Any] = {"metric": "pdms", "traffic": "log_replay", "epdms": {"human_filter": "v2.2"}}
"""What a run folder made before the ``metric`` knob was scored with (its ``config.yaml`` lacks these keys)."""


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
    old = {**METRIC_DEFAULTS, **old} if isinstance(old, Mapping) else {}
    diff = _config_diff(old, {**METRIC_DEFAULTS, **plain})
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


STATUS_AFTER_S = 1.0
"""A phase without a progress bar (set-up, artefacts, report) prints its status line once it has run this long."""


@contextmanager
def _status(on: bool, message: str) -> Iterator[None]:
    """A status line on stderr (``evaluate: <message>``) for a phase that lasts longer than
    :data:`STATUS_AFTER_S`; a quick phase (or one that fails at once on a user error) prints nothing."""
    with status_line(on, f"evaluate: {message}", STATUS_AFTER_S):  # the house's one status line (threads.py)
        yield


def run_evaluation(cfg: Any) -> dict[str, Any]:
    """Run the composed ``evaluate`` config; returns paths and figures (also printed by :func:`print_result`).

    A scene or a log that cannot be read does not stop the split: its rows are ``valid=False`` with the reason
    (a log whose index fails gets rows with the token ``log:<log name>``), listed in ``invalid.csv`` and by
    :func:`print_result`; ``result["invalid"]`` holds them (``inspatio-drive evaluate`` then exits with 3 unless
    ``eval.fail_on_invalid=false``)."""
    start = time.perf_counter()
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    show = bool(plain["eval"].get("progress", True))
    out = Path(plain["eval"]["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    check_resume(out, plain, str(plain["eval"].get("on_config_change") or "error"))
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    task = EvaluateTask(plain)
    with _status(show, "indexing the split and loading the planner ..."):
        tokens = task.tokens()
    if plain["eval"].get("max_scenes"):
        tokens = tokens[: int(plain["eval"]["max_scenes"])]
    if not tokens:
        raise ValueError(f"evaluate: no scenes in {plain['data']} after the scene filter")
    store = ResultStore(out)
    bad_logs = [bad_log_token(name) for name in sorted(task.bad_logs)]
    fresh = [t for t in bad_logs if t not in store.finished_tokens(task.variants)]
    for name, reason in sorted(task.bad_logs.items()):
        if bad_log_token(name) in fresh:
            store.append(failed_rows(task, bad_log_token(name), f"log not read: {reason}"))
    stats: RunStats = run_tasks(task, tokens, make_worker(plain["worker"]), store,
                                progress=show, desc="evaluate")
    stats.invalid_rows += len(fresh) * len(task.variants)
    if plain["eval"].get("metric_cache_dir"):
        index_metric_caches(plain["eval"]["metric_cache_dir"], task.metric)
    df = store.dataframe()
    one_stage: dict[str, Path] = {}
    if task.metric == "epdms" and not df.empty:
        with _status(show, "one-stage EPDMS (EC between adjacent scenes) ..."):
            df, one_stage = _one_stage(store, df, out)
    if not df.empty:
        df = df[df["token"].isin([*tokens, *bad_logs])]
    summary = summarize(df)
    summary["random_weights"] = task.random_weights
    summary.to_csv(out / "summary.csv", index=False)
    invalid = invalid_rows(df)
    invalid.to_csv(out / "invalid.csv", index=False)
    result: dict[str, Any] = {"output_dir": str(out), "stats": stats, "summary": summary, "invalid": invalid,
                              "metric": task.metric, "one_stage": one_stage,
                              "random_weights": task.random_weights,
                              "table": format_table(summary, [v for v in ("base", "fc", "fc_only", "oracle")
                                                              if v in set(summary.get("variant", []))])}
    title = f"{task.planner_name}: {_metric_title(task)} with / without FC"
    if task.random_weights:
        title += " (RANDOM WEIGHTS)"
    if not summary.empty and "metric" in summary:
        result["plot"] = plot_summary(summary, out / "summary.png", title=title)
    n_art = int(plain["eval"].get("artefacts") or 0)
    if n_art > 0:
        valid = [t for t in tokens if t in store.finished_tokens(task.variants) and t not in set(invalid["token"])]
        with _status(show, f"writing artefacts (BEV, videos) of {min(n_art, len(valid))} scenes ..."):
            result["artefacts"] = write_artefacts(task, valid[:n_art], out / "artefacts", plain)
    if plain["eval"].get("report", True):
        with _status(show, "writing the HTML report ..."):
            result["report"] = write_run_report(out, title=f"inspatio-drive: {task.planner_name}")
    result["wall_s"] = time.perf_counter() - start
    (out / "run_stats.json").write_text(json.dumps({
        "scenes": stats.total, "skipped_finished": stats.skipped, "ran": stats.ran,
        "invalid_rows": stats.invalid_rows, "invalid_scenes": int(invalid["token"].nunique()),
        "scenes_wall_s": stats.wall_s, "wall_s": result["wall_s"], "scenes_per_s": stats.scenes_per_s,
        "random_weights": task.random_weights}, indent=1))
    return result


def _metric_title(task: EvaluateTask) -> str:
    """``PDM score`` or ``EPDMS (traffic=…, human_filter=…)``."""
    if task.metric == "epdms":
        return f"EPDMS (traffic={task.traffic}, human_filter={task.human_filter})"
    return "PDM score"


def _one_stage(store: ResultStore, df: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, dict[str, Path]]:
    """navsim's one-stage aggregation over the whole journal: ``<variant>_one_stage.csv`` per variant, and the
    exports (``<variant>.csv``, Parquet) rewritten with EC and the one-stage score. Returns those rows."""
    tables = one_stage_tables(df)
    written = {}
    for variant, table in tables.items():
        path = out / f"{variant}_one_stage.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        table.to_csv(tmp)
        tmp.replace(path)
        written[variant] = path
    final = with_one_stage(df, tables)
    store.export(final)
    return final, written


def invalid_rows(df: Any) -> pd.DataFrame:
    """``token, variants, error`` of every scene (or unreadable log, ``log:<name>``) with ``valid=False`` rows."""
    if df.empty or "valid" not in df:
        return pd.DataFrame(columns=["token", "variants", "error"])
    bad = df[~df["valid"].astype(bool)]
    rows = [{"token": token, "variants": " ".join(sorted(map(str, part["variant"]))),
             "error": str(next((e for e in part.get("error", []) if e), "invalid"))}
            for token, part in bad.groupby("token", sort=True)]
    return pd.DataFrame(rows, columns=["token", "variants", "error"])


def print_result(result: dict[str, Any], max_invalid: int = 10) -> None:
    """The closing summary: counts, wall time of the whole command, the table, invalid scenes with reasons."""
    stats: RunStats = result["stats"]
    invalid = result.get("invalid")
    n_invalid = 0 if invalid is None else len(invalid)
    print(f"\nevaluate: {stats.total} scenes ({stats.skipped} already finished, {stats.ran} run, "
          f"{n_invalid} invalid) in {result.get('wall_s', stats.wall_s):.1f} s "
          f"(whole command; scenes {stats.wall_s:.1f} s)")
    if result.get("random_weights"):
        print("WARNING: the planner ran on RANDOM WEIGHTS (planner.random_weights=true): these numbers say "
              "nothing about the trained planner")
    print(result["table"])
    if n_invalid:
        print(f"\ninvalid  : {n_invalid} scenes / logs with valid=False rows (not in the means above):")
        for _, row in invalid.head(max_invalid).iterrows():
            print(f"  {row['token']}: {row['error']}")
        if n_invalid > max_invalid:
            print(f"  ... and {n_invalid - max_invalid} more")
        print(f"  all of them: {result['output_dir']}/invalid.csv")
    print(f"\nresults  : {result['output_dir']}  (navsim CSV per variant, results.parquet, summary.csv)")
    for variant, path in result.get("one_stage", {}).items():
        print(f"one-stage: {path}  (navsim v2.2 one-stage EPDMS CSV, {variant})")
    if "plot" in result:
        print(f"plot     : {result['plot']}")
    for video in result.get("artefacts", {}).get("videos", []):
        print(f"video    : {video}")
    if "report" in result:
        print(f"report   : {result['report']}  (open in a browser)")
