"""One bad log does not stop a split: the scenes of the other logs are evaluated, the bad log gets ``valid=False``
rows with the reason, the closing summary and ``invalid.csv`` list it, and the exit status is 3 (0 with
``eval.fail_on_invalid=false``). A planner on random weights says so in every row and in the summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from inspatio_drive.commands.cli import main
from inspatio_drive.evaluation import run as run_module
from inspatio_drive.evaluation import task as task_module
from inspatio_drive.evaluation.summary import CI_NOTE

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"
QUIET = ["eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none", "eval.variants=[base]"]


def _mixed_split(root: Path) -> Path:
    """golden_a and golden_c logs and one truncated log in ``navsim_logs/mixed``."""
    logs = root / "navsim_logs" / "mixed"
    logs.mkdir(parents=True)
    for split in ("golden_a", "golden_c"):
        for pkl in (GOLDEN / "navsim_logs" / split).glob("*.pkl"):
            shutil.copy(pkl, logs / pkl.name)
    good = next(logs.glob("*.pkl")).read_bytes()
    (logs / "2021.01.01.00.00.00_veh-00_broken.pkl").write_bytes(good[: len(good) // 3])
    return root


def test_a_bad_log_gives_invalid_rows_and_exit_3(tmp_path, capsys):
    root = _mixed_split(tmp_path / "data")
    out = tmp_path / "run"
    args = ["evaluate", f"data.data_root={root}", "data.split=mixed", f"data.maps_root={GOLDEN / 'maps'}",
            f"eval.output_dir={out}", *QUIET]
    assert main(args) == 3
    printed = capsys.readouterr().out
    rows = pd.read_csv(out / "base.csv", index_col=0)
    rows = rows[rows["token"] != "average"]
    assert rows["valid"].astype(bool).sum() == 2  # both good logs were evaluated
    bad = rows[~rows["valid"].astype(bool)]
    assert list(bad["token"]) == ["log:2021.01.01.00.00.00_veh-00_broken"]
    assert "log not read" in bad.iloc[0]["error"]
    invalid = pd.read_csv(out / "invalid.csv")
    assert list(invalid["token"]) == ["log:2021.01.01.00.00.00_veh-00_broken"]
    assert "1 invalid" in printed and "log:2021.01.01.00.00.00_veh-00_broken: log not read" in printed
    assert json.loads((out / "run_stats.json").read_text())["invalid_scenes"] == 1
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["scenes"] == 2).all()  # the means are over the valid scenes
    # resumed with fail_on_invalid=false: nothing recomputed, the bad log still listed, exit 0
    assert main([*args, "eval.fail_on_invalid=false"]) == 0
    printed = capsys.readouterr().out
    assert "(2 already finished, 0 run" in printed and "1 invalid" in printed
    assert len(pd.read_csv(out / "invalid.csv")) == 1


def test_random_weights_are_labelled(tmp_path, monkeypatch, capsys):
    real = task_module.build_planner

    def random_weight_planner(cfg):
        spec = real(cfg)
        spec.planner.random_weights = True  # what DrivoR sets with planner.random_weights=true
        return spec

    monkeypatch.setattr(task_module, "build_planner", random_weight_planner)
    out = tmp_path / "run"
    assert main(["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_a", f"eval.output_dir={out}",
                 *QUIET]) == 0
    printed = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in printed
    rows = pd.read_csv(out / "base.csv", index_col=0)
    assert rows.iloc[0]["random_weights"]
    assert pd.read_csv(out / "summary.csv")["random_weights"].all()
    assert CI_NOTE in printed  # the ± column says what it is


def test_trained_weights_are_not_labelled(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_c", f"eval.output_dir={out}",
                 *QUIET]) == 0
    assert "RANDOM WEIGHTS" not in capsys.readouterr().out
    assert not pd.read_csv(out / "base.csv", index_col=0).iloc[0]["random_weights"]
    assert not pd.read_csv(out / "summary.csv")["random_weights"].any()


def test_slow_phases_print_a_status_line(tmp_path, monkeypatch, capsys):
    """Set-up (index + planner), artefacts and the report show a status line when they last (threshold 0 here);
    the closing line gives the wall time of the whole command."""
    monkeypatch.setattr(run_module, "STATUS_AFTER_S", 0.0)
    out = tmp_path / "run"
    assert main(["evaluate", f"data.data_root={GOLDEN}", "data.split=golden_c", f"eval.output_dir={out}",
                 "eval.artefacts=1", "eval.report=true", "eval.sensors=none", "eval.variants=[base]"]) == 0
    captured = capsys.readouterr()
    for phase in ("indexing the split and loading the planner", "writing artefacts", "writing the HTML report"):
        assert f"evaluate: {phase}" in captured.err, captured.err
    stats = json.loads((out / "run_stats.json").read_text())
    assert stats["wall_s"] >= stats["scenes_wall_s"]
    assert f"in {stats['wall_s']:.1f} s (whole command" in captured.out
