"""Honest learned scorer: trained sub-score heads (:class:`planners.training.ScoreHeads`) applied to honest
per-candidate features (default: the rule features of :class:`~planners.scoring.rules.RuleBasedScorer`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput
from planners.protocol import SensorNeeds, sensor_needs
from planners.scoring.rules import RuleBasedScorer
from planners.training import ScoreHeads

FeatureFn = Callable[[Candidates, AgentInput], torch.Tensor]


class RuleFeatures:
    """Picklable feature function: the rule features ``[K, 7]`` of :class:`RuleBasedScorer`."""

    def __init__(self, config: object = None) -> None:
        self.rules = RuleBasedScorer(config)  # type: ignore[arg-type]

    def __call__(self, candidates: Candidates, agent_input: AgentInput) -> torch.Tensor:
        return self.rules.features(candidates.poses, agent_input)

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        return self.rules.sensor_needs(num_history_frames)


class LearnedHeadScorer:
    """``scorer(candidates, agent_input) -> candidates`` with logits from a trained head.

    Args:
        head: ``[B, K, D] -> {name: logits [B, K]}``.
        features: ``(candidates, agent_input) -> [K, D]`` honest features; default rule features.
    """

    name = "learned"
    privileged = False

    def __init__(self, head: nn.Module, features: FeatureFn | None = None) -> None:
        self.head = head.eval()
        self.features = features if features is not None else RuleFeatures()

    def sensor_needs(self, num_history_frames: int) -> SensorNeeds | None:
        """What its feature function reads (``None``: unknown, for a feature function that does not say)."""
        return sensor_needs(self.features, num_history_frames)

    @classmethod
    def from_file(cls, path: str | Path, features: FeatureFn | None = None) -> LearnedHeadScorer:
        return cls(ScoreHeads.from_file(path), features)

    @torch.no_grad()
    def __call__(self, candidates: Candidates, agent_input: AgentInput) -> Candidates:
        feats = self.features(candidates, agent_input).float()
        out = self.head(feats[None])
        logits = {k: v[0].float() for k, v in out.items()}
        scored = candidates.with_logits(logits)
        if scored.features is None:
            scored.features = feats
        scored.extras["scorer"] = self.name
        return scored
