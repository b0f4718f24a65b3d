import math
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from eval_toy_tasks import ToyTask, toy_score

from inspatio_drive.evaluation import (
    ProcessPoolWorker,
    RayWorker,
    ResultStore,
    SequentialWorker,
    make_worker,
    run_tasks,
)
from inspatio_drive.evaluation.results import NAVSIM_COLUMNS

TOKENS = [f"tok{i:02d}" for i in range(10)]


def _assert_complete(store: ResultStore, tokens, variants=("base", "fc")):
    rows = store.rows()
    keys = [(r["token"], r["variant"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated scene rows"
    assert set(keys) == {(t, v) for t in tokens for v in variants}


def test_sequential_run_csv_and_failures(tmp_path):
    store = ResultStore(tmp_path)
    stats = run_tasks(ToyTask(fail_tokens=frozenset({"tok03"})), TOKENS, SequentialWorker(), store, progress=False)
    assert (stats.ran, stats.skipped, stats.invalid_rows) == (10, 0, 2)
    _assert_complete(store, TOKENS)
    csv = pd.read_csv(tmp_path / "base.csv", index_col=0)
    assert tuple(csv.columns[: len(NAVSIM_COLUMNS)]) == NAVSIM_COLUMNS
    assert csv.iloc[-1]["token"] == "average"
    bad = csv[csv["token"] == "tok03"].iloc[0]
    assert not bad["valid"] and "ValueError: bad scene tok03" in bad["error"] and math.isnan(bad["score"])
    expected = sum(toy_score(t, "base") for t in TOKENS if t != "tok03") / 9
    assert csv.iloc[-1]["score"] == pytest.approx(expected)
    assert (tmp_path / "results.parquet").exists()
    summary = store.summary()
    assert summary.loc["fc", "scenes"] == 10 and summary.loc["fc", "invalid"] == 1


def test_resume_skips_finished_and_ignores_torn_line(tmp_path):
    store = ResultStore(tmp_path)
    run_tasks(ToyTask(), TOKENS[:4], SequentialWorker(), store, progress=False)
    with open(store.journal, "ab") as fh:  # a kill in the middle of a write
        fh.write(b'{"token": "tok05", "variant": "ba')
    stats = run_tasks(ToyTask(), TOKENS, SequentialWorker(), store, progress=False)
    assert (stats.skipped, stats.ran) == (4, 6)
    _assert_complete(store, TOKENS)


def test_partial_variants_are_rerun(tmp_path):
    store = ResultStore(tmp_path)
    run_tasks(ToyTask(variants=("base",)), TOKENS[:3], SequentialWorker(), store, progress=False)
    stats = run_tasks(ToyTask(), TOKENS[:3], SequentialWorker(), store, progress=False)
    assert stats.ran == 3
    _assert_complete(store, TOKENS[:3])


def test_process_pool_survives_a_killed_worker(tmp_path):
    store = ResultStore(tmp_path / "run")
    task = ToyTask(die_once_token="tok04", marker_dir=str(tmp_path))
    stats = run_tasks(task, TOKENS, ProcessPoolWorker(max_workers=2), store, progress=False)
    assert (tmp_path / "died_tok04").exists(), "the worker was never killed: the test proves nothing"
    assert stats.invalid_rows == 0
    _assert_complete(store, TOKENS)
    assert len({r["pid"] for r in store.rows()}) >= 2  # ran in several processes


def test_process_pool_gives_up_on_a_scene_that_always_kills(tmp_path):
    store = ResultStore(tmp_path)
    task = ToyTask(die_always_token="tok02")
    run_tasks(task, TOKENS[:5], ProcessPoolWorker(max_workers=2, max_retries=1), store, progress=False)
    _assert_complete(store, TOKENS[:5])
    bad = [r for r in store.rows() if r["token"] == "tok02"]
    assert all(not r["valid"] and "died" in r["error"] for r in bad)
    assert all(r["valid"] for r in store.rows() if r["token"] != "tok02")


def test_ray_worker_local_cluster(tmp_path):
    pytest.importorskip("ray")
    store = ResultStore(tmp_path)
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}}
    worker = RayWorker(num_cpus=2, runtime_env=env)
    run_tasks(ToyTask(fail_tokens=frozenset({"tok01"})), TOKENS[:6], worker, store, progress=False)
    _assert_complete(store, TOKENS[:6])
    assert sum(not r["valid"] for r in store.rows()) == 2


def test_process_pool_caps_threads_per_worker(tmp_path):
    """Workers must not each start one thread per core (W × cores threads on the machine): the default is
    cores // workers, and an explicit value wins."""
    store = ResultStore(tmp_path)
    task = ToyTask(report_threads=True)
    run_tasks(task, TOKENS[:4], ProcessPoolWorker(max_workers=2, threads_per_worker=2), store, progress=False)
    df = store.dataframe()
    import numba

    # 2 is neither torch's default under OMP_NUM_THREADS=1 nor tied to this machine: the cap was applied
    assert set(df["torch_threads"]) == {2}
    assert set(df["numba_threads"]) == {min(2, numba.config.NUMBA_NUM_THREADS)}
    assert ProcessPoolWorker(max_workers=2).threads_per_worker == max(1, (os.cpu_count() or 1) // 2)
    assert make_worker({"name": "process_pool", "max_workers": 2, "threads_per_worker": 3}).threads_per_worker == 3
    with pytest.raises(ValueError, match="threads_per_worker"):
        ProcessPoolWorker(max_workers=2, threads_per_worker=0)


def test_make_worker():
    assert isinstance(make_worker({"name": "sequential"}), SequentialWorker)
    assert make_worker({"name": "process_pool", "max_workers": 3}).max_workers == 3
    assert make_worker({"name": "ray", "address": "auto"}).address == "auto"
    with pytest.raises(ValueError, match=r"worker\.name"):
        make_worker({"name": "slurm"})
    with pytest.raises(ValueError, match="token"):
        ResultStore.append(ResultStore.__new__(ResultStore), [{"valid": True}])
