"""``second-stage-study``: the table arithmetic (|Δ| to the oracle, rank agreement, per-scene differences) on
hand-made inputs, and one tiny run end to end (1 sandbox log, 1 follow-up pair, the constant-velocity planner —
which reads no sensor, so the oracle and geometric second stages must score the same)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from inspatio_drive.assets import SCORER_LEARNED_SANDBOX, VOCAB_SANDBOX
from inspatio_drive.commands.cli import main
from inspatio_drive.config import compose
from inspatio_drive.evaluation.second_stage_study import planner_override, rank_agreement, study_table
from planners.factory import build_planner
from planners.scoring.learned import DrivoRFormLearnedScorer


def _summary(one: float, two: float, both: float) -> pd.DataFrame:
    return pd.DataFrame({"variant": ["base"] * 4, "metric": ["EPDMS", "EPDMS stage-one", "EPDMS stage-two",
                                                               "EPDMS two-stage"],
                         "mean": [0.5, one, two, both], "scenes": [2, 1, 1, 1]})


def test_rank_agreement():
    assert rank_agreement([0.9, 0.5, 0.1], [0.8, 0.6, 0.2]) == (1.0, 1.0, True)
    tau, rho, same = rank_agreement([0.9, 0.5, 0.1], [0.1, 0.5, 0.9])
    assert tau == pytest.approx(-1.0) and rho == pytest.approx(-1.0) and not same
    assert math.isnan(rank_agreement([0.5, 0.5], [0.1, 0.2])[0])


def test_study_table():
    summaries = {("a", "oracle"): _summary(0.9, 0.8, 0.7), ("a", "geometric"): _summary(0.9, 0.75, 0.6),
                 ("b", "oracle"): _summary(0.9, 0.4, 0.3), ("b", "geometric"): _summary(0.9, 0.45, 0.35)}
    scenes = pd.DataFrame({"planner": ["a", "a", "a", "a"], "source": ["oracle", "geometric"] * 2,
                           "token": ["x", "x", "y", "y"], "score": [1.0, 0.5, 0.2, 0.2]})
    table, agreement = study_table(summaries, scenes)
    row = table.set_index(["planner", "source"])
    assert row.loc[("a", "geometric"), "delta_stage_two"] == pytest.approx(-0.05)
    assert row.loc[("b", "oracle"), "delta_stage_two"] == 0.0
    assert agreement["same_ranking"] and agreement["kendall_tau"] == pytest.approx(1.0)
    assert agreement["max_abs_delta_stage_two"] == pytest.approx(0.05)
    d = agreement["per_scene"]["geometric"]
    assert d == {"scenes": 2, "mean_abs": pytest.approx(0.25), "max_abs": pytest.approx(0.5), "changed": 0.5}


def test_tiny_study_end_to_end(tmp_path, capsys):
    out = tmp_path / "study"
    args = ["second-stage-study", f"output_dir={out}", "n=1", "per_scene=1", "sources=[oracle,geometric]",
            "only=[constant_velocity]", "progress=false", "sandbox.image.width=64",
            "sandbox.image.height=36", "sandbox.lidar.channels=16", "sandbox.lidar.azimuths=180",
            "sandbox.texture_res=0.5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rank agreement" in printed
    table = pd.read_csv(out / "second_stage_study.csv")
    assert set(table["source"]) == {"oracle", "geometric"} and (table["mappings"] == 1).all()
    assert table["delta_stage_two"].abs().max() == 0.0  # a planner blind to the sensors: identical second stages
    scenes = pd.read_csv(out / "per_scene.csv")
    assert len(scenes) == 4 and scenes["token"].str.len().eq(17).all()
    saved = json.loads((out / "second_stage_study.json").read_text())
    assert saved["agreement"]["per_scene"]["geometric"]["max_abs"] == 0.0
    assert main([*args, "sources=[geometric]"]) == 2  # the oracle is the reference


def test_learned_planner_entry_builds_the_shipped_scorer():
    """The documented ``vocabulary_learned`` entry: ``@learned`` / ``@vocabulary`` become the shipped files and the
    evaluate config builds the vocabulary planner scored by the learned DrivoR-form scorer."""
    entry = ["planner=vocabulary", "planner.vocabulary=@vocabulary", "planner.scorer=drivor_form", "planner.head=@learned"]
    ov = [planner_override(o, str(VOCAB_SANDBOX)) for o in entry]
    assert ov[1] == f"planner.vocabulary={VOCAB_SANDBOX}" and ov[3] == f"planner.head={SCORER_LEARNED_SANDBOX}"
    spec = build_planner(compose("evaluate", ov).planner)
    assert isinstance(spec.planner.scorer, DrivoRFormLearnedScorer)
