"""The future-consistency scorer: features → FC head → probability per candidate, and re-ranking.

scorer = FutureConsistencyScorer.from_checkpoint("fc_head.safetensors")
fc = scorer.score(ScorerInputs(candidates=..., points=..., ...))   # fc.prob [K]
fused, idx = scorer.rerank(base_log_score, fc)                       # base + w_fc · log σ(FC)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from inspatio_drive.contracts import FCOutput
from scorers.features import FeatureConfig, FeatureTable, Mode, ScorerInputs, compute_features
from scorers.fusion import fused_score_from_logits, select
from scorers.head import FCHead, load_head


@dataclass
class TableFCOutput(FCOutput):
    """The FC contract's :class:`~inspatio_drive.contracts.FCOutput` (``logit [K]``, ``prob``, named ``features``,
    ``privileged``) with the feature table behind it.

    Attributes:
        table: the :class:`FeatureTable` the head read.
        mode: ``honest`` or ``privileged`` (what the features used).
    """

    table: FeatureTable | None = None
    mode: Mode = "honest"


class FutureConsistencyScorer:
    """Runs :func:`scorers.features.compute_features` and an :class:`FCHead`.

    Args:
        head: trained head (its feature names select the table columns).
        feature_cfg: feature knobs.
        mode: ``honest`` (default) or ``privileged``; a head trained on privileged features only runs in
            privileged mode.
        w_fc: fusion weight for :meth:`rerank` (from the checkpoint when loaded with :meth:`from_checkpoint`).
        head_privileged: whether the head was trained on privileged features.
    """

    def __init__(
        self,
        head: FCHead,
        feature_cfg: FeatureConfig | None = None,
        mode: Mode = "honest",
        w_fc: float | None = None,
        head_privileged: bool = False,
    ):
        if head_privileged and mode != "privileged":
            raise ValueError("this FC head was trained on privileged features: use mode='privileged'")
        self.head = head.eval()
        self.feature_cfg = feature_cfg or FeatureConfig()
        self.mode: Mode = mode
        self.w_fc = w_fc

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, feature_cfg: FeatureConfig | None = None, mode: Mode | None = None
    ) -> FutureConsistencyScorer:
        """Load a ``train-fc`` checkpoint; ``mode`` defaults to what the head was trained with."""
        head, info = load_head(path)
        w = info["extra"].get("w_fc")
        trained_mode: Mode = "privileged" if info["privileged"] else "honest"
        return cls(
            head, feature_cfg, mode or trained_mode, None if w is None else float(w), info["privileged"]
        )

    def score(self, inputs: ScorerInputs) -> TableFCOutput:
        """Features and FC probability for every candidate of one scene."""
        table = compute_features(inputs, self.feature_cfg, self.mode)
        x = table.select(self.head.feature_names)
        with torch.no_grad():
            logit = self.head(x)
        features = {n: table.column(n) for n in table.names}
        return TableFCOutput(logit=logit, features=features, privileged=self.mode == "privileged", table=table,
                             mode=self.mode)

    def rerank(
        self, base_log_score: Tensor, fc: FCOutput, w_fc: float | None = None
    ) -> tuple[Tensor, np.int64]:
        """``base + w_fc · log σ(FC)`` over ``[K]`` candidates and the chosen index."""
        w = self.w_fc if w_fc is None else w_fc
        if w is None:
            raise ValueError(
                "no w_fc: the checkpoint has none; choose it on validation (choose_w_fc) and pass it"
            )
        fused = fused_score_from_logits(
            torch.as_tensor(base_log_score, dtype=torch.float64), fc.logit.double(), w
        )
        return fused, select(fused.numpy())
