"""The planning pipeline shared by ``evaluate``, the closed loop and the NAVSIM agent plugin:

``agent_input → planner.propose → candidates [K, 8, 3] (+ sub-score logits)
→ (optional) future-consistency term → DrivoR selection with and without it``.

Both choices are returned, so one planner call gives the "base" and "fc" variants of a scene.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from inspatio_drive.contracts import Candidates, FCOutput, FutureConsistency
from inspatio_drive.contracts.selection import DRIVOR_V1, SelectionWeights, argmax_valid, selection_score
from inspatio_drive.data.filters import SensorConfig
from inspatio_drive.data.types import AgentInput
from planners.protocol import Planner, SensorNeeds, merge_sensor_needs, sensor_needs
from scorers.fusion import DEFAULT_W_FC, fused_score_from_logits, resolve_w_fc


def navsim_agent_input(agent_input: AgentInput) -> AgentInput:
    """``agent_input`` as navsim's scoring scripts hand it to agents: relative ego poses in float32
    (``SceneLoader.get_agent_input_from_token``), not the float64 of ``Scene.get_agent_input``. The FC term
    reprojects the history sweeps with these poses, so a float64 pose moved its logits by up to ~1e-2;
    :meth:`PlanningPipeline.plan` applies this first, so every caller decides alike. Only the poses are copied."""
    statuses = getattr(agent_input, "ego_statuses", None)
    if not statuses or all(np.asarray(s.ego_pose).dtype == np.float32 for s in statuses):
        return agent_input  # nothing to cast (also: a stand-in input of a planner that reads none of it)
    statuses = [dataclasses.replace(s, ego_pose=np.asarray(s.ego_pose, dtype=np.float32)) if not s.in_global_frame
                else s for s in statuses]
    return dataclasses.replace(agent_input, ego_statuses=statuses)


@dataclass
class PlanResult:
    """One scene's planning outcome. ``base_index`` / ``fc_index``: the candidate chosen without / with
    the FC term (equal when no FC scorer ran); ``*_scores``: ``[K]`` selection scores; ``timings`` in s."""

    candidates: Candidates
    base_index: int
    fc_index: int
    base_scores: torch.Tensor
    fc_scores: torch.Tensor
    fc: FCOutput | None
    timings: dict[str, float]

    @property
    def trajectory(self) -> torch.Tensor:
        """``[T, 3]`` the candidate chosen with the FC term (``fc_index``)."""
        return self.candidates.poses[self.fc_index]


@dataclass
class PlanningPipeline:
    """Planner + optional future-consistency term + DrivoR's selection.

    Args:
        planner: proposes ``K`` candidates for one scene (``poses [K, T, 3]``); a planner without logits
            must propose exactly one candidate.
        weights: selection weights (DrivoR v1 by default).
        fc: future-consistency scorer; ``None`` → the fc variant equals the base variant.
        w_fc: the fusion weight in ``+ w_fc · logσ(FC)`` (:func:`scorers.fusion.fused_score_from_logits`;
            choose it on a validation split).
    """

    planner: Planner
    weights: SelectionWeights = DRIVOR_V1
    fc: FutureConsistency | None = None
    w_fc: float = DEFAULT_W_FC

    def __post_init__(self) -> None:
        self.w_fc = resolve_w_fc(self.w_fc)

    def sensor_needs(self, num_history_frames: int = 4) -> SensorNeeds | None:
        """What the planner and the FC term read from the agent input (:data:`planners.protocol.SensorNeeds`);
        ``None`` when one of them does not declare it."""
        fc = {} if self.fc is None else sensor_needs(self.fc, num_history_frames)
        return merge_sensor_needs([sensor_needs(self.planner, num_history_frames), fc])

    def sensor_config(self, num_history_frames: int = 4) -> SensorConfig:
        """The loading spec of exactly :meth:`sensor_needs` (every sensor of every frame when unknown): what the
        navsim agent asks navsim for, so its decisions equal ``evaluate``'s (which may load more)."""
        needs = self.sensor_needs(num_history_frames)
        if needs is None:
            return SensorConfig.build_all_sensors()
        return SensorConfig.from_mapping({name: frames for name, frames in needs.items()})

    def plan(self, agent_input: AgentInput, rescore: Callable[[Candidates], Candidates] | None = None) -> PlanResult:
        """Propose, (optionally) re-score, judge with FC, select with and without it (on
        :func:`navsim_agent_input` of ``agent_input``, so evaluate and navsim decide alike).

        Args:
            rescore: applied to the proposals before selection, e.g. the privileged PDM oracle
                (``lambda c: oracle(c, metric_cache)``).
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        agent_input = navsim_agent_input(agent_input)
        candidates = self.planner.propose(agent_input)
        if rescore is not None:
            candidates = rescore(candidates)
        timings["propose_s"] = time.perf_counter() - start
        if candidates.batch_shape:
            raise ValueError(f"planner {self.planner.name}: propose() must return one scene's candidates "
                             f"[K, T, 3], got {tuple(candidates.poses.shape)}")
        k = candidates.num_candidates
        if candidates.logits:
            base_scores = selection_score(candidates.logits, self.weights).detach().float()
        elif k == 1:
            base_scores = torch.zeros(1)
        else:
            raise ValueError(f"planner {self.planner.name}: {k} candidates but no sub-score logits to select with")
        fc_out = None
        fc_scores = base_scores
        if self.fc is not None:
            start = time.perf_counter()
            fc_out = self.fc(agent_input, candidates)
            timings["fc_s"] = time.perf_counter() - start
            if tuple(fc_out.logit.shape) != (k,):
                raise ValueError(f"future-consistency scorer: expected logit [{k}], got {tuple(fc_out.logit.shape)}")
            fc_scores = fused_score_from_logits(base_scores, fc_out.logit.float(), self.w_fc)
        return PlanResult(
            candidates=candidates,
            base_index=int(argmax_valid(base_scores)),
            fc_index=int(argmax_valid(fc_scores)),
            base_scores=base_scores,
            fc_scores=fc_scores,
            fc=fc_out,
            timings=timings,
        )
