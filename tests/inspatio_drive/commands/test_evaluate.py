"""`inspatio-drive evaluate` end to end on the golden NAVSIM data root (logs + nuPlan map made for navsim):
our loader → planner → metric cache → PDM score reproduces navsim's own `run_pdm_score.py` numbers for
navsim's constant-velocity agent on both scenes, and a re-run resumes instead of recomputing."""

import json
from pathlib import Path

import pandas as pd
import pytest

from inspatio_drive.commands.cli import main
from inspatio_drive.evaluation.results import PDM_COLUMNS

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _golden_row(scene: str, name: str) -> dict:
    results = json.loads((GOLDEN / scene / "results.json").read_text())["results"]
    return next(r["pdm_results"] for r in results if r["name"] == name)


@pytest.mark.parametrize("split,scene", [("golden_a", "scene_a"), ("golden_c", "scene_c")])
def test_constant_velocity_matches_navsim_run_pdm_score(tmp_path, capsys, split, scene):
    out = tmp_path / "run"
    args = ["evaluate", f"data.data_root={GOLDEN}", f"data.split={split}", f"eval.output_dir={out}",
            "eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none"]
    assert main(args) == 0
    csv = pd.read_csv(out / "base.csv", index_col=0)
    assert list(csv["token"]) == [json.loads((GOLDEN / scene / "scene.json").read_text())["token"], "average"]
    expected = _golden_row(scene, "constant_velocity")
    for col in PDM_COLUMNS:
        assert csv.iloc[0][col] == pytest.approx(expected[col], abs=1e-6), col
    assert csv.iloc[0]["mode"] == "honest" and csv.iloc[0]["planner"] == "constant_velocity"
    assert (out / "summary.csv").exists() and (out / "summary.png").exists()
    assert "PDMS" in capsys.readouterr().out
    assert main(args) == 0  # resume: nothing left to do
    assert "(1 already finished, 0 run" in capsys.readouterr().out


def test_bad_input_is_reported(tmp_path, capsys):
    assert main(["evaluate", f"data.data_root={tmp_path}", f"eval.output_dir={tmp_path / 'o'}"]) == 2
    assert "navsim_logs/sample" in capsys.readouterr().err
    assert main(["evaluate", "planner.no_such_knob=1"]) == 2
    assert "bad override" in capsys.readouterr().err


def test_candidate_dumps_become_an_fc_dataset(tmp_path):
    import numpy as np

    from inspatio_drive.evaluation.fc_data import collect_fc_dataset

    for split in ("golden_a", "golden_c"):
        assert main(["evaluate", f"data.data_root={GOLDEN}", f"data.split={split}", f"eval.output_dir={tmp_path / split}",
                     f"eval.dump_dir={tmp_path / 'dump' / split}", "eval.artefacts=0", "eval.report=false",
                     "eval.progress=false", "eval.sensors=none", "planner.yaw_rates=[-0.1,0.0,0.1]",
                     "planner.scorer=null"]) == 3  # every row invalid: exit status 3
    # the planner has 3 candidates but no logits: every scene fails with a clear error, and no dump is written
    rows = pd.read_csv(tmp_path / "golden_a" / "base.csv", index_col=0)
    assert not rows.iloc[0]["valid"] and "no sub-score logits" in rows.iloc[0]["error"]
    for split in ("golden_a", "golden_c"):
        assert main(["evaluate", f"data.data_root={GOLDEN}", f"data.split={split}", f"eval.output_dir={tmp_path / 'ok' / split}",
                     f"eval.dump_dir={tmp_path / 'dump' / split}", "eval.artefacts=0", "eval.report=false",
                     "eval.progress=false", "eval.sensors=none"]) == 0
    out = collect_fc_dataset({"train": tmp_path / "dump" / "golden_a", "val": tmp_path / "dump" / "golden_c"},
                             tmp_path / "fc.npz")
    z = np.load(out)
    assert z["features"].shape == (2, 1, 0) and list(z["split"]) == ["train", "val"]
    assert z["score"][:, 0] == pytest.approx([_golden_row("scene_a", "constant_velocity")["score"],
                                              _golden_row("scene_c", "constant_velocity")["score"]])


def test_privileged_oracle_scorer_selects_the_best_candidate(tmp_path):
    out = tmp_path / "run"
    assert main(["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_a", f"eval.output_dir={out}",
                 "eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none",
                 "planner.yaw_rates=[-0.3,-0.15,0.0,0.15,0.3]", "planner.speed_factors=[0.0,0.5,1.0]",
                 "planner.scorer=oracle"]) == 0
    base = pd.read_csv(out / "base.csv", index_col=0).iloc[0]
    oracle = pd.read_csv(out / "oracle.csv", index_col=0).iloc[0]
    assert base["mode"] == "privileged" and base["planner"] == "constant_velocity+oracle"
    assert base["num_candidates"] == 15
    assert base["score"] == pytest.approx(oracle["score"])  # v1 weights rank by the PDM score itself
    assert oracle["score"] > _golden_row("scene_a", "constant_velocity")["score"]


def test_artefacts_and_report(tmp_path):
    out = tmp_path / "run"
    assert main(["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_a", f"eval.output_dir={out}",
                 "eval.artefacts=1", "eval.report=true", "eval.progress=false",
                 "planner.yaw_rates=[-0.2,0.0,0.2]", "planner.scorer=rules",
                 "scorer.model={_target_:scorers.geometric.GeometricFC,image_size:[64,36]}"]) == 0
    token = pd.read_csv(out / "base.csv", index_col=0).iloc[0]["token"]
    meta = json.loads((out / "artefacts" / token / "scene.json").read_text())
    assert meta["candidates"][0]["label"].startswith("base")
    assert {"source", "render", "future"} <= set(meta["candidates"][0]["videos"])
    assert meta["candidates"][0]["fc_features"], "the FC features of the candidate are shown"
    assert (out / "artefacts" / token / "bev.png").stat().st_size > 5000
    assert (out / "artefacts" / token / "futures_grid.mp4").exists()
    assert (out / "report" / "index.html").exists()
    fc = pd.read_csv(out / "fc.csv", index_col=0)
    assert fc.iloc[0]["mode"] == "honest" and "fc_prob" in fc.columns


def test_resume_refuses_results_of_another_configuration(tmp_path, capsys):
    """A run folder is resumed only with the configuration that made its rows: another planner setting is an
    error naming the key; `restart` moves the old journal aside (nothing deleted) and recomputes; worker and
    progress knobs are not part of the comparison."""
    out = tmp_path / "run"
    args = ["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_c", f"eval.output_dir={out}",
            "eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none",
            "eval.variants=[base]"]
    assert main(args) == 0
    capsys.readouterr()
    changed = [*args, "planner.num_poses=6"]
    assert main(changed) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "planner.num_poses" in err
    assert main([*args, "worker=process_pool", "worker.max_workers=1"]) == 0  # same numbers: resumed
    assert "(1 already finished, 0 run" in capsys.readouterr().out
    assert main([*changed, "eval.on_config_change=restart"]) == 0
    assert "(0 already finished, 1 run" in capsys.readouterr().out
    assert (out / "results.0.jsonl.old").is_file() and (out / "results.jsonl").is_file()
    with pytest.raises(ValueError, match="on_config_change"):
        from inspatio_drive.evaluation.run import check_resume

        check_resume(out, {}, "sometimes")
