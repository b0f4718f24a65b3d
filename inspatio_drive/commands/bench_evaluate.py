"""``inspatio-drive bench-evaluate``: throughput, memory and fault tolerance of ``evaluate``.

1. Builds a split of ``n`` scenes by replicating the logs of a data root (default: the bundled sandbox sample)
   under new log names and tokens (sensor folders linked, maps shared).
2. Runs ``evaluate`` (constant-velocity planner, metric cache + PDM score per scene, no sensors) with 1 and with
   2 workers (``process_pool``), each in a fresh subprocess, and reports scenes/s and the RSS (parent + workers)
   sampled every 0.2 s: first, mid-run and peak — flat memory means the peak does not grow with the split.
3. Fault test: a 2-worker run in which one worker process is SIGKILLed once a third of the scenes are done and
   the whole run is SIGKILLed at two thirds; the same command is then re-run (resume). It checks that every scene
   has exactly one row per variant, none lost, none duplicated.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data.log_reader import read_raw_log
from inspatio_drive.data.roots import DataConfig
from inspatio_drive.data.writers import write_log


def _new_token(token: str, copy: int) -> str:
    return hashlib.sha1(f"{token}/{copy}".encode()).hexdigest()[:16]


def replicate_split(src_root: Path, split: str, out_root: Path, n: int) -> Path:
    """``n`` scene logs (copies of ``src_root/navsim_logs/split/*.pkl`` with new tokens / log names)."""
    logs = sorted((src_root / "navsim_logs" / split).glob("*.pkl"))
    if not logs:
        raise FileNotFoundError(f"bench-evaluate: no logs in {src_root / 'navsim_logs' / split}")
    out_logs = out_root / "navsim_logs" / "bench"
    out_blobs = out_root / "sensor_blobs" / "bench"
    out_logs.mkdir(parents=True, exist_ok=True)
    out_blobs.mkdir(parents=True, exist_ok=True)
    if not (out_root / "maps").exists():
        (out_root / "maps").symlink_to((src_root / "maps").resolve())
    raw = [read_raw_log(p) for p in logs]
    for i in range(n):
        frames = raw[i % len(raw)]
        src_name = frames[0]["log_name"]
        name = f"{src_name}-copy{i:05d}"
        link = out_blobs / name
        if not link.exists():
            link.symlink_to((src_root / "sensor_blobs" / split / src_name).resolve())
        copied = []
        for f in frames:
            g = dict(f)
            g["token"] = _new_token(f["token"], i)
            g["log_name"] = name
            g["sample_prev"] = None if f.get("sample_prev") is None else _new_token(f["sample_prev"], i)
            g["sample_next"] = None if f.get("sample_next") is None else _new_token(f["sample_next"], i)
            g["lidar_path"] = f["lidar_path"].replace(src_name, name, 1) if f.get("lidar_path") else f.get("lidar_path")
            g["cams"] = {k: {**c, "data_path": c["data_path"].replace(src_name, name, 1)} for k, c in f["cams"].items()}
            copied.append(g)
        write_log(out_logs / f"{name}.pkl", copied)
    return out_root


def _rss_tree_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid`` and all its descendants (Linux /proc)."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except FileNotFoundError:
        pass
    return out


def _is_pool_worker(pid: int) -> bool:
    """A ``spawn``-ed multiprocessing worker (not the resource tracker)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"spawn_main" in fh.read()
    except FileNotFoundError:
        return False


def _rows(run: Path) -> list[dict[str, Any]]:
    journal = run / "results.jsonl"
    if not journal.exists():
        return []
    rows = []
    for line in journal.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn last line of a killed run
    return rows


def _command(data_root: Path, run: Path, workers: int) -> list[str]:
    worker = ["worker=sequential"] if workers == 1 else ["worker=process_pool", f"worker.max_workers={workers}"]
    return [sys.executable, "-m", "inspatio_drive", "evaluate", f"data.data_root={data_root}", "data.split=bench",
            f"eval.output_dir={run}", "eval.sensors=none", "eval.artefacts=0", "eval.report=false",
            "eval.progress=false", "eval.variants=[base,oracle]", *worker]


def run_measured(data_root: Path, run: Path, workers: int, n: int,
                 faults: tuple[float, float] | None = None) -> dict[str, Any]:
    """One evaluate subprocess with RSS sampling; ``faults = (kill_worker_at, kill_run_at)`` shares of ``n``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(_command(data_root, run, workers), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, int]] = []
    events: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        killed_worker = False
        while not stop.is_set():
            done = len({r["token"] for r in _rows(run)})
            samples.append((time.perf_counter() - start, done, _rss_tree_kb(proc.pid)))
            if faults is not None:
                if not killed_worker and done >= faults[0] * n:
                    workers_ = [c for c in _children(proc.pid) if _is_pool_worker(c)]
                    if workers_:
                        os.kill(workers_[-1], signal.SIGKILL)
                        events.append(f"SIGKILL worker pid {workers_[-1]} after {done} scenes")
                        killed_worker = True
                if done >= faults[1] * n and proc.poll() is None:
                    kids = _children(proc.pid)
                    proc.kill()
                    for c in kids:
                        try:
                            os.kill(c, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    events.append(f"SIGKILL the whole run after {done} scenes")
                    return
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    stop.set()
    thread.join()
    wall = time.perf_counter() - start
    rss = [s[2] for s in samples if s[2] > 0]
    mid = [s[2] for s in samples if s[1] >= n // 2]
    return {"workers": workers, "wall_s": wall, "returncode": proc.returncode, "events": events,
            "rss_first_mb": rss[0] / 1024 if rss else float("nan"),
            "rss_mid_mb": (mid[0] / 1024) if mid else float("nan"),
            "rss_peak_mb": max(rss) / 1024 if rss else float("nan"), "stderr_tail": err[-400:]}


def check_complete(run: Path, n: int, variants: Sequence[str] = ("base", "oracle")) -> dict[str, Any]:
    """Exactly one final row per (scene, variant); the journal may hold superseded rows of retried scenes."""
    rows = _rows(run)
    final = {(r["token"], r["variant"]): r for r in rows}
    tokens = {t for t, _ in final}
    per_token = {t: sorted(v for tt, v in final if tt == t) for t in tokens}
    return {"scenes": len(tokens), "expected": n, "journal_lines": len(rows),
            "complete": len(tokens) == n and all(v == sorted(variants) for v in per_token.values()),
            "invalid": sum(not r["valid"] for r in final.values())}


@handles_user_errors("bench-evaluate")
def main(overrides: Sequence[str]) -> int:
    cfg = compose_command("bench-evaluate", "bench_evaluate", overrides)
    if cfg is None:
        return 2
    data = DataConfig.from_node(cfg.data)  # data.data_root null (data.split sample): the bundled sample
    src, split = data.root(), data.split_name()
    work = Path(cfg.work_dir) if cfg.work_dir else Path(tempfile.mkdtemp(prefix="inspatio_bench_eval_"))
    try:
        root = replicate_split(src, split, work / "data", int(cfg.n))
        report: dict[str, Any] = {"n": int(cfg.n), "runs": []}
        for workers in cfg.workers:
            run = work / f"run_w{workers}"
            shutil.rmtree(run, ignore_errors=True)
            res = run_measured(root, run, int(workers), int(cfg.n))
            res.update(check_complete(run, int(cfg.n)))
            res["scenes_per_s"] = res["scenes"] / res["wall_s"]
            report["runs"].append(res)
            print(f"workers={workers}: {res['scenes']}/{cfg.n} scenes in {res['wall_s']:.1f} s = "
                  f"{res['scenes_per_s']:.2f} scenes/s; RSS first {res['rss_first_mb']:.0f} MB, "
                  f"mid {res['rss_mid_mb']:.0f} MB, peak {res['rss_peak_mb']:.0f} MB; complete={res['complete']}")
        if cfg.fault_test:
            run = work / "run_fault"
            shutil.rmtree(run, ignore_errors=True)
            first = run_measured(root, run, 2, int(cfg.n), faults=(1 / 3, 2 / 3))
            after_kill = check_complete(run, int(cfg.n))
            second = run_measured(root, run, 2, int(cfg.n))
            final = check_complete(run, int(cfg.n))
            report["fault_test"] = {"events": first["events"], "after_kill": after_kill, "after_resume": final}
            print(f"fault test: {'; '.join(first['events'])}; {after_kill['scenes']} scenes kept; "
                  f"resume → {final['scenes']}/{cfg.n} scenes, complete={final['complete']}, "
                  f"invalid rows {final['invalid']}, resume wall {second['wall_s']:.1f} s")
        out = Path(cfg.output) if cfg.output else work / "bench_evaluate.json"
        out.write_text(json.dumps(report, indent=1, default=str))
        print(f"report: {out}")
        ok = all(r["complete"] for r in report["runs"]) and report.get("fault_test", {}).get(
            "after_resume", {"complete": True})["complete"]
        return 0 if ok else 1
    finally:
        if not cfg.keep and not cfg.work_dir:
            shutil.rmtree(work, ignore_errors=True)
