"""Append-only, crash-safe result journal with navsim-compatible CSV / Parquet export.

Every finished scene is one JSON line appended to ``<run_dir>/results.jsonl`` with a single ``write`` on an
``O_APPEND`` descriptor followed by ``fsync``: a run killed at any moment keeps every row written before,
and at most a torn last line, which is ignored on reading. Rows are keyed by ``(token, variant)``; a later
row for the same key replaces an earlier one (a re-run after a crash never duplicates a scene).

Exports (written to a temporary file, then renamed into place, so a reader never sees a half file):
``<variant>.csv`` with navsim v1.1's columns first (``token, valid, no_at_fault_collisions,
drivable_area_compliance, ego_progress, time_to_collision_within_bound, comfort,
driving_direction_compliance, score``), then ours, and a last row ``token="average"`` holding the mean over
valid rows, as navsim's ``run_pdm_score.py`` writes it; ``results.parquet`` holds all rows of all variants — when
pandas finds a Parquet engine that works with this numpy (pyarrow 26+ refuses numpy 1.x, as in navsim's
environment): otherwise a one-line warning says why and the CSVs and the journal are the complete results.
EPDMS rows (``evaluate metric=epdms``) put navsim v2's columns first instead (the 8 sub-metrics,
``two_frame_extended_comfort``, ``score``); their internal ``epdms_states`` are not exported.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from inspatio_drive.contracts import NAVSIM_PDM_COLUMNS
from inspatio_drive.evaluation.epdms import ONE_STAGE_COLUMNS, STATES_COLUMN, is_epdms

PDM_COLUMNS: tuple[str, ...] = NAVSIM_PDM_COLUMNS
NAVSIM_COLUMNS: tuple[str, ...] = ("token", "valid", *PDM_COLUMNS)
JOURNAL = "results.jsonl"
log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """numpy scalars / arrays → plain Python, NaN → None (JSON has no NaN)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class ResultStore:
    """Result journal of one run directory.

    Args:
        run_dir: folder of the run (created if missing).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = self.run_dir / JOURNAL

    # -- writing -----------------------------------------------------------------------------------------
    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows durably. Each row needs ``token`` and ``valid``; ``variant`` defaults to ``"base"``."""
        lines = []
        for row in rows:
            if "token" not in row or "valid" not in row:
                raise ValueError(f"result row needs 'token' and 'valid', got keys {sorted(row)}")
            full = {"variant": "base", **row}
            lines.append(json.dumps(_jsonable(full), allow_nan=False, sort_keys=False))
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        fd = os.open(self.journal, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # close a line torn by an earlier kill, never fuse rows into it
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading -----------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """All rows, last write wins per ``(token, variant)``, in first-seen order; torn lines skipped."""
        if not self.journal.exists():
            return []
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        with self.journal.open("rb") as fh:
            for raw in fh:
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill mid-write
                latest[(row["token"], row.get("variant", "base"))] = row
        return list(latest.values())

    def finished_tokens(self, variants: Iterable[str] | None = None) -> set[str]:
        """Tokens that have a row for every one of ``variants`` (any variant if ``None``)."""
        by_token: dict[str, set[str]] = {}
        for row in self.rows():
            by_token.setdefault(row["token"], set()).add(row["variant"])
        if variants is None:
            return set(by_token)
        need = set(variants)
        return {t for t, have in by_token.items() if need <= have}

    def dataframe(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows())

    # -- export ------------------------------------------------------------------------------------------
    def export(self, frame: pd.DataFrame | None = None) -> dict[str, Path]:
        """Write ``<variant>.csv`` (navsim-compatible, with an ``average`` row) and ``results.parquet`` from the
        journal, or from ``frame`` (rows derived from it, e.g. with the one-stage EPDMS score)."""
        df = self.dataframe() if frame is None else frame
        df = df.drop(columns=[STATES_COLUMN], errors="ignore")
        written: dict[str, Path] = {}
        if df.empty:
            return written
        for variant, part in df.groupby("variant", sort=True):
            table = navsim_table(part.drop(columns=["variant"]))
            path = self.run_dir / f"{variant}.csv"
            _atomic_write(path, lambda p, t=table: t.to_csv(p))
            written[str(variant)] = path
        flat = df.copy()
        for col in flat.columns:  # nested values (feature dicts) as JSON text for a flat Parquet schema
            if flat[col].map(lambda v: isinstance(v, dict | list)).any():
                flat[col] = flat[col].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
        parquet = self.run_dir / "results.parquet"
        try:
            _atomic_write(parquet, lambda p: flat.to_parquet(p, index=False))
        except ImportError as exc:  # no engine, or one built for another numpy (pyarrow >= 26 with numpy 1.x)
            reason = " ".join(str(exc).split())
            log.warning("%s not written: no usable Parquet engine (%s); the CSVs and %s hold the complete results "
                        "(with numpy 1.x install pyarrow>=16,<26: pip install 'inspatio-drive[navsim]')",
                        parquet, reason, JOURNAL)
            for tmp in self.run_dir.glob(f".{parquet.name}.tmp*"):
                tmp.unlink()
            return written
        written["parquet"] = parquet
        return written

    def summary(self) -> pd.DataFrame:
        """Mean PDM sub-scores and score over valid rows, one row per variant, plus counts."""
        df = self.dataframe()
        if df.empty:
            return pd.DataFrame()
        valid = df[df["valid"].astype(bool)]
        cols = [c for c in PDM_COLUMNS if c in df]
        out = valid.groupby("variant")[cols].mean()
        out["scenes"] = df.groupby("variant").size()
        out["invalid"] = out["scenes"] - valid.groupby("variant").size().reindex(out.index, fill_value=0)
        return out


def navsim_table(part: pd.DataFrame) -> pd.DataFrame:
    """Order columns as navsim v1.1's CSV (v2's for EPDMS rows) and append the ``average`` row (mean over valid
    rows)."""
    part = part.copy()
    first = ONE_STAGE_COLUMNS if is_epdms(part) else NAVSIM_COLUMNS
    for col in first:
        if col not in part:
            part[col] = math.nan
    ours = [c for c in part.columns if c not in first]
    part = part[[*first, *ours]].reset_index(drop=True)
    valid = part[part["valid"].astype(bool)]
    average: dict[str, Any] = {c: None for c in part.columns}
    average.update({"token": "average", "valid": bool(len(valid))})
    for col in (*first[2:], *ours):
        if pd.api.types.is_numeric_dtype(part[col]) and not pd.api.types.is_bool_dtype(part[col]):
            average[col] = valid[col].mean() if len(valid) else math.nan
    return pd.concat([part, pd.DataFrame([average])], ignore_index=True)


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
