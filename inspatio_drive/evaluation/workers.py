"""Workers that map a :class:`~inspatio_drive.evaluation.runner.SceneTask` over tokens, yielding
``(token, rows)`` as scenes finish (unordered).

* :class:`SequentialWorker` — in this process.
* :class:`ProcessPoolWorker` — a local pool of ``spawn``-ed processes (safe with torch). A worker process
  that dies (killed, out of memory, segfault) loses only the scenes it had in flight: the pool is rebuilt
  and those scenes are retried up to ``max_retries`` times, then recorded ``valid=False``.
* :class:`RayWorker` — Ray actors, on a local Ray started for the run or an existing cluster
  (``address="auto"`` after ``ray start --head``); dead actors are replaced and their scene retried.

At most ``2 × workers`` scenes are in flight, so memory stays bounded on long splits.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from inspatio_drive.evaluation.runner import SceneTask, call_safely, failed_rows
from inspatio_drive.threads import limit_threads

Rows = list[dict[str, Any]]


class SequentialWorker:
    """Runs every scene in the calling process."""

    def map_unordered(self, task: SceneTask, tokens: Sequence[str]) -> Iterator[tuple[str, Rows]]:
        if tokens:
            task.setup()
        for token in tokens:
            yield token, call_safely(task, token)


_WORKER_TASK: SceneTask | None = None


def _init_process(task: SceneTask, threads: int | None = None) -> None:
    global _WORKER_TASK
    if threads:
        limit_threads(threads)
    task.setup()
    _WORKER_TASK = task


def _call_in_process(token: str) -> Rows:
    assert _WORKER_TASK is not None, "worker process was not initialised"
    return call_safely(_WORKER_TASK, token)


class ProcessPoolWorker:
    """Local process pool (``spawn`` start method).

    Args:
        max_workers: number of processes.
        max_retries: how often a scene lost with a dead worker process is retried.
    """

    def __init__(self, max_workers: int = 2, max_retries: int = 2, threads_per_worker: int | None = None) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1 or null, got {threads_per_worker}")
        self.max_workers = max_workers
        self.max_retries = max_retries
        # default: the cores shared out among the workers (at least one thread each)
        self.threads_per_worker = threads_per_worker or max(1, (os.cpu_count() or 1) // max_workers)

    def map_unordered(self, task: SceneTask, tokens: Sequence[str]) -> Iterator[tuple[str, Rows]]:
        """Scenes in flight when a worker process dies become *suspects*; suspects are re-run one at a
        time, so a crash is attributed to the scene that caused it and innocent scenes are not charged."""
        pending = deque(tokens)
        suspects: deque[str] = deque()
        lost: Counter[str] = Counter()
        ctx = mp.get_context("spawn")
        while pending or suspects:
            with ProcessPoolExecutor(self.max_workers, mp_context=ctx, initializer=_init_process,
                                     initargs=(task, self.threads_per_worker)) as pool:
                if suspects:
                    yield from self._run_suspect(pool, task, suspects, lost)
                    continue
                yield from self._run_batch(pool, task, pending, suspects)

    def _run_suspect(self, pool: ProcessPoolExecutor, task: SceneTask, suspects: deque[str],
                     lost: Counter[str]) -> Iterator[tuple[str, Rows]]:
        """Run suspects alone until one breaks the pool (then the caller builds a new pool)."""
        while suspects:
            token = suspects.popleft()
            try:
                rows = pool.submit(_call_in_process, token).result()
            except BrokenProcessPool:
                lost[token] += 1
                if lost[token] > self.max_retries:
                    yield token, failed_rows(task, token, f"worker process died {lost[token]} times")
                else:
                    suspects.appendleft(token)
                return
            except Exception as exc:  # e.g. the task could not be pickled
                yield token, failed_rows(task, token, f"{type(exc).__name__}: {exc}")
            else:
                yield token, rows

    def _run_batch(self, pool: ProcessPoolExecutor, task: SceneTask, pending: deque[str],
                   suspects: deque[str]) -> Iterator[tuple[str, Rows]]:
        """Run pending scenes, ``2 × max_workers`` in flight, until done or the pool breaks."""
        in_flight: dict[Any, str] = {}
        broken = False
        while (pending or in_flight) and not broken:
            while pending and len(in_flight) < 2 * self.max_workers:
                token = pending.popleft()
                try:
                    in_flight[pool.submit(_call_in_process, token)] = token
                except BrokenProcessPool:
                    suspects.append(token)
                    broken = True
                    break
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                token = in_flight.pop(future)
                exc = future.exception()
                if exc is None:
                    yield token, future.result()
                elif isinstance(exc, BrokenProcessPool):
                    suspects.append(token)
                    broken = True
                else:  # e.g. the task could not be pickled: a scene failure, not a crash
                    yield token, failed_rows(task, token, f"{type(exc).__name__}: {exc}")
        for future, token in in_flight.items():  # only non-empty when the pool broke
            if future.done() and future.exception() is None:
                yield token, future.result()
            else:
                suspects.append(token)


class _TaskActor:
    def __init__(self, task: SceneTask) -> None:
        task.setup()
        self.task = task

    def run(self, token: str) -> Rows:
        return call_safely(self.task, token)


class RayWorker:
    """Ray actors, one CPU each.

    Args:
        address: ``None`` starts a local Ray for the run (shut down afterwards); ``"auto"`` or
            ``"ray://host:port"`` connects to an existing cluster.
        num_workers: number of actors (default: the cluster's CPUs).
        num_cpus: CPUs of a locally started Ray (default: all).
        max_retries: retries of a scene whose actor died.
        runtime_env: Ray runtime environment of the actors (e.g. ``{"env_vars": {"PYTHONPATH": ...}}``
            when the task class lives outside the installed packages).
    """

    def __init__(self, address: str | None = None, num_workers: int | None = None,
                 num_cpus: int | None = None, max_retries: int = 2,
                 runtime_env: Mapping[str, Any] | None = None) -> None:
        self.address = address
        self.num_workers = num_workers
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.runtime_env = dict(runtime_env) if runtime_env else None

    def map_unordered(self, task: SceneTask, tokens: Sequence[str]) -> Iterator[tuple[str, Rows]]:
        try:
            import ray  # lazy: optional worker backend, slow to import
            from ray.exceptions import RayActorError  # lazy: optional worker backend, slow to import
        except ImportError as exc:  # pragma: no cover - ray is a core dependency
            raise ImportError("worker=ray needs the 'ray' package: pip install ray") from exc
        if not tokens:
            return
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=self.num_cpus if self.address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            options: dict[str, Any] = {"num_cpus": 1}
            if self.runtime_env:
                options["runtime_env"] = self.runtime_env
            actor_cls = ray.remote(**options)(_TaskActor)
            n = self.num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            n = min(n, len(tokens))
            idle = [actor_cls.remote(task) for _ in range(n)]
            pending = deque(tokens)
            lost: Counter[str] = Counter()
            running: dict[Any, tuple[Any, str]] = {}
            while pending or running:
                while pending and idle:
                    actor, token = idle.pop(), pending.popleft()
                    running[actor.run.remote(token)] = (actor, token)
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    actor, token = running.pop(ref)
                    try:
                        rows = ray.get(ref)
                    except RayActorError:
                        idle.append(actor_cls.remote(task))
                        lost[token] += 1
                        if lost[token] > self.max_retries:
                            yield token, failed_rows(task, token, f"ray actor died {lost[token]} times")
                        else:
                            pending.appendleft(token)
                        continue
                    idle.append(actor)
                    yield token, rows
        finally:
            if started:
                ray.shutdown()


def make_worker(cfg: Mapping[str, Any]) -> SequentialWorker | ProcessPoolWorker | RayWorker:
    """Build a worker from a config mapping ``{name: sequential|process_pool|ray, ...}``."""
    name = cfg.get("name", "sequential")
    if name == "sequential":
        return SequentialWorker()
    if name == "process_pool":
        threads = cfg.get("threads_per_worker")
        return ProcessPoolWorker(int(cfg.get("max_workers", 2)), int(cfg.get("max_retries", 2)),
                                 None if threads is None else int(threads))
    if name == "ray":
        return RayWorker(cfg.get("address"), cfg.get("num_workers"), cfg.get("num_cpus"),
                         int(cfg.get("max_retries", 2)), cfg.get("runtime_env"))
    raise ValueError(f"worker.name must be sequential, process_pool or ray; got {name!r}")
