"""One-stage EPDMS aggregation over scenes (navsim v2.2 ``run_pdm_score_one_stage``).

Within each log, the ORIGINAL scenes sorted by time are paired with the preceding one when they are at most
0.55 s apart; EC is computed for the later scene of each pair from the two chosen plans' simulated states
(:func:`~inspatio_drive.pdm.v2.comfort.extended_comfort`), and the final ``score`` drops EC's weight where a scene
has no previous frame. The CSV rows of navsim (``token, valid, <8 sub-metrics>, two_frame_extended_comfort,
score``) plus the ``average_all_frames`` row (NaN-skipping mean of every column) come from :func:`one_stage_rows`.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.pdm.v2.cache import ORIGINAL
from inspatio_drive.pdm.v2.comfort import ExtendedComfortThresholds, extended_comfort
from inspatio_drive.pdm.v2.scorer import EC_COLUMN, SUBMETRICS, final_scores

__all__ = ["FrameResult", "adjacent_previous", "one_stage_rows"]

TIME_GAP_S = 0.55
_EC = ExtendedComfortThresholds()


@dataclass
class FrameResult:
    """The chosen plan of one scene, scored by :func:`~inspatio_drive.pdm.v2.scorer.score_epdms`.

    Attributes:
        token, log_name: scene token and its log. time_s: the scene's time point (s).
        scene_type: ``ORIGINAL`` / ``SYNTHETIC`` (only original scenes are paired).
        metrics: the 8 sub-metrics (navsim column names).
        states: ``[41, 11]`` simulated states of the chosen plan (global).
        valid: False where the row could not be scored by the rules (with ``reason``).
    """

    token: str
    log_name: str
    time_s: float
    scene_type: str
    metrics: dict[str, float]
    states: NDArray[np.float64]
    valid: bool = True
    reason: str = ""


def adjacent_previous(frames: list[FrameResult], max_gap_s: float = TIME_GAP_S) -> dict[str, str]:
    """navsim ``infer_start_adjacent_mapping``: token → token of the preceding original scene of its log
    (|Δt| ≤ ``max_gap_s``)."""
    by_log: dict[str, list[FrameResult]] = defaultdict(list)
    for f in frames:
        if f.scene_type == ORIGINAL:
            by_log[f.log_name].append(f)
    mapping: dict[str, str] = {}
    for group in by_log.values():
        group = sorted(group, key=lambda f: f.time_s)
        for prev, cur in itertools.pairwise(group):
            if abs(cur.time_s - prev.time_s) <= max_gap_s:
                mapping[cur.token] = prev.token
    return mapping


def one_stage_rows(
    frames: list[FrameResult],
    weights: tuple[float, ...] = (5.0, 5.0, 2.0, 2.0, 2.0),
    thresholds: ExtendedComfortThresholds = _EC,
    step_s: float = 0.1,
) -> list[dict[str, Any]]:
    """navsim's one-stage CSV rows: one per scene (EC from the adjacent previous scene or NaN, final score),
    then ``average_all_frames`` (mean of each column over the rows, NaN skipped)."""
    by_token = {f.token: f for f in frames}
    prev_of = adjacent_previous(frames)
    rows: list[dict[str, Any]] = []
    for f in frames:
        ec = np.nan
        prev = by_token.get(prev_of.get(f.token, ""))
        if prev is not None:
            value, _ = extended_comfort(
                f.states[None], prev.states[None], f.time_s - prev.time_s, step_s, thresholds
            )
            ec = float(value[0])
        score = float(final_scores({k: [f.metrics[k]] for k in SUBMETRICS}, [ec], weights)[0])
        row: dict[str, Any] = {"token": f.token, "valid": bool(f.valid)}
        row.update({k: float(f.metrics[k]) for k in SUBMETRICS})
        row[EC_COLUMN] = ec
        row["score"] = score
        if f.reason:
            row["reason"] = f.reason
        rows.append(row)
    avg: dict[str, Any] = {"token": "average_all_frames", "valid": bool(all(r["valid"] for r in rows))}
    for col in (*SUBMETRICS, EC_COLUMN, "score"):
        values = np.array([r[col] for r in rows], dtype=np.float64)
        avg[col] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    rows.append(avg)
    return rows
