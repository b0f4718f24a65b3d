"""Fusion of the FC probability into a planner's selection score, and the choice of its weight.

``fused = base_log_score + w_fc · log σ(FC)`` — the same log-domain form as DrivoR's PDMS surrogate
(``noc·logσ(NC) + dac·logσ(DAC) + …``), so the FC head acts as one more multiplicative sub-score.
``w_fc`` is chosen on a validation split only; :func:`choose_w_fc` refuses data marked as test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor


def fused_score(base_log_score: Tensor, fc_prob: Tensor, w_fc: float, eps: float = 1e-6) -> Tensor:
    """``base + w_fc · log(clamp(fc_prob, eps, 1))``, shapes ``[..., K]`` broadcast."""
    base = torch.as_tensor(base_log_score)
    p = torch.as_tensor(fc_prob, dtype=base.dtype if base.is_floating_point() else torch.float64)
    if w_fc < 0:
        raise ValueError(f"w_fc must be >= 0, got {w_fc}")
    return base + w_fc * torch.log(p.clamp(eps, 1.0))


def fused_score_from_logits(base_log_score: Tensor, fc_logit: Tensor, w_fc: float) -> Tensor:
    """``base + w_fc · logσ(fc_logit)`` computed stably from logits, shapes ``[..., K]``."""
    if w_fc < 0:
        raise ValueError(f"w_fc must be >= 0, got {w_fc}")
    return torch.as_tensor(base_log_score) + w_fc * torch.nn.functional.logsigmoid(torch.as_tensor(fc_logit))


def select(scores: ArrayLike, mask: ArrayLike | None = None) -> NDArray[np.int64]:
    """Argmax over the last axis ``[..., K]`` → ``[...]`` indices; masked-out candidates never chosen
    (first index wins ties)."""
    s = np.asarray(scores, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if not m.any(axis=-1).all():
            raise ValueError("select: a scene has no valid candidate in mask")
        s = np.where(m, s, -np.inf)
    return np.argmax(s, axis=-1)


@dataclass
class ValidationData:
    """Per-scene candidate arrays of a *validation* split.

    Attributes:
        base_log_score: ``[M, K]`` planner's selection score (log domain).
        fc_prob: ``[M, K]`` FC probabilities in (0, 1).
        target: ``[M, K]`` quantity to maximise for the selected candidate, e.g. the true PDMS.
        split: split name; ``"test"`` is refused.
        mask: optional ``[M, K]`` bool of real candidates (padding = False).
        keep: optional ``{name: [M, K]}`` quantities whose mean over the selected candidates must not drop
            below the planner's own selection (``w_fc = 0``), e.g. the true PDM sub-scores.
    """

    base_log_score: NDArray
    fc_prob: NDArray
    target: NDArray
    split: str = "val"
    mask: NDArray | None = None
    keep: dict[str, NDArray] | None = None

    def __post_init__(self) -> None:
        shapes = {np.shape(self.base_log_score), np.shape(self.fc_prob), np.shape(self.target)}
        shapes |= {np.shape(v) for v in (self.keep or {}).values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"ValidationData: expected equal [M, K] arrays, got shapes {sorted(shapes)}")


@dataclass
class WeightChoice:
    """Result of :func:`choose_w_fc`: the chosen weight, the mean target per grid value, and per grid value
    whether every ``keep`` mean stays at or above the planner's own (``w_fc = 0``); ``lowered`` names the
    quantities a weight lowers."""

    w_fc: float
    grid: list[float]
    mean_target: list[float]
    feasible: list[bool] | None = None
    lowered: dict[str, list[str]] | None = None


def choose_w_fc(val_data: ValidationData, grid: Sequence[float], tolerance: float = 0.0) -> WeightChoice:
    """Pick ``w_fc`` in ``grid`` maximising the mean target of the selected candidates on validation data.

    With ``val_data.keep``, only weights whose selections keep the mean of every ``keep`` quantity at or
    above the planner's own selection (``w_fc = 0``, minus ``tolerance``) are eligible; ``w_fc = 0`` always is.
    Ties go to the smallest weight (the least change to the planner).

    Raises:
        ValueError: if the data is from the test split, or the grid is empty / negative.
    """
    if val_data.split.lower() in {"test", "navtest", "private_test_e2e"}:
        raise ValueError(f"w_fc must be chosen on a validation split, never on {val_data.split!r}")
    g = sorted(float(w) for w in grid)
    if not g or g[0] < 0:
        raise ValueError(f"grid must be a non-empty list of weights >= 0, got {list(grid)}")
    base = torch.as_tensor(np.asarray(val_data.base_log_score, dtype=np.float64))
    prob = torch.as_tensor(np.asarray(val_data.fc_prob, dtype=np.float64))
    target = np.asarray(val_data.target, dtype=np.float64)
    keep = {k: np.asarray(v, dtype=np.float64) for k, v in (val_data.keep or {}).items()}

    def chosen_means(w: float) -> tuple[float, dict[str, float]]:
        idx = select(fused_score(base, prob, w).numpy(), val_data.mask)[:, None]
        picked = {k: float(np.take_along_axis(v, idx, axis=1).mean()) for k, v in keep.items()}
        return float(np.take_along_axis(target, idx, axis=1).mean()), picked

    _, reference = chosen_means(0.0)
    means, feasible, lowered = [], [], {}
    for w in g:
        mean, picked = chosen_means(w)
        low = [k for k in keep if picked[k] < reference[k] - tolerance]
        means.append(mean)
        feasible.append(not low)
        lowered[str(w)] = low
    eligible = [m if ok else -np.inf for m, ok in zip(means, feasible, strict=True)]
    if not np.isfinite(max(eligible)):  # a grid without 0 where every weight lowers something: no fusion
        return WeightChoice(w_fc=0.0, grid=g, mean_target=means, feasible=feasible, lowered=lowered)
    best = int(np.argmax(eligible))  # first maximum = smallest weight
    return WeightChoice(w_fc=g[best], grid=g, mean_target=means, feasible=feasible if keep else None,
                        lowered=lowered if keep else None)
