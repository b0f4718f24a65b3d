"""DrivoR's selection rule: a log-domain PDM-score surrogate from sub-score logits, then argmax.

``score = noc·logσ(NC) + dac·logσ(DAC) + ddc·logσ(DDC) + log(ttc·σ(TTC) + ep·σ(EP) + comfort·σ(C))
          + Σ_i w_i·logσ(X_i)``                                        (extra terms, e.g. X = FC)

A scorer with NAVSIM v2 sub-score logits (``NC DAC DDC TLC EP TTC LK HC EC``, the learned DrivoR-form scorer
trained with ``targets=v2``) adds the EPDMS terms the same way: ``tlc·logσ(TLC)`` next to the multipliers and
``lk·σ(LK) + hc·σ(HC) + ec·σ(EC)`` inside the log (their weights default to 0: v1 presets are unchanged).

The official code (``drivor_model.py``) evaluates ``sigmoid().log()``. In float32 the sigmoid of a
logit below ≈ −88 flushes to 0 and its log is −inf; with a zero weight (v1: ``ddc = 0``) the product
``0·(−inf)`` is NaN, and ``torch.argmax`` treats NaN as the maximum, so the official code can *select*
that proposal. Here:

* ``logσ`` is ``F.logsigmoid`` (finite for every finite logit, equal to ``sigmoid().log()`` to float32
  rounding wherever the latter is finite);
* a term whose weight is 0 is left out (so it contributes exactly 0, as ``0·finite`` does officially);
* the weighted sum of probabilities is computed as ``logsumexp(log w_i + logσ(x_i))`` over the
  positive weights, which is finite where the official ``log(Σ w σ)`` underflows to −inf;
* a score that is still NaN (a NaN logit) becomes −inf before the argmax, so it is never selected;
  a scene whose scores are all NaN raises an error.

Upstream DrivoR (valeoai/DrivoR after the released ``bf881c6`` the golden data comes from) now clamps every
probability at 1e-7 before the log, which also avoids the NaN but floors each term at log(1e-7) ≈ −16.1;
``SelectionWeights(prob_floor=1e-7)`` (config ``prob_floor: 1e-7``) reproduces that variant exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from inspatio_drive.contracts import Candidates

V2_WEIGHTS = ("tlc", "lk", "hc", "ec")
"""Weights of the NAVSIM v2 sub-score logits (0 in the v1 presets)."""


@dataclass(frozen=True)
class SelectionWeights:
    """Weights of DrivoR's selection formula; ``extra`` maps a logit name (e.g. ``"FC"``) to its weight
    in ``+ w·logσ(logit)``. All weights must be finite and >= 0."""

    noc: float = 1.0
    dac: float = 1.0
    ddc: float = 0.0
    ttc: float = 5.0
    ep: float = 5.0
    comfort: float = 2.0
    extra: Mapping[str, float] = field(default_factory=dict)
    prob_floor: float | None = None
    tlc: float = 0.0
    lk: float = 0.0
    hc: float = 0.0
    ec: float = 0.0

    def __post_init__(self) -> None:
        if self.prob_floor is not None and not (0.0 < float(self.prob_floor) < 1.0):
            raise ValueError(
                f"SelectionWeights.prob_floor must be in (0, 1) or None, got {self.prob_floor!r}"
            )
        values = {
            "noc": self.noc, "dac": self.dac, "ddc": self.ddc,
            "ttc": self.ttc, "ep": self.ep, "comfort": self.comfort,
            "tlc": self.tlc, "lk": self.lk, "hc": self.hc, "ec": self.ec,
            **{f"extra.{k}": v for k, v in self.extra.items()},
        }  # fmt: skip
        for name, v in values.items():
            if not (math.isfinite(float(v)) and float(v) >= 0.0):
                raise ValueError(f"SelectionWeights.{name} must be a finite number >= 0, got {v!r}")

    @classmethod
    def from_config(cls, cfg: Mapping) -> SelectionWeights:
        """From a mapping such as ``configs/planner/selection/v1.yaml`` (keys noc … comfort, tlc, lk, hc, ec,
        extra)."""
        known = {"noc", "dac", "ddc", "ttc", "ep", "comfort", *V2_WEIGHTS, "extra", "name", "prob_floor"}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"selection config: unknown keys {sorted(unknown)}; expected {sorted(known)}")
        extra = {str(k): float(v) for k, v in dict(cfg.get("extra") or {}).items()}
        return cls(
            **{k: float(cfg[k]) for k in ("noc", "dac", "ddc", "ttc", "ep", "comfort", *V2_WEIGHTS) if k in cfg},
            extra=extra,
            prob_floor=None if cfg.get("prob_floor") is None else float(cfg["prob_floor"]),
        )


# DrivoR's published weight sets (drivoR.yaml / README NAVSIM v1 and v2 evaluation).
DRIVOR_V1 = SelectionWeights(noc=1.0, dac=1.0, ddc=0.0, ttc=5.0, ep=5.0, comfort=2.0)
DRIVOR_V2 = SelectionWeights(noc=10.0, dac=13.0, ddc=6.0, ttc=14.0, ep=15.0, comfort=2.0)

DRIVOR_V2_TARGETS = SelectionWeights(noc=10.0, dac=13.0, ddc=6.0, ttc=14.0, ep=15.0, comfort=0.0,
                                     tlc=10.0, lk=2.0, hc=2.0, ec=2.0)
"""DrivoR's v2 weights for a scorer with v2 sub-score logits (issue 21; DrivoR itself has no TLC / LK / EC heads —
its ``lane_keeping`` / ``traffic_light`` heads are commented out): NC 10, DAC 13, DDC 6, TTC 14, EP 15 as DrivoR;
comfort's 2 goes to HC (v2's comfort); TLC, a hard multiplier like NC, takes NC's 10; LK and EC take EPDMS' own
weight 2, as DrivoR keeps comfort at EPDMS' 2."""

_MULTIPLICATIVE = (("noc", "NC"), ("dac", "DAC"), ("ddc", "DDC"), ("tlc", "TLC"))
_ADDITIVE = (("ttc", "TTC"), ("ep", "EP"), ("comfort", "C"), ("lk", "LK"), ("hc", "HC"), ("ec", "EC"))


def needed_logits(weights: SelectionWeights) -> tuple[str, ...]:
    """The logit names a selection with ``weights`` reads (those whose weight is > 0, and the extra terms)."""
    names = [lname for wname, lname in (*_MULTIPLICATIVE, *_ADDITIVE) if float(getattr(weights, wname)) > 0.0]
    return (*names, *(k for k, w in weights.extra.items() if float(w) > 0.0))


def _need(logits: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    if name not in logits:
        raise KeyError(
            f"selection: logit {name!r} is needed (its weight is > 0) but only {sorted(logits)} were given"
        )
    return logits[name]


ExtraTerms = Mapping[str, tuple[float, torch.Tensor]]
"""Extra selection terms ``{name: (weight, logit [*B, K])}``, each adding ``weight·logσ(logit)``."""


def selection_score(
    logits: Mapping[str, torch.Tensor],
    weights: SelectionWeights = DRIVOR_V1,
    extra_terms: ExtraTerms | None = None,
) -> torch.Tensor:
    """Selection score per candidate.

    Args:
        logits: ``{name: [*B, K]}`` with names ``NC, DAC, DDC, TTC, EP, C`` (and ``TLC, LK, HC, EC``), those
            with weight > 0 (:func:`needed_logits`), and the keys of ``weights.extra``.
        weights: the formula's weights.
        extra_terms: more terms ``{name: (weight, logit [*B, K])}``, each adding ``weight·logσ(logit)``
            (e.g. the future-consistency head), on top of ``weights.extra``.

    Returns:
        ``[*B, K]`` scores in the logits' dtype; NaN only where an input logit is NaN.
    """
    score: torch.Tensor | None = None
    floor = None if weights.prob_floor is None else math.log(weights.prob_floor)

    def add(term: torch.Tensor) -> None:
        nonlocal score
        score = term if score is None else score + term

    def log_p(x: torch.Tensor) -> torch.Tensor:  # log σ(x), floored like upstream's clamp(min=eps).log()
        lp = F.logsigmoid(x)
        return lp if floor is None else lp.clamp(min=floor)

    for wname, lname in _MULTIPLICATIVE:
        w = float(getattr(weights, wname))
        if w > 0.0:
            add(w * log_p(_need(logits, lname)))
    parts = []
    for wname, lname in _ADDITIVE:
        w = float(getattr(weights, wname))
        if w > 0.0:
            parts.append(math.log(w) + F.logsigmoid(_need(logits, lname)))
    if parts:
        additive = torch.logsumexp(torch.stack(parts), dim=0)
        add(additive if floor is None else additive.clamp(min=floor))
    terms = [(float(w), _need(logits, lname)) for lname, w in weights.extra.items()]
    for name, (w, logit) in (extra_terms or {}).items():
        if not (math.isfinite(float(w)) and float(w) >= 0.0):
            raise ValueError(f"selection: extra term {name!r} weight must be a finite number >= 0, got {w!r}")
        terms.append((float(w), logit))
    for w, logit in terms:
        if w > 0.0:
            add(w * log_p(logit))
    if score is None:
        raise ValueError("selection: every weight is 0, nothing to select on")
    return score


def official_selection_score(
    logits: Mapping[str, torch.Tensor], weights: SelectionWeights = DRIVOR_V1
) -> torch.Tensor:
    """DrivoR's literal formula, for comparison only. Without ``weights.prob_floor`` it is the released code
    (``sigmoid().log()``, zero weights multiplied in: NaN / −inf for logits below ≈ −88 in float32); with it,
    the current upstream code (``sigmoid().clamp(min=prob_floor).log()``). Extra terms are added the same way."""
    eps = weights.prob_floor

    def log(p: torch.Tensor) -> torch.Tensor:
        return (p if eps is None else p.clamp(min=eps)).log()

    s = torch.sigmoid
    score = (
        weights.noc * log(s(logits["NC"]))
        + weights.dac * log(s(logits["DAC"]))
        + weights.ddc * log(s(logits["DDC"]))
        + log(
            weights.ttc * s(logits["TTC"]) + weights.ep * s(logits["EP"]) + weights.comfort * s(logits["C"])
        )
    )
    for lname, w in weights.extra.items():
        score = score + float(w) * log(s(logits[lname]))
    return score


def argmax_valid(scores: torch.Tensor) -> torch.Tensor:
    """Index of the best candidate ``[*B]`` from scores ``[*B, K]``: argmax (first maximum wins ties,
    as ``torch.argmax``), with NaN treated as −inf so a NaN is never selected.

    Raises:
        ValueError: if every score of a scene is NaN.
    """
    nan = torch.isnan(scores)
    if bool(nan.all(dim=-1).any()):
        raise ValueError("select: every candidate score of a scene is NaN (NaN logits from the planner?)")
    return torch.argmax(scores.masked_fill(nan, float("-inf")), dim=-1)


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select`: ``index [*B]``, ``trajectory [*B, T, 3]``, ``scores [*B, K]``."""

    index: torch.Tensor
    trajectory: torch.Tensor
    scores: torch.Tensor


def select(
    candidates: Candidates,
    weights: SelectionWeights = DRIVOR_V1,
    extra_terms: ExtraTerms | None = None,
) -> Selection:
    """DrivoR's selection: score every candidate from its logits (:func:`selection_score`) and pick the
    argmax (NaN never selected).

    Args:
        candidates: ``poses [*B, K, T, 3]`` with ``logits`` (names ``NC … C`` and ``weights.extra`` keys).
        weights: v1 / v2 / custom weights.
        extra_terms: ``{name: (weight, logit [*B, K])}`` added as ``weight·logσ(logit)``.
    """
    if candidates.logits is None:
        if (
            candidates.num_candidates == 1 and not extra_terms
        ):  # a single-trajectory planner (constant velocity)
            lead = candidates.poses.shape[:-3]
            return Selection(
                index=torch.zeros(lead, dtype=torch.long),
                trajectory=candidates.poses[..., 0, :, :],
                scores=torch.zeros((*lead, 1), dtype=candidates.poses.dtype),
            )
        raise ValueError(
            f"select: {candidates.num_candidates} candidates without logits; score them first (planners.scoring)"
        )
    scores = selection_score(candidates.logits, weights, extra_terms)
    idx = argmax_valid(scores)
    trajectory = torch.take_along_dim(candidates.poses, idx[..., None, None, None], dim=-3).squeeze(-3)
    return Selection(index=idx, trajectory=trajectory, scores=scores)
