"""``evaluate metric=epdms``: NAVSIM v2.2 EPDMS rows, their journal form, and navsim's one-stage aggregation.

What a scene's row holds (one per variant, journalled in ``results.jsonl`` like the v1.1 rows): the 8 navsim v2
sub-metrics of the chosen candidate, ``score`` = its EPDMS *without* EC (the frame alone: (5·EP + 5·TTC + 2·LK +
2·HC) / 14), the scene's ``log_name`` / ``time_point_s`` / ``scene_type`` (for pairing) and ``epdms_states``: the
chosen plan's simulated states ``[41, 11]`` (global, :class:`~inspatio_drive.pdm.types.StateIndex`) as base64 of
little-endian float64 — lossless, so EC of a resumed run equals EC of a run without interruption.

EC needs the chosen plan of the scene 0.5 s earlier in the same log, which another worker may score (or a
resumed run may have scored in an earlier process). So EC and the final ``score`` are computed once at the end of
the run from the journal, for every variant: :func:`one_stage_tables` (navsim ``run_pdm_score_one_stage``
pairing via :func:`~inspatio_drive.pdm.v2.aggregate.one_stage_rows`) and :func:`with_one_stage` (the rows with
``two_frame_extended_comfort`` added and ``score`` replaced by the one-stage score; the frame score is kept as
``score_without_ec``). The states are internal: they are dropped from the exported CSV / Parquet.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from inspatio_drive.contracts import NAVSIM_PDM_COLUMNS
from inspatio_drive.pdm.v2 import (
    EC_COLUMN,
    SUBMETRICS,
    FrameResult,
    one_stage_rows,
)
from inspatio_drive.pdm.v2.cache import ORIGINAL, scene_type_of_token
from inspatio_drive.pdm.v2.knobs import EPDMS_SHORT, METRIC_LABEL, METRICS, check_metric
from inspatio_drive.pdm.v2.two_stage import (
    SCORE_COLUMNS,
    StageRow,
    TwoStageMapping,
    TwoStageResult,
    two_stage_rows,
)

__all__ = ["EPDMS_METRICS", "EPDMS_SHORT", "METRICS", "METRIC_LABEL", "ONE_STAGE_COLUMNS", "STATES_COLUMN", "TWO_STAGE_COLUMNS",
           "check_metric", "decode_states", "drop_unlabelled_ec", "encode_states", "is_epdms", "metric_columns", "one_stage_tables",
           "row_labels", "two_stage_tables", "with_one_stage"]

STATES_COLUMN = "epdms_states"
STATE_SHAPE = (41, 11)
ONE_STAGE_COLUMNS = ("token", "valid", *SUBMETRICS, EC_COLUMN, "score")
"""navsim v2.2 one-stage CSV columns (``run_pdm_score_one_stage.py``), in its order."""
TWO_STAGE_COLUMNS = ("token", "valid", *(f"{c}_stage_one" for c in SCORE_COLUMNS[:-1]),
                     *(f"{c}_stage_two" for c in SCORE_COLUMNS[:-1]), "score")
"""navsim v2.2 two-stage CSV columns (``run_pdm_score.py``), in its order."""
EPDMS_METRICS: tuple[tuple[str, str], ...] = (("score", EPDMS_SHORT["score"]),
                                              *((c, EPDMS_SHORT[c]) for c in (*SUBMETRICS, EC_COLUMN)))
"""(v2 column, short label) of an EPDMS table (the study's and its ablation's): EPDMS (one-stage ``score``) first,
then navsim v2's 8 sub-metrics and EC (dropped by :func:`drop_unlabelled_ec` when a counted scene has none)."""


def encode_states(states: NDArray[np.float64]) -> str:
    """``[41, 11]`` float64 → base64 text (exact)."""
    arr = np.ascontiguousarray(states, dtype="<f8")
    if arr.shape != STATE_SHAPE:
        raise ValueError(f"epdms states: expected {STATE_SHAPE}, got {arr.shape}")
    return base64.b64encode(arr.tobytes()).decode("ascii")


def decode_states(text: str | None) -> NDArray[np.float64]:
    """Inverse of :func:`encode_states`; ``None`` / empty → all-NaN states (a row that was not scored)."""
    if not text:
        return np.full(STATE_SHAPE, np.nan)
    return np.frombuffer(base64.b64decode(text), dtype="<f8").reshape(STATE_SHAPE).astype(np.float64)


def is_epdms(df: pd.DataFrame) -> bool:
    """Whether the result rows are EPDMS rows (their ``metric`` column says so)."""
    return not df.empty and "metric" in df and bool((df["metric"] == METRIC_LABEL["epdms"]).any())


def _frame(row: pd.Series) -> FrameResult:
    valid = bool(row.get("valid"))
    metrics = {k: float(row[k]) if row.get(k) is not None and not pd.isna(row.get(k)) else math.nan
               for k in SUBMETRICS}
    reason = row.get("error") or row.get("reason") or ""
    time_s = row.get("time_point_s")
    return FrameResult(
        token=str(row["token"]),
        log_name=str(row.get("log_name") or ""),
        time_s=float(time_s) if time_s is not None and not pd.isna(time_s) else math.nan,
        # a failed scene has no states: never paired (it cannot be anyone's previous frame)
        scene_type=str(row.get("scene_type") or ORIGINAL) if valid else "INVALID",
        metrics=metrics,
        states=decode_states(row.get(STATES_COLUMN) if valid else None),
        valid=valid,
        reason="" if reason is None or (isinstance(reason, float) and math.isnan(reason)) else str(reason),
    )


def _point(row: pd.Series, prefix: str) -> NDArray[np.float64]:
    xy = [row.get(f"{prefix}_x"), row.get(f"{prefix}_y")]
    return np.array([float(v) if v is not None and not pd.isna(v) else math.nan for v in xy])


def _stage_row(row: pd.Series) -> StageRow:
    f = _frame(row)
    return StageRow(token=f.token, log_name=f.log_name, time_s=f.time_s,
                    scene_type=scene_type_of_token(f.token),  # a failed row keeps its stage (token length, as navsim)
                    metrics=f.metrics, states=f.states, valid=f.valid, reason=f.reason,
                    endpoint=_point(row, "endpoint"), start_point=_point(row, "start_point"))


def two_stage_tables(df: pd.DataFrame, mappings: list[TwoStageMapping]) -> dict[str, TwoStageResult]:
    """variant → navsim v2.2's two-stage aggregation (:func:`~inspatio_drive.pdm.v2.two_stage.two_stage_rows`) of
    the EPDMS result rows of both stages (stage-one scenes first, then the synthetic ones, each by log and time).
    ``TwoStageResult.rows`` are the rows of navsim's two-stage CSV (:data:`TWO_STAGE_COLUMNS`)."""
    out: dict[str, TwoStageResult] = {}
    keys = [c for c in ("log_name", "time_point_s", "token") if c in df]
    for variant, part in df.groupby("variant", sort=True):
        part = part.assign(_stage=part["token"].map(lambda t: scene_type_of_token(str(t)) != ORIGINAL))
        part = part.sort_values(["_stage", *keys], na_position="last", kind="stable")
        out[str(variant)] = two_stage_rows([_stage_row(r) for _, r in part.iterrows()], mappings)
    return out


def one_stage_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """variant → navsim's one-stage table (:data:`ONE_STAGE_COLUMNS`, one row per scene ordered by log and time —
    the same whatever order workers finished in; scenes that failed last —, then ``average_all_frames``) from EPDMS
    result rows."""
    out: dict[str, pd.DataFrame] = {}
    keys = [c for c in ("log_name", "time_point_s", "token") if c in df]
    for variant, part in df.groupby("variant", sort=True):
        part = part.sort_values(keys, na_position="last", kind="stable")
        rows = one_stage_rows([_frame(r) for _, r in part.iterrows()])
        table = pd.DataFrame(rows)
        out[str(variant)] = table[[c for c in ONE_STAGE_COLUMNS if c in table]]
    return out


def with_one_stage(df: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The rows with EC and the one-stage ``score`` (the frame score kept as ``score_without_ec``), states
    dropped. Rows that are not EPDMS rows are returned unchanged."""
    if not is_epdms(df):
        return df
    tables = tables if tables is not None else one_stage_tables(df)
    parts = []
    for variant, part in df.groupby("variant", sort=False):
        final = tables[str(variant)].set_index("token")
        part = part.copy()
        part["score_without_ec"] = part["score"]
        part[EC_COLUMN] = part["token"].map(final[EC_COLUMN])
        part["score"] = part["token"].map(final["score"]).where(part["valid"].astype(bool), part["score"])
        parts.append(part)
    out = pd.concat(parts).loc[df.index]
    return out.drop(columns=[STATES_COLUMN], errors="ignore")


def drop_unlabelled_ec(metrics: Sequence[tuple[str, str]], per: Mapping[str, Sequence[NDArray[np.float64]]]
                       ) -> tuple[list[tuple[str, str]], dict[str, list[NDArray[np.float64]]], str | None]:
    """EC out of a table when a counted scene has none (no scene 0.5 s earlier in its log: its one-stage EPDMS has
    no EC term), so that no mean is over some scenes only.

    Args:
        metrics: the table's (column, label) pairs; ``per``: method → per-seed ``[M_s, len(metrics)]`` values of the
            same scenes for every method.

    Returns:
        ``(metrics, per, note)``: unchanged with ``note`` None when EC is not a column or every scene has it; else
        without the EC column and with the line saying how many scenes lack it.
    """
    keys = [k for k, _ in metrics]
    if EC_COLUMN not in keys:
        return list(metrics), {m: list(v) for m, v in per.items()}, None
    i = keys.index(EC_COLUMN)
    methods = list(per)
    seeds = range(len(per[methods[0]]))
    counted = sum(len(per[methods[0]][s]) for s in seeds)
    n_nan = sum(int((~np.isfinite(np.stack([per[m][s][:, i] for m in methods]))).any(axis=0).sum()) for s in seeds)
    if not n_nan:
        return list(metrics), {m: list(v) for m, v in per.items()}, None
    note = (f"EC not tabulated: {n_nan} of {counted} counted scenes have no scene 0.5 s earlier in their log (their "
            "one-stage EPDMS drops the EC weight: (5·EP + 5·TTC + 2·LK + 2·HC) / 14).")
    return ([m for m in metrics if m[0] != EC_COLUMN], {m: [np.delete(a, i, axis=1) for a in v] for m, v in per.items()},
            note)


def metric_columns(metric: str) -> tuple[str, ...]:
    """Score columns of a row of ``metric`` (``score`` included): v1.1 PDM columns or the v2 ones."""
    return (*SUBMETRICS, "score") if metric == "epdms" else NAVSIM_PDM_COLUMNS


def row_labels(metric: str, traffic: str, human_filter: str) -> dict[str, Any]:
    """The columns that say which metric scored a row (``human_filter`` / ``traffic`` only for EPDMS)."""
    if metric == "epdms":
        return {"metric": METRIC_LABEL[metric], "traffic": traffic, "human_filter": human_filter}
    return {"metric": METRIC_LABEL[metric]}
