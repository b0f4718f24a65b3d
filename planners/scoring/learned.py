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
from planners.scoring.drivor_form import load_scorer
from planners.scoring.rules import RuleBasedScorer
from planners.scoring.scene_inputs import scene_inputs
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


class DrivoRFormLearnedScorer:
    """The learned DrivoR-form scorer (:mod:`planners.scoring.drivor_form`) as a planner scorer:
    ``scorer(candidates, agent_input) -> candidates`` with its sub-score logits (honest: agent input only).

    Args:
        model: a trained :class:`~planners.scoring.drivor_form.DrivoRFormScorer`.
        rules: the rule features it was trained with (default :class:`RuleFeatures`), used when ``rule_dim > 0``.
        fc_term: ``(agent_input, candidates) -> FCOutput`` giving the FC features it was trained with (e.g.
            ``scorers.geometric.GeometricFC`` with the study's settings, with the FC head for ``features+head``);
            required when the model's ``fc`` is not ``none``.
    """

    name = "drivor_form"
    privileged = False

    def __init__(self, model: nn.Module, rules: FeatureFn | None = None, fc_term: object = None) -> None:
        cfg = model.config  # type: ignore[attr-defined]
        if cfg.fc != "none" and fc_term is None:
            raise ValueError(f"this scorer was trained with fc={cfg.fc}: give it the FC term (fc_term) it was trained with")
        self.model = model.eval()
        self.rules = rules if rules is not None else RuleFeatures()
        self.fc_term = fc_term

    def sensor_needs(self, num_history_frames: int) -> SensorNeeds | None:
        needs = dict(sensor_needs(self.rules, num_history_frames) or {})
        n = num_history_frames
        needs["lidar_pc"] = sorted(set(needs.get("lidar_pc", [])) | {n - 1})
        if self.fc_term is not None:
            for k, v in (sensor_needs(self.fc_term, n) or {}).items():
                needs[k] = sorted(set(needs.get(k, [])) | set(v))
        return needs

    @classmethod
    def from_file(cls, path: str | Path, rules: FeatureFn | None = None, fc_term: object = None) -> DrivoRFormLearnedScorer:
        return cls(load_scorer(path)[0], rules, fc_term)

    @torch.no_grad()
    def __call__(self, candidates: Candidates, agent_input: AgentInput) -> Candidates:
        cfg = self.model.config
        scene = scene_inputs(agent_input)
        batch = {"poses": candidates.poses.float()[None], "bev": torch.from_numpy(scene["bev"])[None],
                 "ego": torch.from_numpy(scene["ego"])[None]}
        rule = self.rules(candidates, agent_input).float()
        if cfg.rule_dim:
            batch["rule"] = rule[None]
        if cfg.fc != "none":
            fc = self.fc_term(agent_input, candidates)  # type: ignore[misc]
            names = [n for n in cfg.fc_names if not n.startswith("fc_head.")]
            cols = [fc.features[n].float() for n in names]
            if cfg.fc == "features+head":
                head = getattr(self.fc_term, "head", None)
                if head is None:
                    raise ValueError("fc=features+head: the FC term has no head (GeometricFC(head=<fc_head>))")
                x = torch.stack([fc.features[n].float() for n in head.feature_names], -1)
                logits = head.logits(x)
                cols += [logits[n[len("fc_head."):]].float() for n in cfg.fc_names if n.startswith("fc_head.")]
            batch["fc"] = torch.stack(cols, -1)[None]
        out = self.model(batch)
        scored = candidates.with_logits({k: v[0].float() for k, v in out.items()})
        if scored.features is None:
            scored.features = rule
        scored.extras["scorer"] = self.name
        return scored
