"""Privileged PDM oracle scorer: logits from the true PDM sub-scores of every candidate.

Each sub-score ``p ∈ [0, 1]`` becomes the logit ``log(p / (1 − p))`` with ``p`` clipped to
``[eps, 1 − eps]``, so DrivoR's selection term ``logσ(logit)`` is ``log p`` (up to the clip): with v1
weights the selection then ranks candidates by ``NC·DAC·(5·TTC + 5·EP + 2·C)``, the PDM score itself.
The true PDM score is kept in ``extras["pdm_score"]`` and the raw sub-scores in ``extras["pdm_subscores"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from inspatio_drive.contracts import SUBSCORE_TO_NAVSIM, Candidates
from inspatio_drive.pdm import score_candidates

# our short name -> navsim PDMResults field (v1.1)
PDM_FIELDS: dict[str, str] = SUBSCORE_TO_NAVSIM

ScoreFn = Callable[[object, np.ndarray], object]
"""``score_fn(metric_cache, trajectories [K, T, 3] float64) -> results`` with the navsim ``PDMResults``
field names (attributes or mapping keys), each ``[K]``, plus ``score [K]``."""


def probability_to_logit(p: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """``log(p / (1 − p))`` with ``p`` clipped to ``[eps, 1 − eps]``."""
    q = p.double().clamp(eps, 1.0 - eps)
    return (torch.log(q) - torch.log1p(-q)).float()


def _field(results: object, name: str, k: int) -> torch.Tensor:
    value = results[name] if isinstance(results, Mapping) else getattr(results, name, None)
    if value is None:
        raise KeyError(
            f"PDM oracle: the score function's result has no {name!r} (expected navsim PDMResults fields)"
        )
    t = torch.as_tensor(np.asarray(value, dtype=np.float64)).reshape(-1)
    if t.shape != (k,):
        raise ValueError(
            f"PDM oracle: {name!r} has shape {tuple(t.shape)}, expected [{k}] (one per candidate)"
        )
    if not torch.isfinite(t).all() or (t < 0).any() or (t > 1).any():
        raise ValueError(f"PDM oracle: {name!r} must be in [0, 1], got {t.tolist()}")
    return t


def _default_score_fn() -> ScoreFn:
    return score_candidates


class PDMOracleScorer:
    """Privileged scorer: ``scorer(candidates, metric_cache) -> candidates`` with logits from true PDM sub-scores.

    Args:
        score_fn: ``(metric_cache, trajectories [K, T, 3]) -> PDM results``; default
            ``inspatio_drive.pdm.score_candidates`` (imported when first used).
        eps: probability clip for the logits.
    """

    name = "pdm_oracle"
    privileged = True

    def __init__(self, score_fn: ScoreFn | None = None, eps: float = 1e-4) -> None:
        self._score_fn = score_fn
        self.eps = eps

    @property
    def score_fn(self) -> ScoreFn:
        if self._score_fn is None:
            self._score_fn = _default_score_fn()
        return self._score_fn

    def subscores(self, poses: torch.Tensor, metric_cache: object) -> dict[str, torch.Tensor]:
        """True sub-scores ``{NC … C, PDMS}: [K]`` (float64) of candidates ``poses [K, T, 3]``."""
        if poses.ndim != 3:
            raise ValueError(
                f"PDM oracle: expected the candidates of one scene [K, T, 3], got {tuple(poses.shape)}"
            )
        k = poses.shape[0]
        results = self.score_fn(metric_cache, poses.detach().cpu().double().numpy())
        out = {short: _field(results, name, k) for short, name in PDM_FIELDS.items()}
        out["PDMS"] = _field(results, "score", k)
        return out

    def __call__(self, candidates: Candidates, metric_cache: object) -> Candidates:
        sub = self.subscores(candidates.poses, metric_cache)
        logits = {n: probability_to_logit(sub[n], self.eps) for n in PDM_FIELDS}
        scored = candidates.with_logits(logits)
        scored.extras.update({"pdm_score": sub["PDMS"].float(), "pdm_subscores": sub, "scorer": self.name})
        return scored
