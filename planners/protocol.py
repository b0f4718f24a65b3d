"""The planner protocol: a planner proposes :class:`~inspatio_drive.contracts.Candidates` (``K`` candidate
trajectories, optionally with sub-score logits) from what a NAVSIM agent may see."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

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


SensorNeeds = dict[str, list[int]]
"""What a component reads from the agent input: navsim ``SensorConfig`` field (``cam_f0`` … ``cam_b0``,
``lidar_pc``) → history-frame indices (0 = oldest, ``num_history_frames - 1`` = current). Sensors not named are
not read. Ego statuses are always part of the agent input and are not listed."""

CAMERA_FIELDS: tuple[str, ...] = ("cam_f0", "cam_l0", "cam_l1", "cam_l2", "cam_r0", "cam_r1", "cam_r2", "cam_b0")


def sensor_needs(component: Any, num_history_frames: int) -> SensorNeeds | None:
    """``component.sensor_needs(num_history_frames)`` — or ``None`` when the component does not declare what it
    reads (callers then load every sensor, as ``evaluate`` does by default)."""
    fn = getattr(component, "sensor_needs", None)
    return None if fn is None else {k: sorted(set(v)) for k, v in fn(num_history_frames).items()}


def merge_sensor_needs(needs: Iterable[SensorNeeds | None]) -> SensorNeeds | None:
    """Union of several components' needs; ``None`` (unknown) as soon as one of them is unknown."""
    out: dict[str, set[int]] = {}
    for need in needs:
        if need is None:
            return None
        for name, frames in need.items():
            out.setdefault(name, set()).update(frames)
    return {k: sorted(v) for k, v in out.items() if v}


def camera_needs(cameras: Iterable[str], frames: Iterable[int]) -> SensorNeeds:
    """``{cam_xx: frames}`` for camera names in either spelling (``CAM_F0`` or ``cam_f0``)."""
    frames = sorted(set(frames))
    out = {}
    for name in cameras:
        key = name.lower()
        if key not in CAMERA_FIELDS:
            raise ValueError(f"unknown camera {name!r}; expected one of {[c.upper() for c in CAMERA_FIELDS]}")
        out[key] = frames
    return out


class ScoredPlanner:
    """A planner followed by an honest scorer ``scorer(candidates, agent_input) -> candidates``
    (e.g. constant-velocity arcs + :class:`planners.scoring.RuleBasedScorer`)."""

    def __init__(self, planner: Planner, scorer: Callable[[Candidates, AgentInput], Candidates]) -> None:
        self.planner = planner
        self.scorer = scorer
        self.name = f"{planner.name}+{getattr(scorer, 'name', 'scorer')}"

    def propose(self, agent_input: AgentInput) -> Candidates:
        return self.scorer(self.planner.propose(agent_input), agent_input)

    def sensor_needs(self, num_history_frames: int) -> SensorNeeds | None:
        return merge_sensor_needs([sensor_needs(self.planner, num_history_frames),
                                   sensor_needs(self.scorer, num_history_frames)])


def collate_features(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack unbatched feature dicts along a new leading batch dimension."""
    if not items:
        raise ValueError("collate_features: empty list")
    keys = items[0].keys()
    for i, it in enumerate(items):
        if it.keys() != keys:
            raise ValueError(f"collate_features: item {i} has keys {sorted(it)}, expected {sorted(keys)}")
    return {k: torch.stack([it[k] for it in items]) for k in keys}
