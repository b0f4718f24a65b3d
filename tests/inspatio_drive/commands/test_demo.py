"""`inspatio-drive demo` (what `make demo` runs) on one bundled scene: the shipped vocabulary and FC head load,
every variant gets a row, the table is printed."""

import pandas as pd

from inspatio_drive.commands.cli import main
from inspatio_drive.commands.demo import FC_HEAD, VOCAB, chosen_w_fc


def test_demo_one_scene(tmp_path, capsys):
    assert VOCAB.is_file() and FC_HEAD.is_file()
    assert chosen_w_fc() >= 0
    out = tmp_path / "demo"
    assert main(["demo", "eval.max_scenes=1", "eval.artefacts=0", "eval.report=false", "eval.progress=false",
                 f"eval.output_dir={out}"]) == 0
    printed = capsys.readouterr().out
    assert "fc_only" in printed and "demo finished" in printed
    for variant in ("base", "fc", "fc_only", "oracle"):
        row = pd.read_csv(out / f"{variant}.csv", index_col=0).iloc[0]
        assert row["valid"] and row["num_candidates"] == 64 and row["mode"] in ("honest", "privileged")
    assert pd.read_csv(out / "base.csv", index_col=0).iloc[0]["planner"] == "vocabulary"
