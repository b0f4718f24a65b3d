"""DrivoR's selection formula, its v1/v2 weights from config, extra terms and NaN safety."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from inspatio_drive.contracts import Candidates
from inspatio_drive.contracts.selection import (
    DRIVOR_V1,
    DRIVOR_V2,
    SelectionWeights,
    argmax_valid,
    official_selection_score,
    select,
    selection_score,
)
from planners.factory import weights_preset

NAMES = ("NC", "DAC", "DDC", "TTC", "EP", "C")


def _logits(b: int = 3, k: int = 16, seed: int = 0, scale: float = 4.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(b, k, generator=g) * 2 - 1) * scale for n in NAMES}


@pytest.mark.parametrize("weights", [DRIVOR_V1, DRIVOR_V2])
def test_matches_official_formula_in_normal_range(weights):
    logits = _logits()
    torch.testing.assert_close(selection_score(logits, weights), official_selection_score(logits, weights))


def test_formula_by_hand_float64():
    logits = {n: v.double() for n, v in _logits(1, 5).items()}
    s = torch.sigmoid
    w = DRIVOR_V2
    ref = (
        10 * s(logits["NC"]).log() + 13 * s(logits["DAC"]).log() + 6 * s(logits["DDC"]).log()
        + (14 * s(logits["TTC"]) + 15 * s(logits["EP"]) + 2 * s(logits["C"])).log()
    )  # fmt: skip
    torch.testing.assert_close(selection_score(logits, w), ref)


def test_presets_from_config_files():
    assert weights_preset("v1") == DRIVOR_V1
    assert weights_preset("v2") == DRIVOR_V2
    assert (DRIVOR_V1.noc, DRIVOR_V1.dac, DRIVOR_V1.ddc, DRIVOR_V1.ttc, DRIVOR_V1.ep, DRIVOR_V1.comfort) == (
        1,
        1,
        0,
        5,
        5,
        2,
    )
    assert (DRIVOR_V2.noc, DRIVOR_V2.dac, DRIVOR_V2.ddc, DRIVOR_V2.ttc, DRIVOR_V2.ep, DRIVOR_V2.comfort) == (
        10, 13, 6, 14, 15, 2,
    )  # fmt: skip
    cfg = OmegaConf.create({"noc": 2, "extra": {"FC": 3.0}})
    w = SelectionWeights.from_config(cfg)
    assert w.noc == 2 and w.ttc == 5 and dict(w.extra) == {"FC": 3.0}
    with pytest.raises(ValueError, match="unknown keys"):
        SelectionWeights.from_config({"nocc": 1})
    with pytest.raises(ValueError, match="finite number >= 0"):
        SelectionWeights(noc=-1)
    with pytest.raises(FileNotFoundError, match="v9"):
        weights_preset("v9")


def test_extra_terms_add_weighted_logsigmoid():
    logits = _logits()
    fc = torch.randn(3, 16)
    base = selection_score(logits, DRIVOR_V1)
    with_fc = selection_score(logits, DRIVOR_V1, {"FC": (2.5, fc)})
    torch.testing.assert_close(with_fc, base + 2.5 * torch.nn.functional.logsigmoid(fc))
    # the same term named through the weights (logit carried by the candidates)
    w = SelectionWeights(extra={"FC": 2.5})
    torch.testing.assert_close(selection_score({**logits, "FC": fc}, w), with_fc)
    # two extra terms add up
    x2 = torch.randn(3, 16)
    both = selection_score(logits, DRIVOR_V1, {"FC": (2.5, fc), "X": (1.0, x2)})
    torch.testing.assert_close(both, with_fc + torch.nn.functional.logsigmoid(x2))
    with pytest.raises(KeyError, match="FC"):
        selection_score(logits, w)


def test_extra_term_changes_the_choice():
    logits = {n: torch.zeros(1, 4) for n in NAMES}
    logits["EP"] = torch.tensor([[3.0, 0.0, 0.0, 0.0]])  # candidate 0 best without FC
    cands = Candidates(torch.arange(4.0)[:, None, None].expand(4, 8, 3)[None].clone(), logits)
    assert select(cands).index.item() == 0
    fc = torch.tensor([[-6.0, 6.0, 0.0, 0.0]])
    sel = select(cands, DRIVOR_V1, {"FC": (1.0, fc)})
    assert sel.index.item() == 1
    assert torch.equal(sel.trajectory, cands.poses[:, 1])
    assert sel.scores.shape == (1, 4)


def test_very_negative_logit_never_selected():
    """Official: logit < -88 gives σ = 0, log = -inf, 0·(-inf) = NaN with v1's ddc = 0 -> argmax picks it."""
    logits = {n: torch.full((1, 4), 2.0) for n in NAMES}
    logits["DDC"] = torch.tensor([[0.0, 0.0, -100.0, 0.0]])
    logits["NC"] = torch.tensor([[-1.0, 1.0, 1.0, 0.0]])
    official = official_selection_score(logits, DRIVOR_V1)
    assert torch.isnan(official[0, 2]) and torch.argmax(official).item() == 2  # the official bug
    ours = selection_score(logits, DRIVOR_V1)
    assert torch.isfinite(ours).all()
    assert argmax_valid(ours).item() == 1


def test_underflowing_additive_part_stays_finite():
    logits = {n: torch.zeros(1, 3) for n in NAMES}
    for n in ("TTC", "EP", "C"):
        logits[n] = torch.tensor([[-200.0, -120.0, -300.0]])
    assert torch.isinf(official_selection_score(logits, DRIVOR_V1)).all()
    ours = selection_score(logits, DRIVOR_V1)
    assert torch.isfinite(ours).all() and argmax_valid(ours).item() == 1


def test_nan_logit_is_skipped_and_all_nan_raises():
    scores = torch.tensor([[float("nan"), 1.0, 2.0], [0.5, float("nan"), 0.1]])
    assert argmax_valid(scores).tolist() == [2, 0]
    with pytest.raises(ValueError, match="NaN"):
        argmax_valid(torch.full((1, 3), float("nan")))


def test_ties_pick_first():
    assert argmax_valid(torch.tensor([[1.0, 3.0, 3.0]])).item() == 1


def test_select_needs_logits_unless_single():
    with pytest.raises(ValueError, match="4 candidates without logits"):
        select(Candidates(torch.zeros(4, 8, 3)))
    one = Candidates(torch.randn(1, 8, 3))
    sel = select(one)
    assert sel.index.item() == 0 and torch.equal(sel.trajectory, one.poses[0])


@pytest.mark.parametrize("weights", [DRIVOR_V1, DRIVOR_V2])
def test_prob_floor_matches_upstream_clamp(weights):
    """Current upstream DrivoR: sigmoid().clamp(min=1e-7).log(); ours with prob_floor=1e-7 is the same."""
    from dataclasses import replace

    floored = replace(weights, prob_floor=1e-7)
    logits = _logits(4, 32, seed=3, scale=40.0)  # many logits far below log(1e-7) ≈ -16.1
    ours = selection_score(logits, floored)
    upstream = official_selection_score(logits, floored)
    assert torch.isfinite(upstream).all()
    torch.testing.assert_close(ours, upstream, rtol=1e-5, atol=1e-4)
    assert torch.equal(argmax_valid(ours), argmax_valid(upstream))
    assert not torch.allclose(ours, selection_score(logits, weights))  # the floor matters here
    assert weights_preset("v1").prob_floor is None
    with pytest.raises(ValueError, match="prob_floor"):
        SelectionWeights(prob_floor=1.5)
