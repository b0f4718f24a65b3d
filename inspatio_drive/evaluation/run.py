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

Two-stage (navsim v2.2 ``run_pdm_score.py``): with ``metric=epdms`` on a split that has ``reactive_all_mapping``
(``navhard_two_stage``, or ``data.split_file=<second-stage output>/split.yaml``) and ``eval.two_stage=auto``, the
stage-one scenes and their synthetic follow-ups are scored (reactive traffic in both stages, as navsim: ``traffic``
must be ``reactive``) and aggregated by :func:`~inspatio_drive.pdm.v2.two_stage.two_stage_rows` into
``<variant>_two_stage.csv`` (navsim's two-stage CSV: per-scene rows with ``<c>_stage_one`` / ``<c>_stage_two`` columns,
then the rows ``extended_pdm_score_stage_one`` / ``_stage_two`` / ``_combined``), beside ``<variant>_one_stage.csv``.
The summary then averages the stage-one scenes and adds the rows ``EPDMS stage-one`` / ``EPDMS stage-two`` /
``EPDMS two-stage``; its ``epdms_stages`` column says which evaluation ran (a split without a mapping: one-stage,
and the run says so — navsim's script fails there with an ``UnboundLocalError``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from inspatio_drive.data.roots import DataConfig
from inspatio_drive.evaluation.artefacts import write_artefacts
from inspatio_drive.evaluation.epdms import (
    TWO_STAGE_COLUMNS,
    one_stage_tables,
    two_stage_tables,
    with_one_stage,
)
from inspatio_drive.evaluation.report import write_run_report
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.runner import RunStats, failed_rows, run_tasks
from inspatio_drive.evaluation.summary import format_table, plot_summary, summarize
from inspatio_drive.evaluation.task import EvaluateTask, bad_log_token, index_metric_caches
from inspatio_drive.evaluation.workers import make_worker
from inspatio_drive.pdm.v2.cache import ORIGINAL, scene_type_of_token
from inspatio_drive.pdm.v2.two_stage import TWO_STAGE_SUMMARY_TOKENS, TwoStageMapping, parse_mappings
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


TWO_STAGE_MODES = ("auto", "off")
STAGE_LABELS = dict(zip(TWO_STAGE_SUMMARY_TOKENS, ("EPDMS stage-one", "EPDMS stage-two", "EPDMS two-stage"),
                        strict=True))
"""Summary ``metric`` of each two-stage summary row."""


def two_stage_plan(plain: Mapping[str, Any]) -> tuple[list[TwoStageMapping] | None, str]:
    """``(mappings, why)``: the split's parsed ``reactive_all_mapping`` when this run is a two-stage EPDMS run, else
    ``None`` and one line saying why it is one-stage (``""`` for a v1.1 PDMS run).

    Raises:
        ValueError: ``eval.two_stage`` is not auto / off, the mapping is malformed, or a two-stage run asks for
            traffic other than ``reactive`` (navsim v2.2 scores both stages with reactive traffic).
    """
    if str(plain.get("metric") or "pdms") != "epdms":
        return None, ""
    mode = str((plain.get("eval") or {}).get("two_stage") or "auto")
    if mode not in TWO_STAGE_MODES:
        raise ValueError(f"eval.two_stage: expected auto | off, got {mode!r}")
    split = DataConfig.from_node(plain["data"]).navsim_split()
    if split is None or not split.reactive_all_mapping:
        name = "this split" if split is None else f"split {split.name!r}"
        return None, f"one-stage EPDMS: {name} has no reactive_all_mapping (no second stage)"
    if mode == "off":
        return None, f"one-stage EPDMS: eval.two_stage=off (split {split.name!r} has a second stage)"
    try:
        mappings = parse_mappings(split.reactive_all_mapping)
    except ValueError as exc:
        raise ValueError(f"{split.path}: {exc}") from None
    traffic = str(plain.get("traffic") or "log_replay")
    if traffic != "reactive":
        raise ValueError(f"split {split.name!r} is two-stage (reactive_all_mapping): navsim v2.2 scores both stages with "
                         f"reactive traffic, got traffic={traffic}; set traffic=reactive, or eval.two_stage=off "
                         "for one-stage EPDMS")
    return mappings, f"two-stage EPDMS: split {split.name!r}, {len(mappings)} mappings, reactive traffic in both stages"


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
    mappings, stages = two_stage_plan(plain)
    if stages and show:
        print(f"evaluate: {stages}", flush=True)
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
    df = raw = store.dataframe()  # raw: with the chosen plans' simulated states (EC of the two-stage pairs)
    one_stage: dict[str, Path] = {}
    if task.metric == "epdms" and not df.empty:
        with _status(show, "one-stage EPDMS (EC between adjacent scenes) ..."):
            df, one_stage = _one_stage(store, df, out)
    if not df.empty:
        df = df[df["token"].isin([*tokens, *bad_logs])]
    two_stage: dict[str, Path] = {}
    stage_rows: list[dict[str, Any]] = []
    incomplete: list[str] = []
    if mappings is not None and not df.empty:
        if not any(scene_type_of_token(t) != ORIGINAL for t in tokens):
            mappings, stages = None, ("one-stage EPDMS: no synthetic scene was loaded (data.scene_filter."
                                      "include_synthetic_scenes=false or no pickles), the second stage is empty")
            if show:
                print(f"evaluate: {stages}", flush=True)
        else:
            with _status(show, "two-stage EPDMS (weighted follow-up scenes) ..."):
                two_stage, stage_rows, incomplete = _two_stage(raw[raw["token"].isin(tokens)], mappings, out)
    summary_df = df
    if mappings is not None and not df.empty:  # the scene means are the stage-one scenes'; the stages are rows
        summary_df = df[df["token"].map(lambda t: scene_type_of_token(str(t)) == ORIGINAL)]
    summary = summarize(summary_df)
    if stage_rows:
        summary = pd.concat([summary, pd.DataFrame(stage_rows)], ignore_index=True)
    if task.metric == "epdms" and not summary.empty:
        summary["epdms_stages"] = "two-stage" if mappings is not None else stages
    summary["random_weights"] = task.random_weights
    summary.to_csv(out / "summary.csv", index=False)
    invalid = invalid_rows(df)
    invalid.to_csv(out / "invalid.csv", index=False)
    result: dict[str, Any] = {"output_dir": str(out), "stats": stats, "summary": summary, "invalid": invalid,
                              "metric": task.metric, "one_stage": one_stage, "two_stage": two_stage,
                              "epdms_stages": stages,
                              "two_stage_incomplete": incomplete,
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


def _two_stage(df: pd.DataFrame, mappings: list[TwoStageMapping],
               out: Path) -> tuple[dict[str, Path], list[dict[str, Any]], list[str]]:
    """navsim's two-stage aggregation per variant: ``<variant>_two_stage.csv``; returns the paths, the summary rows
    (variant, metric = ``EPDMS stage-one`` / ``stage-two`` / ``two-stage``, mean, mappings) and the incomplete
    mappings (missing follow-ups or companions, one line each)."""
    written: dict[str, Path] = {}
    rows: list[dict[str, Any]] = []
    incomplete: list[str] = []
    labels = {c: str(df[c].dropna().iloc[0]) for c in ("metric", "traffic", "human_filter")
              if c in df and df[c].notna().any()}
    for variant, result in two_stage_tables(df, mappings).items():
        table = pd.DataFrame(result.rows)
        extra = [c for c in table.columns if c not in TWO_STAGE_COLUMNS]
        table = table[[*TWO_STAGE_COLUMNS, *extra]]
        path = out / f"{variant}_two_stage.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        table.to_csv(tmp)
        tmp.replace(path)
        written[variant] = path
        used = len({m.orig for m in mappings if m.orig in set(table["token"]) or m.prev in set(table["token"])})
        for row in result.rows[-3:]:
            rows.append({"variant": variant, "metric": STAGE_LABELS[row["token"]], "score_metric": labels.get("metric"),
                         "traffic": labels.get("traffic"), "human_filter": labels.get("human_filter"),
                         "mean": row["score"], "ci_low": math.nan, "ci_high": math.nan, "scenes": used})
        incomplete += [f"{variant}: {line}" for line in result.incomplete]
    return written, rows, incomplete


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
    if result.get("epdms_stages"):
        print(f"stages   : {result['epdms_stages']}")
    summary = result.get("summary")
    if result.get("two_stage") and summary is not None and "metric" in summary:
        part = summary[summary["metric"].isin(tuple(STAGE_LABELS.values()))]
        for variant, rows in part.groupby("variant", sort=True):
            cells = ", ".join(f"{r['metric']} {r['mean']:.4f}" for _, r in rows.iterrows())
            print(f"two-stage: {variant}: {cells} ({int(rows['scenes'].iloc[0])} mappings)")
        for variant, path in result["two_stage"].items():
            print(f"two-stage: {path}  (navsim v2.2 two-stage EPDMS CSV, {variant})")
        for line in result.get("two_stage_incomplete", [])[:5]:
            print(f"  incomplete: {line}")
    if "plot" in result:
        print(f"plot     : {result['plot']}")
    for video in result.get("artefacts", {}).get("videos", []):
        print(f"video    : {video}")
    if "report" in result:
        print(f"report   : {result['report']}  (open in a browser)")
