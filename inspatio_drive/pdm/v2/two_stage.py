"""Two-stage EPDMS aggregation (NAVSIM v2.2 pseudo-simulation, ``run_pdm_score.py``).

Stage 1 scores the planner on original scenes, stage 2 on synthetic follow-up scenes that start near where the
stage-1 plan ends. A *mapping* ties one stage-1 scene (``orig``, t0) and its companion 0.5 s earlier (``prev``)
to pairs of 17-character follow-up tokens ``(now_i, prev_i)`` (``now_i`` starts ≈ t0 + 4 s, ``prev_i`` 0.5 s
before it). Semantics (reference ``navsim_v2_epdms.md`` §6; navsim ``scene_aggregator.py`` and
``run_pdm_score.py``):

* EC(orig | prev) is written to both stage-1 rows; EC(now_i | prev_i) to both rows of each pair.
* Follow-up weights: ``w_i = exp(−‖endpoint(orig) − start_point(now_i)‖² / (2σ²))``, σ² = 0.1, normalised to sum
  1; the ``prev_i`` group uses ``prev``'s endpoint. Where the sum is ``np.isclose(·, 0)`` or NaN the weights are
  uniform. ``endpoint`` = the last pose of the submitted 8-pose plan made global (not the simulated end state),
  ``start_point`` = the scene's ego rear axle (global), both in metres.
* Every row's ``score`` = multiplier × (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16.
* For every column c (the 8 sub-metrics, EC, score): per mapping
  ``g1 = c(orig) · Σ w_i c(now_i)``, ``g2 = c(prev) · Σ w'_i c(prev_i)``, mapping value ``(g1 + g2) / 2``;
  combined = NaN-skipping mean over mappings. Stage-one summary = mean over [orig, prev, orig, prev, …];
  stage-two summary = mean over the weighted group averages [Σ w c(now), Σ w' c(prev), …].
* Only mappings whose ``orig`` or ``prev`` token is among the evaluated scenes count.

Where this differs from navsim, on purpose (navsim fails the whole pseudo-simulation with a traceback and writes
rows without EC or score):

* A follow-up token that was not scored (missing scene, metric cache or failed plan) is left out of its group
  and the weights are renormalised over the ones present; a mapping without any scored follow-up contributes
  NaN to the stage-two and combined means (skipped, like navsim's ``DataFrame.mean``). Each such mapping is
  listed in :attr:`TwoStageResult.incomplete` with what is missing, and the summary rows are ``valid=False``.
* A stage-1 scene whose companion is missing has EC NaN (its weight dropped, denominator 14) and is listed too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.pdm.v2.aggregate import FrameResult
from inspatio_drive.pdm.v2.cache import ORIGINAL
from inspatio_drive.pdm.v2.comfort import ExtendedComfortThresholds, extended_comfort
from inspatio_drive.pdm.v2.scorer import EC_COLUMN, SUBMETRICS, final_scores

__all__ = [
    "SCORE_COLUMNS",
    "SIGMA_SQUARED",
    "TWO_STAGE_SUMMARY_TOKENS",
    "StageRow",
    "TwoStageMapping",
    "TwoStageResult",
    "follow_up_weights",
    "parse_mappings",
    "two_stage_rows",
]

_EC = ExtendedComfortThresholds()
SIGMA_SQUARED = 0.1
"""σ² of the Gaussian follow-up kernel (navsim ``SceneAggregator.sigma_squared``), m²."""
SCORE_COLUMNS = (*SUBMETRICS, EC_COLUMN, "score")
"""The columns aggregated per mapping, in navsim's CSV order."""
TWO_STAGE_SUMMARY_TOKENS = (
    "extended_pdm_score_stage_one",
    "extended_pdm_score_stage_two",
    "extended_pdm_score_combined",
)


@dataclass
class StageRow(FrameResult):
    """One scored scene of a two-stage run: the chosen plan's :class:`FrameResult` plus where it ends / starts.

    Attributes:
        endpoint: ``[2]`` global (x, y) of the last pose of the submitted plan (m).
        start_point: ``[2]`` global (x, y) of the ego rear axle at the scene's current frame (m).
    """

    endpoint: ArrayLike = field(default_factory=lambda: np.full(2, np.nan))
    start_point: ArrayLike = field(default_factory=lambda: np.full(2, np.nan))


@dataclass(frozen=True)
class TwoStageMapping:
    """One entry of navsim's ``reactive_all_mapping``: ``[orig, prev, [[now_17, prev_17], …]]``."""

    orig: str
    prev: str
    pairs: tuple[tuple[str, str], ...]


def parse_mappings(raw: Iterable[Sequence[Any]]) -> list[TwoStageMapping]:
    """Mappings from navsim's ``reactive_all_mapping`` list (split YAML); ``ValueError`` naming the bad entry."""
    out: list[TwoStageMapping] = []
    for i, entry in enumerate(raw):
        try:
            orig, prev, pairs = entry
            parsed = tuple((str(now), str(before)) for now, before in pairs)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"reactive_all_mapping[{i}]: expected [orig_token, prev_token, [[now_token, prev_token], ...]], "
                f"got {entry!r}"
            ) from exc
        out.append(TwoStageMapping(str(orig), str(prev), parsed))
    return out


def follow_up_weights(
    endpoint: ArrayLike, start_points: ArrayLike, sigma_squared: float = SIGMA_SQUARED
) -> NDArray[np.float64]:
    """``[N]`` normalised Gaussian weights of follow-up scenes.

    Args:
        endpoint: ``[2]`` global end point of the stage-1 plan (m).
        start_points: ``[N, 2]`` global start points of the follow-up scenes (m).

    Returns:
        ``exp(−d² / (2σ²))`` normalised to sum 1; uniform ``1/N`` where the sum is close to 0 (``np.isclose``,
        atol 1e-8: every start ≳ 1.9 m away) or NaN.
    """
    p = np.asarray(start_points, dtype=np.float64).reshape(-1, 2)
    d2 = np.sum((p - np.asarray(endpoint, dtype=np.float64).reshape(1, 2)) ** 2, axis=1)
    w = np.exp(-d2 / (2.0 * sigma_squared))
    total = w.sum()
    if len(w) == 0:
        return w
    if np.isclose(total, 0.0) or np.isnan(total):
        return np.full(len(w), 1.0 / len(w))
    return w / total


@dataclass
class TwoStageResult:
    """Rows of navsim's two-stage CSV and what could not be aggregated.

    Attributes:
        rows: one dict per scored scene (``token, valid, <c>_stage_one…, <c>_stage_two…, score``; a row's
            stage-one columns are filled iff it is an original scene), then the three summary rows
            :data:`TWO_STAGE_SUMMARY_TOKENS`.
        weights: token → follow-up weight (1.0 for stage-1 rows of a mapping).
        incomplete: one line per mapping with a missing companion or follow-up.
    """

    rows: list[dict[str, Any]]
    weights: dict[str, float]
    incomplete: list[str]

    @property
    def combined_score(self) -> float:
        """The two-stage EPDMS (``score`` of ``extended_pdm_score_combined``)."""
        return float(self.rows[-1]["score"])


def _ec(cur: FrameResult, prev: FrameResult, thresholds: ExtendedComfortThresholds, step_s: float) -> float:
    value, _ = extended_comfort(
        cur.states[None], prev.states[None], cur.time_s - prev.time_s, step_s, thresholds
    )
    return float(value[0])


def _weighted(values: list[NDArray[np.float64]], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """navsim ``calculate_weighted_average_score``: NaN for an empty group."""
    if not values or weights.sum() == 0:
        return np.full(len(SCORE_COLUMNS), np.nan)
    return (np.stack(values) * weights[:, None]).sum(axis=0) / weights.sum()


def _nanmean(rows: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    if not rows:
        return np.full(len(SCORE_COLUMNS), np.nan)
    a = np.stack(rows)
    with np.errstate(invalid="ignore"):
        count = np.sum(~np.isnan(a), axis=0)
        return np.where(count > 0, np.nansum(a, axis=0) / np.maximum(count, 1), np.nan)


def two_stage_rows(
    frames: Sequence[StageRow],
    mappings: Sequence[TwoStageMapping],
    weights: tuple[float, ...] = (5.0, 5.0, 2.0, 2.0, 2.0),
    thresholds: ExtendedComfortThresholds = _EC,
    sigma_squared: float = SIGMA_SQUARED,
    step_s: float = 0.1,
) -> TwoStageResult:
    """navsim v2.2's two-stage aggregation of scored scenes (see the module docstring).

    Args:
        frames: every scored scene of both stages (original and synthetic), each with its chosen plan's metrics,
            ``[41, 11]`` simulated states, time, end point and start point. Invalid rows (``valid=False``)
            are kept as rows but not aggregated.
        mappings: :func:`parse_mappings` of the split's ``reactive_all_mapping``.
    """
    by_token = {f.token: f for f in frames if f.valid}
    ec: dict[str, float] = {}
    weight: dict[str, float] = {}
    incomplete: list[str] = []
    used: list[tuple[TwoStageMapping, list[tuple[str, str]]]] = []
    for m in mappings:
        if m.orig not in by_token and m.prev not in by_token:
            continue
        missing = [t for t in (m.orig, m.prev) if t not in by_token]
        if not missing:
            ec[m.orig] = ec[m.prev] = _ec(by_token[m.orig], by_token[m.prev], thresholds, step_s)
            weight[m.orig] = weight[m.prev] = 1.0
        else:
            for t in (m.orig, m.prev):
                if t in by_token:
                    weight[t] = 1.0
        present = [(a, b) for a, b in m.pairs if a in by_token and b in by_token]
        absent = [t for pair in m.pairs for t in pair if t not in by_token]
        if absent:
            missing.extend(absent)
        for a, b in present:
            ec[a] = ec[b] = _ec(by_token[a], by_token[b], thresholds, step_s)
        for stage_one, group in ((m.orig, [a for a, _ in present]), (m.prev, [b for _, b in present])):
            if stage_one in by_token and group:
                w = follow_up_weights(
                    by_token[stage_one].endpoint, [by_token[t].start_point for t in group], sigma_squared
                )
                weight.update(zip(group, w.tolist(), strict=True))
        if missing:
            incomplete.append(f"mapping {m.orig}/{m.prev}: not scored: {', '.join(missing)}")
        used.append((m, present))

    values: dict[str, NDArray[np.float64]] = {}
    rows: list[dict[str, Any]] = []
    for f in frames:
        e = ec.get(f.token, np.nan) if f.valid else np.nan
        metrics = {k: float(f.metrics.get(k, np.nan)) if f.valid else np.nan for k in SUBMETRICS}
        score = float(final_scores({k: [v] for k, v in metrics.items()}, [e], weights)[0])
        vec = np.array([*(metrics[k] for k in SUBMETRICS), e, score])
        if f.valid:
            values[f.token] = vec
        stage = "stage_one" if f.scene_type == ORIGINAL else "stage_two"
        row: dict[str, Any] = {"token": f.token, "valid": bool(f.valid)}
        for s in ("stage_one", "stage_two"):
            for k, v in zip(SCORE_COLUMNS[:-1], vec[:-1], strict=True):
                row[f"{k}_{s}"] = float(v) if s == stage else np.nan
        row["score"] = score
        if f.reason:
            row["reason"] = f.reason
        rows.append(row)

    group, stage1, stage2 = [], [], []
    for m, present in used:
        nan = np.full(len(SCORE_COLUMNS), np.nan)
        s_orig, s_prev = values.get(m.orig, nan), values.get(m.prev, nan)
        now = [a for a, _ in present]
        before = [b for _, b in present]
        g_now = _weighted([values[t] for t in now], np.array([weight[t] for t in now]))
        g_before = _weighted([values[t] for t in before], np.array([weight[t] for t in before]))
        stage1 += [s_orig, s_prev]
        stage2 += [g_now, g_before]
        group.append((s_orig * g_now + s_prev * g_before) / 2.0)
    combined, one, two = _nanmean(group), _nanmean(stage1), _nanmean(stage2)

    valid = not incomplete and all(f.valid for f in frames)
    for token, parts in zip(TWO_STAGE_SUMMARY_TOKENS, ((one, None), (None, two), (one, two)), strict=True):
        row = {"token": token, "valid": valid}
        for s, vec in zip(("stage_one", "stage_two"), parts, strict=True):
            for k, v in zip(SCORE_COLUMNS[:-1], vec[:-1] if vec is not None else [np.nan] * 9, strict=True):
                row[f"{k}_{s}"] = float(v)
        score_from = {"extended_pdm_score_stage_one": one, "extended_pdm_score_stage_two": two}.get(
            token, combined
        )
        row["score"] = float(score_from[-1])
        rows.append(row)
    return TwoStageResult(rows=rows, weights=weight, incomplete=incomplete)
