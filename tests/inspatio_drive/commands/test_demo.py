"""`inspatio-drive demo` (what `make demo` runs) on one bundled scene: the shipped vocabulary, FC head and learned
scorers load, the demo's evaluate runs include both learned variants, every variant gets a row, the table is
printed."""

import pandas as pd

from inspatio_drive.commands.cli import main
from inspatio_drive.commands.demo import FC_HEAD, LEARNED, LEARNED_FC, VOCAB, chosen_w_fc, demo_runs
from planners.scoring.drivor_form import load_scorer
from planners.vocabulary import Vocabulary


def test_demo_runs_include_both_learned_scorers():
    runs = demo_runs("out")
    assert list(runs) == ["rule", "learned", "learned+FC"]
    assert f"scorer.model.head={FC_HEAD}" in runs["rule"] and "+scorer=geometric_fc" in runs["rule"]
    for name, path, fc in (("learned", LEARNED, "none"), ("learned+FC", LEARNED_FC, "features")):
        ov = runs[name]
        assert "planner.scorer=drivor_form" in ov and f"planner.head={path}" in ov
        assert f"planner.vocabulary={VOCAB}" in ov and "eval.variants=[base]" in ov
        model, extra = load_scorer(path)  # the shipped files load, with the settings they were trained with
        assert model.config.fc == fc and model.config.targets == "v1" and "planner/selection=v1" in ov
        assert extra["config"]["fc"] == fc and not model.training
        if fc == "features":
            assert model.config.fc_dim == len(model.config.fc_names) > 0
    assert len({tuple(r) for r in runs.values()}) == 3
    assert Vocabulary.load(VOCAB).trajectories.shape[-3:] == (64, 8, 3)


def test_demo_one_scene(tmp_path, capsys):
    assert VOCAB.is_file() and FC_HEAD.is_file() and LEARNED.is_file() and LEARNED_FC.is_file()
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
    oracle = pd.read_csv(out / "oracle.csv", index_col=0).iloc[0]["score"]
    for sub in ("learned", "learned_fc"):
        row = pd.read_csv(out / sub / "base.csv", index_col=0).iloc[0]
        assert row["valid"] and row["num_candidates"] == 64 and row["mode"] == "honest"
        assert row["score"] <= oracle + 1e-12  # the same 64 candidates as the rule run
    summary = pd.read_csv(out / "demo_summary.csv")
    assert set(summary["variant"]) == {"rule", "rule+FC", "FC alone", "learned", "learned+FC", "oracle@K"}
    table = (out / "demo_table.txt").read_text()
    assert "learned+FC" in table and "learned+FC" in printed and (out / "demo.png").stat().st_size > 0
