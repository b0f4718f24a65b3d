"""Without a usable Parquet engine (navsim's numpy-1 environment with a pyarrow that needs numpy 2) the export
still writes every CSV and says in one line why there is no results.parquet."""

from __future__ import annotations

import logging

import pandas as pd
import pandas.io.parquet

from inspatio_drive.evaluation.results import NAVSIM_COLUMNS, ResultStore


def _rows():
    base = dict.fromkeys(NAVSIM_COLUMNS[2:], 1.0)
    return [{"token": t, "variant": v, "valid": True, **base, "fc_features": {"a": 1.0}}
            for t in ("a1", "b2") for v in ("base", "fc")]


def test_export_without_parquet_engine_keeps_the_csvs(tmp_path, monkeypatch, caplog):
    store = ResultStore(tmp_path)
    store.append(_rows())

    def no_engine(engine):  # pandas' own error when neither engine imports (pyarrow 26 under numpy 1.24)
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.\n"
                          "Trying to import the above resulted in these errors:\n"
                          " - pyarrow requires NumPy 2.0 or newer, found 1.24.4\n"
                          " - Missing optional dependency 'fastparquet'.")

    monkeypatch.setattr(pandas.io.parquet, "get_engine", no_engine)
    with caplog.at_level(logging.WARNING):
        written = store.export()
    assert set(written) == {"base", "fc"} and not (tmp_path / "results.parquet").exists()
    assert not list(tmp_path.glob(".results.parquet.tmp*"))
    message = [r.getMessage() for r in caplog.records if "results.parquet" in r.getMessage()]
    assert len(message) == 1 and "\n" not in message[0] and "no usable Parquet engine" in message[0]
    for variant in ("base", "fc"):
        table = pd.read_csv(tmp_path / f"{variant}.csv")
        assert list(table["token"]) == ["a1", "b2", "average"]


def test_export_writes_parquet_when_an_engine_works(tmp_path):
    store = ResultStore(tmp_path)
    store.append(_rows())
    written = store.export()
    assert len(pd.read_parquet(written["parquet"])) == 4
