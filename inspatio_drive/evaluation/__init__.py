"""Evaluation at scale: resumable per-scene result journals, workers (sequential, process pool, Ray),
navsim-compatible CSV reports, the closed loop and the HTML report."""

from inspatio_drive.evaluation.results import PDM_COLUMNS, ResultStore
from inspatio_drive.evaluation.runner import SceneTask, run_tasks
from inspatio_drive.evaluation.workers import ProcessPoolWorker, RayWorker, SequentialWorker, make_worker

__all__ = [
    "PDM_COLUMNS",
    "ProcessPoolWorker",
    "RayWorker",
    "ResultStore",
    "SceneTask",
    "SequentialWorker",
    "make_worker",
    "run_tasks",
]
