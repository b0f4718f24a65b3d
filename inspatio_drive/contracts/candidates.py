"""Candidate trajectories, the currency between planners, scorers, renderers and the PDM score.

Conventions (NAVSIM): poses are ``(x, y, heading)`` in metres / radians in the *current* rear-axle frame
(x forward, y left, heading counter-clockwise from x), sampled at t = 0.5, 1.0, …, 0.5·T s (T = 8 for a
4 s horizon). Sub-score logits are named by :data:`inspatio_drive.contracts.subscores.SUBSCORE_NAMES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class Candidates:
    """Candidate trajectories of one scene (or a batch of scenes).

    Attributes:
        poses: float32 ``[*B, K, T, 3]`` (x, y, heading), current rear-axle frame, t = 0.5 … 0.5·T s.
        logits: optional per-candidate sub-score logits ``{name: [*B, K]}``, names from
            :data:`~inspatio_drive.contracts.subscores.SUBSCORE_NAMES` (any subset) or extra terms (e.g. ``"FC"``).
        features: optional per-candidate planner features ``[*B, K, D]`` (e.g. DrivoR's scorer tokens),
            the input of scorer heads trained with :mod:`planners.training`.
        extras: anything else the planner wants to pass along (e.g. DrivoR's raw output dict).
    """

    poses: torch.Tensor
    logits: dict[str, torch.Tensor] | None = None
    features: torch.Tensor | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.poses, torch.Tensor):
            self.poses = torch.as_tensor(self.poses, dtype=torch.float32)
        if self.poses.ndim < 3 or self.poses.shape[-1] != 3:
            raise ValueError(f"Candidates.poses: expected [*B, K, T, 3], got {tuple(self.poses.shape)}")
        lead = self.poses.shape[:-2]  # [*B, K]
        for name, value in (self.logits or {}).items():
            if tuple(value.shape) != tuple(lead):
                raise ValueError(
                    f"Candidates.logits[{name!r}]: expected shape {tuple(lead)} (one per candidate), "
                    f"got {tuple(value.shape)}"
                )
        if self.features is not None and tuple(self.features.shape[:-1]) != tuple(lead):
            raise ValueError(
                f"Candidates.features: expected [*B, K, D] with [*B, K] = {tuple(lead)}, "
                f"got {tuple(self.features.shape)}"
            )

    @property
    def num_candidates(self) -> int:
        return int(self.poses.shape[-3])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.poses.shape[:-3])

    def __getitem__(self, index: int) -> Candidates:
        """Candidates of one scene of a batch (``poses[index]``)."""
        if not self.batch_shape:
            raise IndexError("Candidates has no batch dimension")
        return Candidates(
            poses=self.poses[index],
            logits=None if self.logits is None else {k: v[index] for k, v in self.logits.items()},
            features=None if self.features is None else self.features[index],
            extras={k: _index_extra(v, index, self.batch_shape[0]) for k, v in self.extras.items()},
        )

    def with_logits(self, extra: Mapping[str, torch.Tensor]) -> Candidates:
        """A copy with more logits (e.g. the future-consistency ``"FC"`` term) merged in."""
        merged = dict(self.logits or {})
        merged.update(extra)
        return Candidates(self.poses, merged, self.features, dict(self.extras))


def _index_extra(value: object, index: int, batch: int) -> object:
    """Index a batched tensor extra (leading dim == batch size); anything else is passed through."""
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch:
        return value[index]
    return value
