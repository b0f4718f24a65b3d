"""Fusion of the FC probability into a planner's selection score, and the choice of its weight.

``fused = base_log_score + w_fc · log σ(FC)`` — the same log-domain form as DrivoR's PDMS surrogate
(``noc·logσ(NC) + dac·logσ(DAC) + …``), so the FC head acts as one more multiplicative sub-score.
``w_fc`` is chosen on a validation split only; :func:`choose_w_fc` refuses data marked as test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

DEFAULT_W_FC = 1.0
"""The fusion weight when none is configured (``w_fc: null`` in ``configs/evaluate.yaml`` / ``closed_loop.yaml``,
the navsim agent, :class:`planners.pipeline.PlanningPipeline`); choose a better one on a validation split."""

RENAMED_W_FC_KEYS: tuple[str, ...] = ("weight", "fc_weight")
"""Former names of ``w_fc`` in config nodes (``scorer.weight``, ``agent.fc_weight``); refused, naming ``w_fc``."""


def resolve_w_fc(w_fc: float | None) -> float:
    """The fusion weight to use: ``None`` → :data:`DEFAULT_W_FC`, else ``w_fc`` checked finite and ``>= 0``."""
    value = DEFAULT_W_FC if w_fc is None else float(w_fc)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"w_fc must be a finite number >= 0, got {value}")
    return value


def w_fc_from_config(node: Mapping[str, Any] | None, where: str = "scorer") -> float:
    """``w_fc`` of a config node (e.g. the ``scorer`` node of evaluate / closed-loop) through :func:`resolve_w_fc`.

    Raises:
        ValueError: the node uses a former name (``weight``, ``fc_weight``); the message names ``w_fc``.
    """
    node = node or {}
    for old in RENAMED_W_FC_KEYS:
        if old in node:
            raise ValueError(f"{where}.{old} was renamed: use {where}.w_fc")
    return resolve_w_fc(node.get("w_fc"))


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


def choose_w_fc(
    val_data: ValidationData, grid: Sequence[float], tolerance: float = 0.0, z: float = 0.0
) -> WeightChoice:
    """Pick ``w_fc`` in ``grid`` maximising the mean target of the selected candidates on validation data.

    With ``val_data.keep``, a weight is eligible only if it lowers no ``keep`` quantity against the planner's
    own selection (``w_fc = 0``): for each, the per-scene paired difference ``d`` (weight − planner) must have
    ``mean(d) ≥ −(tolerance + z·SE(d))`` with ``SE = std(d)/√M``. ``z = 0`` is the strict rule (no drop at all on
    the validation scenes); ``z = 1.645`` excludes only drops significant in a one-sided paired test at 95 %.
    ``w_fc = 0`` is always eligible. Ties go to the smallest weight (the least change to the planner).

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

    if tolerance < 0 or z < 0:
        raise ValueError(f"tolerance and z must be >= 0, got {tolerance}, {z}")

    def chosen(w: float) -> tuple[float, dict[str, NDArray[np.float64]]]:
        idx = select(fused_score(base, prob, w).numpy(), val_data.mask)[:, None]
        picked = {k: np.take_along_axis(v, idx, axis=1)[:, 0] for k, v in keep.items()}
        return float(np.take_along_axis(target, idx, axis=1).mean()), picked

    def drops(d: NDArray[np.float64]) -> bool:
        se = float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else 0.0
        return float(d.mean()) < -(tolerance + z * se)

    _, reference = chosen(0.0)
    means, feasible, lowered = [], [], {}
    for w in g:
        mean, picked = chosen(w)
        low = [k for k in keep if drops(picked[k] - reference[k])]
        means.append(mean)
        feasible.append(not low)
        lowered[str(w)] = low
    eligible = [m if ok else -np.inf for m, ok in zip(means, feasible, strict=True)]
    best = int(np.argmax(eligible))  # first maximum = smallest weight
    # a grid without 0 where every weight lowers something: no fusion
    w_fc = g[best] if np.isfinite(eligible[best]) else 0.0
    return WeightChoice(w_fc=w_fc, grid=g, mean_target=means, feasible=feasible if keep else None,
                        lowered=lowered if keep else None)
