"""`inspatio-drive evaluate` keeps its metric caches in a `MetricCacheStore` (the `metric-cache` layout): what one
command writes the other reads, and caches evaluate wrote before the store stay readable."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from inspatio_drive.commands.cli import main
from inspatio_drive.pdm.cache.storage import MetricCacheStore

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"
TOKEN_A = json.loads((GOLDEN / "scene_a" / "scene.json").read_text())["token"]


def _evaluate(out: Path, cache: Path, split: str = "golden_a") -> pd.DataFrame:
    args = ["evaluate", f"data.data_root={GOLDEN}", f"data.split={split}", f"eval.output_dir={out}",
            f"eval.metric_cache_dir={cache}", "eval.artefacts=0", "eval.report=false", "eval.progress=false",
            "eval.sensors=none"]
    assert main(args) == 0
    return pd.read_csv(out / "base.csv", index_col=0)


def _no_building(monkeypatch):
    import inspatio_drive.pdm.cache.builder as builder

    def refuse(*args, **kwargs):
        raise AssertionError("the metric cache was rebuilt instead of read")

    monkeypatch.setattr(builder, "build_metric_cache", refuse)


def test_evaluate_writes_and_reads_a_store(tmp_path, monkeypatch):
    first = _evaluate(tmp_path / "run1", tmp_path / "cache")
    store = MetricCacheStore.open(tmp_path / "cache", create=False)
    assert store.tokens == [TOKEN_A]
    assert store.load(TOKEN_A).token == TOKEN_A
    _no_building(monkeypatch)
    second = _evaluate(tmp_path / "run2", tmp_path / "cache")
    pd.testing.assert_frame_equal(first.drop(columns=[c for c in first if c.endswith("_s")]),
                                  second.drop(columns=[c for c in second if c.endswith("_s")]))


def test_evaluate_reads_the_metric_cache_command_store(tmp_path, monkeypatch):
    from inspatio_drive.commands.metric_cache import main as metric_cache_main

    assert metric_cache_main([f"data.data_root={GOLDEN}", "data.split=golden_a", "data.show_progress=false",
                              f"data.maps_root={GOLDEN / 'maps'}", f"cache_path={tmp_path / 'cache'}",
                              "progress=false"]) == 0
    _no_building(monkeypatch)
    rows = _evaluate(tmp_path / "run", tmp_path / "cache")
    assert rows.iloc[0]["token"] == TOKEN_A and rows.iloc[0]["valid"]


def test_caches_of_the_former_layout_stay_readable(tmp_path, monkeypatch):
    built = _evaluate(tmp_path / "run1", tmp_path / "built")
    store = MetricCacheStore.open(tmp_path / "built", create=False)
    legacy = tmp_path / "legacy"
    store.load(TOKEN_A).save(legacy / TOKEN_A)  # <metric_cache_dir>/<token>/, as evaluate wrote it before
    _no_building(monkeypatch)
    rows = _evaluate(tmp_path / "run2", legacy)
    assert rows.iloc[0]["score"] == pytest.approx(built.iloc[0]["score"], abs=0)
