"""The BEV picture: draws every candidate and the selected one, and the demo scene stops before the car."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import torch

from inspatio_drive.commands.figures import planners_figure
from inspatio_drive.contracts.selection import select
from planners.constant_velocity import ConstantVelocityPlanner
from planners.scoring import RULE_FEATURES, RuleBasedScorer
from planners.viz import plot_candidates_bev, rules_demo_scene


def test_plot_and_demo(tmp_path):
    ai, pts = rules_demo_scene()
    cands = RuleBasedScorer()(ConstantVelocityPlanner(speed_factors=(0.2, 0.6, 1.0)).propose(ai), ai)
    sel = select(cands)
    ax = plot_candidates_bev(cands, sel.scores, int(sel.index), pts)
    assert len(ax.lines) == 3 + 1 + 1  # candidates, selected, ego marker
    clearance = cands.features[:, RULE_FEATURES.index("min_clearance")]
    assert clearance[int(sel.index)] > 0 and (clearance < 0).any()  # the car is hit by a faster one
    out = tmp_path / "bev.png"
    planners_figure(out)
    assert out.stat().st_size > 10_000
    assert torch.isfinite(sel.scores).all()
