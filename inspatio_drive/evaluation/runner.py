"""Run a per-scene task over many tokens, resumably: finished tokens are skipped, every scene's rows are
journalled as soon as they arrive, a scene that raises is recorded ``valid=False`` with its error."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from inspatio_drive.evaluation.results import PDM_COLUMNS, ResultStore


@runtime_checkable
class SceneTask(Protocol):
    """Work for one scene token, run inside a worker.

    ``variants`` names the rows a token produces (e.g. ``("base", "fc")``). ``setup`` runs once per worker
    process before its first token (load the planner, open the data root...). ``__call__`` returns one row
    per variant: a dict with at least ``token`` and ``variant`` and, for PDM results, the columns of
    :data:`~inspatio_drive.evaluation.results.PDM_COLUMNS`. The task object must be picklable (process
    pool and Ray workers receive a copy).
    """

    variants: Sequence[str]

    def setup(self) -> None: ...

    def __call__(self, token: str) -> list[dict[str, Any]]: ...


def failed_rows(task: SceneTask, token: str, error: str, elapsed_s: float = 0.0) -> list[dict[str, Any]]:
    """The rows recorded for a scene that raised: ``valid=False``, NaN scores (the task's score ``columns`` when it
    names them, else the v1.1 PDM columns) and the task's ``labels`` (which metric), the error text."""
    columns = getattr(task, "columns", PDM_COLUMNS)
    labels = dict(getattr(task, "labels", {}) or {})
    return [
        {"token": token, "variant": v, "valid": False, **dict.fromkeys(columns), **labels, "error": error,
         "time_s": elapsed_s}
        for v in task.variants
    ]


def call_safely(task: SceneTask, token: str) -> list[dict[str, Any]]:
    """Run ``task(token)``; exceptions become failed rows (the run goes on)."""
    start = time.perf_counter()
    try:
        rows = task(token)
    except Exception as exc:  # any scene failure is recorded, never fatal to the run
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return failed_rows(task, token, detail, time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    out = []
    for row in rows:
        full = {"token": token, "valid": True, "error": None, **row}
        full.setdefault("time_s", elapsed)
        out.append(full)
    return out


@dataclass
class RunStats:
    total: int
    skipped: int
    ran: int
    invalid_rows: int
    wall_s: float

    @property
    def scenes_per_s(self) -> float:
        return self.ran / self.wall_s if self.wall_s > 0 else float("nan")


def run_tasks(
    task: SceneTask,
    tokens: Iterable[str],
    worker: Any,
    store: ResultStore,
    *,
    progress: bool = True,
    desc: str = "scenes",
) -> RunStats:
    """Run ``task`` for every token that has no finished row yet, journalling rows as they come.

    Args:
        task: the per-scene work (see :class:`SceneTask`).
        tokens: scene tokens (duplicates are run once).
        worker: a worker from :mod:`inspatio_drive.evaluation.workers` (``map_unordered``).
        store: the run's result journal; CSV / Parquet exports are refreshed at the end.
    """
    ordered = list(dict.fromkeys(tokens))
    done = store.finished_tokens(task.variants)
    todo = [t for t in ordered if t not in done]
    start = time.perf_counter()
    invalid = 0
    with tqdm(total=len(ordered), initial=len(ordered) - len(todo), desc=desc, unit="scene",
              disable=not progress, dynamic_ncols=True) as bar:
        for _token, rows in worker.map_unordered(task, todo):
            store.append(rows)
            invalid += sum(not r["valid"] for r in rows)
            bar.update(1)
    wall = time.perf_counter() - start
    store.export()
    return RunStats(len(ordered), len(ordered) - len(todo), len(todo), invalid, wall)
