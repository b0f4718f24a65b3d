"""The fc variant follows the selection with the future-consistency term, the base variant the one without."""

from __future__ import annotations

import torch

from inspatio_drive.closed_loop import rollout
from inspatio_drive.closed_loop.observers import LidarWorldObserver
from inspatio_drive.contracts import FCOutput
from planners.constant_velocity import ConstantVelocityPlanner
from planners.pipeline import PlanningPipeline
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer


class _PreferLeftmost:
    """An FC term that strongly prefers the candidate ending furthest left."""

    def __call__(self, agent_input, candidates):
        y = candidates.poses[:, -1, 1].float()
        return FCOutput(logit=torch.where(y == y.max(), 20.0, -20.0))


def test_base_and_fc_variants_follow_their_selection(sandbox_scene):
    scene, cache, _ = sandbox_scene
    planner = ScoredPlanner(ConstantVelocityPlanner(yaw_rates=(-0.2, 0.0, 0.2)), RuleBasedScorer())
    pipeline = PlanningPipeline(planner, fc=_PreferLeftmost(), w_fc=10.0)
    fc = rollout(scene, pipeline, cache, LidarWorldObserver(scene), steps=2, use_fc=True)
    base = rollout(scene, pipeline, cache, LidarWorldObserver(scene), steps=2, use_fc=False)
    assert [s.chosen for s in fc.steps] == [2, 2]  # yaw rate +0.2: the leftmost arc
    assert base.steps[0].chosen != 2
    assert fc.steps[-1].heading > base.steps[-1].heading + 0.02  # it really drove left
    assert fc.states[-1, 2] > base.states[-1, 2] + 0.3  # after 4 s (the last plan tracked to the horizon)


def test_closed_loop_shows_a_status_line_while_it_loads_the_planner(tmp_path, monkeypatch, capsys):
    """Loading the planner (DrivoR: seconds) shows ``closed-loop: loading the planner ...`` on stderr, the
    house's status line of a slow phase (``inspatio_drive.threads.status_line``, as evaluate's)."""
    import time

    from inspatio_drive import threads
    from inspatio_drive.closed_loop import run as cl_run
    from inspatio_drive.commands.cli import main

    def build_slowly(cfg):  # a slow planner load, then stop the run (the rollout is not under test here)
        time.sleep(0.3)
        raise ValueError("planner loaded")

    monkeypatch.setattr(threads, "STATUS_AFTER_S", 0.05)
    monkeypatch.setattr(cl_run, "build_pipeline", build_slowly)
    out = tmp_path / "cl"
    assert main(["closed-loop", "closed_loop.steps=1", "closed_loop.max_scenes=1", "closed_loop.video=false",
                 "closed_loop.variants=[base]", "closed_loop.cameras=[CAM_F0]", f"closed_loop.output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert "closed-loop: loading the planner ..." in err and "planner loaded" in err
