"""The planner protocol: a planner proposes :class:`~inspatio_drive.contracts.Candidates` (``K`` candidate
trajectories, optionally with sub-score logits) from what a NAVSIM agent may see."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import torch

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput


@runtime_checkable
class Planner(Protocol):
    """Anything that proposes candidate trajectories from what a NAVSIM agent may see."""

    name: str

    def propose(self, agent_input: AgentInput) -> Candidates:
        """Candidates of one scene: ``poses [K, T, 3]``."""
        ...


@runtime_checkable
class FeaturePlanner(Planner, Protocol):
    """A planner with a batched tensor path (features built once, e.g. by a data loader)."""

    def build_features(self, agent_input: AgentInput) -> dict[str, torch.Tensor]:
        """Unbatched feature tensors of one scene."""
        ...

    def propose_features(self, features: Mapping[str, torch.Tensor]) -> Candidates:
        """Batched candidates ``poses [B, K, T, 3]`` from batched features."""
        ...


class ScoredPlanner:
    """A planner followed by an honest scorer ``scorer(candidates, agent_input) -> candidates``
    (e.g. constant-velocity arcs + :class:`planners.scoring.RuleBasedScorer`)."""

    def __init__(self, planner: Planner, scorer: Callable[[Candidates, AgentInput], Candidates]) -> None:
        self.planner = planner
        self.scorer = scorer
        self.name = f"{planner.name}+{getattr(scorer, 'name', 'scorer')}"

    def propose(self, agent_input: AgentInput) -> Candidates:
        return self.scorer(self.planner.propose(agent_input), agent_input)


def collate_features(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack unbatched feature dicts along a new leading batch dimension."""
    if not items:
        raise ValueError("collate_features: empty list")
    keys = items[0].keys()
    for i, it in enumerate(items):
        if it.keys() != keys:
            raise ValueError(f"collate_features: item {i} has keys {sorted(it)}, expected {sorted(keys)}")
    return {k: torch.stack([it[k] for it in items]) for k in keys}
