"""Two-stage EPDMS aggregation against rows computed by hand (navsim v2.2 ``run_pdm_score.py`` semantics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspatio_drive.pdm.types import StateIndex as S
from inspatio_drive.pdm.v2.scorer import SUBMETRICS
from inspatio_drive.pdm.v2.two_stage import (
    TWO_STAGE_SUMMARY_TOKENS,
    StageRow,
    follow_up_weights,
    parse_mappings,
    two_stage_rows,
)


def _states(accel: float = 0.0) -> np.ndarray:
    """[41, 11] straight drive at 5 m/s with a constant longitudinal acceleration entry (global)."""
    s = np.zeros((41, 11))
    t = np.arange(41) * 0.1
    s[:, S.X] = 5.0 * t
    s[:, S.VELOCITY_X] = 5.0
    s[:, S.ACCELERATION_X] = accel
    return s


def _row(token, time_s, ep, *, synthetic=False, end=(0.0, 0.0), start=(0.0, 0.0), accel=0.0, nc=1.0):
    metrics = {k: 1.0 for k in SUBMETRICS}
    metrics["ego_progress"] = ep
    metrics["no_at_fault_collisions"] = nc
    return StageRow(
        token=token,
        log_name="log",
        time_s=time_s,
        scene_type="SYNTHETIC" if synthetic else "ORIGINAL",
        metrics=metrics,
        states=_states(accel),
        endpoint=np.array(end),
        start_point=np.array(start),
    )


def _score(ep: float, ec: float, nc: float = 1.0) -> float:
    """EPDMS by hand: multiplier · (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16 with TTC = LK = HC = 1."""
    return nc * (5 * ep + 5 + 2 + 2 + 2 * ec) / 16


def test_weights_gaussian_and_uniform_fallback():
    w = follow_up_weights([0.0, 0.0], [[0.0, 0.0], [0.3, 0.4]])
    e = math.exp(-0.25 / 0.2)
    assert w == pytest.approx([1 / (1 + e), e / (1 + e)])
    # every start ≥ 2 m away: the kernel sum is below np.isclose's atol → uniform, as navsim
    assert follow_up_weights([0.0, 0.0], [[2.0, 0.0], [0.0, 3.0], [5.0, 5.0]]) == pytest.approx([1 / 3] * 3)


def test_near_and_far_mappings_by_hand():
    tok = lambda name: name.ljust(17, "x")  # noqa: E731 - 17-character synthetic tokens
    frames = [
        _row("orig1", 10.0, 0.8, end=(100.0, 0.0)),
        _row("prev1", 9.5, 0.6, end=(99.0, 0.0)),
        # near follow-ups of mapping 1: d = 0 and 0.5 m from orig1's end point
        _row(tok("n1a"), 14.0, 1.0, synthetic=True, start=(100.0, 0.0)),
        _row(tok("p1a"), 13.5, 1.0, synthetic=True, start=(99.0, 0.0)),
        _row(tok("n1b"), 14.0, 0.5, synthetic=True, start=(100.3, 0.4)),
        _row(tok("p1b"), 13.5, 0.5, synthetic=True, start=(99.0, 0.5), accel=3.0),  # EC(n1b|p1b) = 0
        # mapping 2: follow-ups 10 m away → uniform weights; orig2 collides (NC 0)
        _row("orig2", 20.0, 1.0, end=(0.0, 0.0), nc=0.0),
        _row("prev2", 19.5, 1.0, end=(0.0, 0.0)),
        _row(tok("n2a"), 24.0, 0.2, synthetic=True, start=(10.0, 0.0)),
        _row(tok("p2a"), 23.5, 0.2, synthetic=True, start=(10.0, 0.0)),
        _row(tok("n2b"), 24.0, 0.4, synthetic=True, start=(0.0, 10.0)),
        _row(tok("p2b"), 23.5, 0.4, synthetic=True, start=(0.0, 10.0)),
    ]
    mappings = parse_mappings(
        [
            ["orig1", "prev1", [[tok("n1a"), tok("p1a")], [tok("n1b"), tok("p1b")]]],
            ["orig2", "prev2", [[tok("n2a"), tok("p2a")], [tok("n2b"), tok("p2b")]]],
        ]
    )
    result = two_stage_rows(frames, mappings)
    rows = {r["token"]: r for r in result.rows}
    assert not result.incomplete

    # stage one: EC(orig|prev) = 1 on both rows
    s_o1, s_p1 = _score(0.8, 1), _score(0.6, 1)
    assert rows["orig1"]["score"] == pytest.approx(s_o1)
    assert rows["orig1"]["two_frame_extended_comfort_stage_one"] == 1.0
    assert math.isnan(rows["orig1"]["ego_progress_stage_two"])
    # follow-up pair b has EC 0 on both rows
    assert rows[tok("n1b")]["two_frame_extended_comfort_stage_two"] == 0.0
    assert rows[tok("p1b")]["score"] == pytest.approx(_score(0.5, 0))

    e = math.exp(-0.25 / 0.2)
    wa, wb = 1 / (1 + e), e / (1 + e)  # now group: d² = 0, 0.25
    e2 = math.exp(-0.25 / 0.2)  # prev group: p1a at d = 0, p1b at d = 0.5 from prev1's end (99, 0)
    va, vb = 1 / (1 + e2), e2 / (1 + e2)
    g_now1 = wa * _score(1.0, 1) + wb * _score(0.5, 0)
    g_prev1 = va * _score(1.0, 1) + vb * _score(0.5, 0)
    s_o2, s_p2 = _score(1.0, 1, nc=0.0), _score(1.0, 1)
    g_now2 = 0.5 * _score(0.2, 1) + 0.5 * _score(0.4, 1)
    g_prev2 = g_now2
    mapping1 = (s_o1 * g_now1 + s_p1 * g_prev1) / 2
    mapping2 = (s_o2 * g_now2 + s_p2 * g_prev2) / 2
    assert result.weights[tok("n1b")] == pytest.approx(wb)
    assert result.weights[tok("n2a")] == pytest.approx(0.5)

    one, two, combined = (rows[t] for t in TWO_STAGE_SUMMARY_TOKENS)
    assert one["score"] == pytest.approx((s_o1 + s_p1 + s_o2 + s_p2) / 4)
    assert two["score"] == pytest.approx((g_now1 + g_prev1 + g_now2 + g_prev2) / 4)
    assert combined["score"] == pytest.approx((mapping1 + mapping2) / 2)
    assert result.combined_score == combined["score"]
    # per-column aggregation, e.g. NC: stage-one mean over [1, 1, 0, 1]; combined uses the group products
    assert combined["no_at_fault_collisions_stage_one"] == pytest.approx(0.75)
    assert combined["ego_progress_stage_two"] == pytest.approx(
        (wa * 1.0 + wb * 0.5 + va * 1.0 + vb * 0.5 + 0.3 + 0.3) / 4
    )
    assert one["valid"] and two["valid"] and combined["valid"]
    assert list(rows["orig1"]) == [
        "token",
        "valid",
        *(f"{c}_stage_one" for c in (*SUBMETRICS, "two_frame_extended_comfort")),
        *(f"{c}_stage_two" for c in (*SUBMETRICS, "two_frame_extended_comfort")),
        "score",
    ]


def test_missing_follow_ups_are_reported_not_hidden():
    tok = lambda name: name.ljust(17, "x")  # noqa: E731
    frames = [
        _row("orig1", 10.0, 0.8),
        _row("prev1", 9.5, 0.6),
        _row(tok("n1a"), 14.0, 1.0, synthetic=True),
        _row(tok("p1a"), 13.5, 1.0, synthetic=True),
        # mapping 2 has no scored follow-up at all
        _row("orig2", 20.0, 1.0),
        _row("prev2", 19.5, 1.0),
    ]
    mappings = parse_mappings(
        [
            ["orig1", "prev1", [[tok("n1a"), tok("p1a")], [tok("n1b"), tok("p1b")]]],
            ["orig2", "prev2", [[tok("n2a"), tok("p2a")]]],
            ["elsewhere", "elsewhere_prev", [[tok("zz"), tok("zy")]]],  # not evaluated: ignored, as navsim
        ]
    )
    result = two_stage_rows(frames, mappings)
    assert len(result.incomplete) == 2
    assert tok("n1b") in result.incomplete[0] and tok("n2a") in result.incomplete[1]
    rows = {r["token"]: r for r in result.rows}
    combined = rows["extended_pdm_score_combined"]
    # mapping 1 over the follow-up present (weight renormalised to 1); mapping 2 NaN → skipped in the mean
    s_o1, s_p1, s_n = _score(0.8, 1), _score(0.6, 1), _score(1.0, 1)
    assert result.weights[tok("n1a")] == pytest.approx(1.0)
    assert combined["score"] == pytest.approx((s_o1 * s_n + s_p1 * s_n) / 2)
    assert combined["valid"] is False


def test_bad_mapping_entry_named():
    with pytest.raises(ValueError, match=r"reactive_all_mapping\[1\]"):
        parse_mappings([["a", "b", []], ["a", "b"]])
