"""The future-consistency contract: what an FC scorer returns, and the call it answers.

Producers live in :mod:`scorers`; consumers (the planning pipeline, evaluation, the closed loop, the NAVSIM
plugin) depend only on this contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from inspatio_drive.contracts.candidates import Candidates

if TYPE_CHECKING:  # annotation only: the data layer sits above the contracts
    from inspatio_drive.data.types import AgentInput


@dataclass
class FCOutput:
    """Future-consistency judgement of ``K`` candidates.

    Attributes:
        logit: ``[K]`` logit of P(candidate is collision-free and on drivable area); the selection adds
            ``w_fc · logσ(logit)``.
        features: name → ``[K]`` feature values (units documented by the scorer).
        privileged: True when the features used information the agent may not see (logged futures).
    """

    logit: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    privileged: bool = False
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def prob(self) -> torch.Tensor:
        return torch.sigmoid(self.logit)


@runtime_checkable
class FutureConsistency(Protocol):
    """Anything that judges candidates from what the car would see along them."""
    def __call__(self, agent_input: AgentInput, candidates: Candidates) -> FCOutput: ...
