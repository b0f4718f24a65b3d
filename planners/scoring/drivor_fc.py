"""FC inputs on the real DrivoR (issue 21, ``planner=drivor fc=features``): the frozen port's scorer tokens plus an
embedding of every candidate's FC features, into DrivoR's own sub-score heads.

``DrivoRFCHeads(batch) -> {NC, DAC, DDC, TTC, EP, C: logits [B, K]}`` with ``batch``:

* ``tokens`` float ``[B, K, d_model]`` — the frozen DrivoR's ``scorer_tokens`` (its heads' input;
  :class:`planners.drivor.model.DrivoRModel` returns them, :class:`~planners.drivor.planner.DrivoRPlanner` puts them in
  ``Candidates.features``);
* ``fc`` float ``[B, K, F]`` — FC features of the same candidates (:class:`scorers.geometric.GeometricFC`).

``logits = heads(tokens + fc_embed(standardise(fc)))``. The heads start as a copy of the checkpoint's
``scorer.pred_score`` and the embedding's last layer starts at zero, so before training the logits are DrivoR's own
(tested); training (:func:`scorers.head_training.train_heads` on frozen tokens, DrivoR's BCE per sub-score) changes
only the FC embedding and these heads — nothing of the port is trained.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE
from planners.drivor.model import Scorer


class DrivoRFCHeads(nn.Module):
    """See the module docstring.

    Args:
        scorer: the DrivoR port's :class:`~planners.drivor.model.Scorer` (copied, so the port stays frozen).
        fc_names: names of the F FC features (their order in ``batch["fc"]``).
        hidden: width of the FC embedding MLP.
    """

    def __init__(self, scorer: Scorer, fc_names: Sequence[str], hidden: int = 128) -> None:
        super().__init__()
        self.fc_names = tuple(fc_names)
        if not self.fc_names:
            raise ValueError("DrivoRFCHeads needs at least one FC feature")
        first = next(iter(scorer.pred_score.values()))[0]
        self.d_model = int(first.in_features)
        self.heads = copy.deepcopy(scorer)
        f = len(self.fc_names)
        self.fc_embed = nn.Sequential(nn.Linear(f, hidden), nn.GELU(), nn.Linear(hidden, self.d_model))
        nn.init.zeros_(self.fc_embed[2].weight)
        nn.init.zeros_(self.fc_embed[2].bias)
        self.register_buffer("fc_mean", torch.zeros(f))
        self.register_buffer("fc_std", torch.ones(f))

    @torch.no_grad()
    def fit_normalization(self, fc: torch.Tensor) -> None:
        """FC mean / std from training features ``[..., F]``."""
        x = fc.reshape(-1, fc.shape[-1]).float()
        self.fc_mean.copy_(x.mean(0))
        self.fc_std.copy_(x.std(0, unbiased=False).clamp_min(1e-3))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tokens, fc = batch["tokens"], batch["fc"]
        if tokens.shape[-1] != self.d_model or tokens.shape[:-1] != fc.shape[:-1] or fc.shape[-1] != len(self.fc_names):
            raise ValueError(f"DrivoRFCHeads: tokens [B, K, {self.d_model}] and fc [B, K, {len(self.fc_names)}] expected, "
                             f"got {list(tokens.shape)} and {list(fc.shape)}")
        x = tokens.float() + self.fc_embed((fc.float() - self.fc_mean) / self.fc_std)
        return {DRIVOR_HEAD_TO_SUBSCORE[k]: v for k, v in self.heads(x).items()}
