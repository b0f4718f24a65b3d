"""One name (``w_fc``), one default and one formula for the fusion weight."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.contracts import Candidates, FCOutput
from planners.pipeline import PlanningPipeline
from scorers.fusion import DEFAULT_W_FC, fused_score_from_logits, resolve_w_fc, w_fc_from_config


class _Three:
    name = "three"

    def propose(self, agent_input):
        poses = torch.zeros(3, 8, 3)
        poses[:, :, 0] = torch.arange(1, 4, dtype=torch.float32)[:, None] * torch.arange(1, 9)
        gen = torch.Generator().manual_seed(0)
        logits = {name: torch.randn(3, generator=gen) for name in ("NC", "DAC", "DDC", "TTC", "EP", "C")}
        return Candidates(poses=poses, logits=logits)


class _FC:
    def __call__(self, agent_input, candidates):
        return FCOutput(logit=torch.tensor([-4.0, 0.3, 1.7]), features={}, privileged=False)


def test_pipeline_fuses_with_the_one_formula_bit_identically():
    for w in (0.0, 0.25, 1.0, 8.0):
        plan = PlanningPipeline(_Three(), fc=_FC(), w_fc=w).plan(None)
        logit = torch.tensor([-4.0, 0.3, 1.7])
        assert torch.equal(plan.fc_scores, fused_score_from_logits(plan.base_scores, logit, w))
        # the formula the pipeline used to spell out itself
        assert torch.equal(plan.fc_scores, plan.base_scores + w * torch.nn.functional.logsigmoid(logit.float()))


def test_one_default_and_validation():
    assert PlanningPipeline(_Three()).w_fc == DEFAULT_W_FC == resolve_w_fc(None) == w_fc_from_config({"w_fc": None})
    assert w_fc_from_config({"model": None, "w_fc": 0.5}) == 0.5 and w_fc_from_config(None) == DEFAULT_W_FC
    with pytest.raises(ValueError, match="w_fc must be a finite number >= 0"):
        PlanningPipeline(_Three(), w_fc=-1.0)


def test_former_names_are_refused_naming_w_fc():
    with pytest.raises(ValueError, match=r"scorer\.weight was renamed: use scorer\.w_fc"):
        w_fc_from_config({"model": None, "weight": 1.0})
    with pytest.raises(ValueError, match=r"agent\.fc_weight was renamed: use agent\.w_fc"):
        w_fc_from_config({"fc_weight": 1.0}, where="agent")


def test_evaluate_and_closed_loop_refuse_scorer_weight():
    from omegaconf import OmegaConf

    from inspatio_drive.closed_loop.run import build_pipeline
    from inspatio_drive.config import compose
    from inspatio_drive.evaluation.task import EvaluateTask

    cfg = OmegaConf.to_container(compose("evaluate", ["+scorer.weight=0.5"]), resolve=True)
    with pytest.raises(ValueError, match=r"scorer\.weight was renamed: use scorer\.w_fc"):
        EvaluateTask(cfg)
    ok = OmegaConf.to_container(compose("evaluate", ["scorer.w_fc=0.5"]), resolve=True)
    assert EvaluateTask(ok).w_fc == 0.5
    cl = OmegaConf.to_container(compose("closed_loop", ["+scorer.weight=0.5"]), resolve=True)
    with pytest.raises(ValueError, match=r"scorer\.weight was renamed: use scorer\.w_fc"):
        build_pipeline(cl)
    pipeline, _, _ = build_pipeline(OmegaConf.to_container(compose("closed_loop", ["scorer.w_fc=0.25"]), resolve=True))
    assert pipeline.w_fc == 0.25
