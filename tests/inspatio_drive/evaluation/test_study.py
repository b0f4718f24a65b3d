"""The FC study: seed plan, table arithmetic, README block, and the whole pipeline on a tiny configuration."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inspatio_drive.config import compose
from inspatio_drive.evaluation.epdms import ONE_STAGE_COLUMNS
from inspatio_drive.evaluation.study import (
    EPDMS_METRICS,
    METRICS,
    replace_readme_block,
    split_plan,
    study_table,
    table_markdown,
)


def _cfg(overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    out = OmegaConf.to_container(compose("study", overrides), resolve=True)
    assert isinstance(out, dict)
    return out


def test_split_plan_disjoint_seeds() -> None:
    plan = split_plan(_cfg(["seeds=[0,1,2]"]))
    assert set(plan) == {"train", "val", "train_vocab", "test_s0", "test_s1", "test_s2"}
    ranges = sorted((seed, seed + n) for n, seed, _ in plan.values())
    assert all(a1 <= b0 for (_, a1), (b0, _) in itertools.pairwise(ranges))
    assert plan["test_s1"][1] - plan["test_s0"][1] == 10000


def test_split_plan_rejects_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split_plan(_cfg(["val.seed=100010"]))  # inside train's [100000, 100060)
    with pytest.raises(ValueError, match="overlap"):
        split_plan(_cfg(["test.n=20000"]))  # test_s0 runs into test_s1


def _rows(seed: int, scores: dict[str, list[float]], fc_s: float = 0.5,
          metrics: tuple[tuple[str, str], ...] = METRICS) -> pd.DataFrame:
    rows = []
    for variant, vals in scores.items():
        for i, v in enumerate(vals):
            row = {"token": f"s{seed}-{i}", "variant": variant, "valid": True, "fc_s": fc_s, "propose_s": 0.25,
                   "pdm_s": 0.125,
                   "mode": "privileged" if variant == "oracle" else "honest"}
            row.update({k: v for k, _ in metrics})
            rows.append(row)
    return pd.DataFrame(rows)


def test_study_table_means_and_gap() -> None:
    # seed 0: base 0.5, fc 0.6, oracle 0.9 (gap 0.4, fc closes 0.1) ; seed 1: base 0.4, fc 0.6, oracle 0.8
    s0 = _rows(0, {"base": [0.5, 0.5], "fc": [0.6, 0.6], "fc_only": [0.3, 0.3], "oracle": [0.9, 0.9]})
    s1 = _rows(1, {"base": [0.4, 0.4, 0.4], "fc": [0.6, 0.6, 0.6], "fc_only": [0.4, 0.4, 0.4],
                   "oracle": [0.8, 0.8, 0.8]})
    t = study_table({0: s0, 1: s1}, {0: 1.0, 1: 2.0}, n_boot=200)
    rows = {r["variant"]: r for r in t.rows}
    assert rows["base"]["score"][0] == pytest.approx(0.45)
    assert rows["fc"]["score"][0] == pytest.approx(0.6)
    assert rows["oracle"]["score"][0] == pytest.approx(0.85)
    assert t.gap_closed[0] == pytest.approx(0.15 / 0.40)
    assert t.gap_closed_fc_alone[0] == pytest.approx(-0.1 / 0.40)
    assert t.gap_closed[1] <= t.gap_closed[0] <= t.gap_closed[2]
    assert rows["oracle"]["inputs"] == "privileged" and rows["fc"]["inputs"] == "honest"
    assert rows["fc"]["fc_time_s"] == pytest.approx(0.5) and rows["base"]["fc_time_s"] is None
    assert rows["base"]["select_time_s"] == pytest.approx(0.25) and rows["fc"]["select_time_s"] == pytest.approx(0.75)
    assert rows["oracle"]["select_time_s"] == pytest.approx(0.125)
    assert t.scenes_per_seed == {0: 2, 1: 3} and t.target_met
    md = table_markdown(t)
    assert "| base+FC | honest | 60.0" in md and f"base+FC {t.gap_closed[0] * 100:.0f} %" in md and "): met." in md


def test_study_table_invalid_scene_dropped_and_lowered_subscore() -> None:
    s0 = _rows(0, {"base": [0.5, 0.7], "fc": [0.6, 0.7], "fc_only": [0.6, 0.7], "oracle": [0.9, 0.9]})
    s0.loc[(s0["variant"] == "fc") & (s0["token"] == "s0-1"), "valid"] = False
    s0.loc[s0["variant"] == "fc", "comfort"] = 0.0
    t = study_table({0: s0}, {0: 1.0}, n_boot=50)
    assert t.scenes_per_seed == {0: 1}
    assert not t.subscores_not_lowered["comfort"] and not t.target_met
    bad = s0.assign(valid=False)
    with pytest.raises(ValueError, match="no test scene valid"):
        study_table({0: bad}, {0: 1.0}, n_boot=10)


def test_replace_readme_block(tmp_path: Path) -> None:
    p = tmp_path / "study.md"
    p.write_text("# Study\n\nintro\n")
    replace_readme_block(p, "table 1")
    replace_readme_block(p, "table 2")
    text = p.read_text()
    assert text.count("<!-- study:begin -->") == 1 and "table 2" in text and "table 1" not in text
    assert text.startswith("# Study\n\nintro")


def test_study_end_to_end_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """All seven steps on 2 scenes per split, K = 4, two seeds, tiny sensors; then a resumed re-run."""
    from inspatio_drive.commands.study import main

    out = tmp_path / "study"
    readme = tmp_path / "readme.md"
    overrides = [
        f"output_dir={out}", "seeds=[0,1]", "scenarios=[plain_cruising,parked_car_blocking]",
        "train.n=2", "val.n=2", "test.n=2", "vocab.n=1", "vocab.num_frames=20", "vocabulary.k=4",
        "vocabulary.iters=5", "sandbox.image.width=96", "sandbox.image.height=54", "sandbox.lidar.channels=8",
        "sandbox.lidar.azimuths=180", "sandbox.workers=1", "sandbox.shadows=false", "sandbox.density=0.3",
        "evaluate_overrides=['scorer.model.image_size=[32,18]','scorer.model.render_steps=2']",
        "train_fc_overrides=['optim.epochs=5','head.hidden=[]','plot=false']",
        "dump_test=true", "report.n_boot=50", f"report.readme={readme}", f"report.assets_dir={tmp_path / 'assets'}", "progress=false",
        "ablation.train_scorer_overrides=['model.dim=8','model.layers=1','model.heads=2','optim.epochs=2','plot=false']",
        "ablation.n_boot=50",
    ]
    assert main(overrides) == 0
    # splits: disjoint seeds, sensors only for the agent's history (cameras at the current frame)
    data = out / "data"
    for split in ("train", "val", "test_s0", "test_s1"):
        assert len(list((data / "navsim_logs" / split).glob("*.pkl"))) == 2
    log = next((data / "sensor_blobs" / "train").iterdir())
    assert len(list((log / "MergedPointCloud").glob("*.pcd"))) == 4
    assert len(list((log / "CAM_F0").glob("*.jpg"))) == 1
    assert not (data / "sensor_blobs" / "train_vocab").exists()
    # FC dataset from train + val only, heads per seed with w_fc from validation
    z = np.load(out / "fc_dataset.npz", allow_pickle=False)
    assert sorted(set(z["split"].tolist())) == ["train", "val"] and not bool(z["privileged"])
    assert z["features"].shape[:2] == (4, 4)
    for s in (0, 1):
        metrics = json.loads((out / "heads" / f"s{s}" / "metrics.json").read_text())
        assert metrics["mode"] == "honest" and metrics["w_fc"] is not None and metrics["seed"] == s
    # test rows: four variants per scene, honest except the oracle
    rows = pd.read_parquet(out / "test" / "s0" / "results.parquet")
    assert rows["valid"].all() and len(rows) == 8
    assert set(rows.loc[rows["variant"] != "oracle", "mode"]) == {"honest"}
    assert set(rows.loc[rows["variant"] == "oracle", "mode"]) == {"privileged"}
    best = rows[rows["variant"] == "oracle"]["score"].to_numpy()
    for v in ("base", "fc", "fc_only"):
        assert np.all(rows[rows["variant"] == v]["score"].to_numpy() <= best + 1e-12)
    # report
    result = json.loads((out / "study.json").read_text())
    assert result["scenes_per_seed"] == {"0": 2, "1": 2}
    assert {r["method"] for r in result["rows"]} == {"base", "base+FC", "FC alone", "oracle@K"}
    assert (out / "study.png").stat().st_size > 0
    assert "<!-- study:begin -->" in readme.read_text() and "| oracle@K | privileged |" in readme.read_text()
    assert (tmp_path / "assets" / "vocab_sandbox.safetensors").is_file()
    assert (tmp_path / "assets" / "fc_head_sandbox.safetensors").is_file()
    # the offline re-selection of the dumped test candidates reproduces the online rows (base, z = 0 → the
    # head's own w_fc, oracle@K), and tabulates the other validation rules
    from inspatio_drive.evaluation.study_weights import weight_rule_table

    table = {r["method"]: r for r in weight_rule_table(out, [0, 1], [0.0, 1.645])}
    frames = [pd.read_parquet(out / "test" / f"s{s}" / "results.parquet") for s in (0, 1)]

    def online(variant: str) -> float:
        return float(np.mean([f[f["variant"] == variant]["score"].mean() for f in frames]))

    assert table["base"]["score"] == pytest.approx(online("base"), abs=1e-12)
    assert table["oracle@K"]["score"] == pytest.approx(online("oracle"), abs=1e-12)
    assert table["base+FC, z = 0"]["score"] == pytest.approx(online("fc"), abs=1e-12)
    assert table["base+FC, z = 0"]["w_fc"] == {s: json.loads((out / "heads" / f"s{s}" / "metrics.json").read_text())
                                                ["w_fc"] for s in (0, 1)}
    assert "The validation rule for `w_fc`" in readme.read_text()
    # the ablation re-selects the same dumped candidates: rule and rule+FC are the online base and fc rows
    abl = json.loads((out / "ablation.json").read_text())
    rows_abl = {r["method"]: r for r in abl["rows"]}
    assert set(rows_abl) == {"rule", "rule+FC", "learned", "learned+FC (features)", "learned+FC (features+head)",
                             "oracle@K"}
    assert rows_abl["rule"]["score"][0] == pytest.approx(online("base"), abs=1e-12)
    assert rows_abl["rule+FC"]["score"][0] == pytest.approx(online("fc"), abs=1e-12)
    assert rows_abl["oracle@K"]["score"][0] == pytest.approx(online("oracle"), abs=1e-12)
    assert all(r["learned"] <= r["oracle@K"] + 1e-12 for r in abl["by_scenario"])
    assert {r["scenario"] for r in abl["by_scenario"]} <= {"plain_cruising", "parked_car_blocking"}
    for s in (0, 1):
        for mode in ("none", "features", "features_head"):
            assert (out / "scorers" / f"s{s}" / mode / "scorer.safetensors").is_file()
    assert "learned+FC (features) − learned" in (out / "ablation.md").read_text()
    # report.assets_dir: the first seed's learned scorers (after the ablation) ship with its vocabulary and FC head
    for name, src in (("scorer_sandbox_learned", "none"), ("scorer_sandbox_learned_fc", "features")):
        shipped = (tmp_path / "assets" / f"{name}.safetensors").read_bytes()
        assert shipped == (out / "scorers" / "s0" / src / "scorer.safetensors").read_bytes()
    assert (tmp_path / "assets" / "vocab_sandbox.safetensors").read_bytes() == (out / "vocab.safetensors").read_bytes()
    # resumed: nothing is recomputed, the same table comes out
    first = (out / "study.md").read_text()
    stamp = (out / "heads" / "s0" / "fc_head.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert main(overrides) == 0
    assert (out / "study.md").read_text() == first
    assert (out / "heads" / "s0" / "fc_head.safetensors").stat().st_mtime_ns == stamp
    assert len(pd.read_parquet(out / "test" / "s0" / "results.parquet")) == 8

    # metric=epdms on the same heads: the test step scores with NAVSIM v2.2 one-stage EPDMS (test_epdms/),
    # the report is study_epdms.*; the PDMS study beside it is untouched
    epdms = [*overrides, "metric=epdms", "steps=[test,report]", "report.readme=null", "report.assets_dir=null"]
    assert main(epdms) == 0
    assert (out / "study.md").read_text() == first
    result = json.loads((out / "study_epdms.json").read_text())
    # sandbox logs hold one scene each: no previous frame, so EC is dropped with its note
    assert [m[1] for m in result["metrics"]] == ["EPDMS", "NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC"]
    md = (out / "study_epdms.md").read_text()
    assert md.startswith("| method | inputs | EPDMS | NC | DAC | DDC | TLC | EP | TTC | LK | HC | FC time")
    assert "EC not tabulated: 4 of 4" in md and "traffic=log_replay, human_filter=v2.2" in md
    assert "issue #21" in md and (out / "study_epdms.png").stat().st_size > 0
    assert f"{out}/study_epdms.md, study_epdms.json, {out}/study_epdms.png" in capsys.readouterr().out
    for s in (0, 1):
        rows = pd.read_parquet(out / "test_epdms" / f"s{s}" / "results.parquet")
        assert rows["valid"].all() and set(rows["metric"]) == {"navsim_v2.2_epdms"} and len(rows) == 8
    # every table cell is the mean over seeds of evaluate's own one-stage CSV (navsim's columns)
    one_stage = {(s, v): pd.read_csv(out / "test_epdms" / f"s{s}" / f"{v}_one_stage.csv", index_col=0)
                 for s in (0, 1) for v in ("base", "fc", "fc_only", "oracle")}
    assert tuple(one_stage[0, "base"].columns) == ONE_STAGE_COLUMNS
    for r in result["rows"]:
        for col, _ in result["metrics"]:
            scenes = {s: one_stage[s, r["variant"]].query("token != 'average_all_frames'") for s in (0, 1)}
            assert all(len(f) == 2 for f in scenes.values())
            expect = np.mean([scenes[s][col].mean() for s in (0, 1)])
            assert r[col][0] == pytest.approx(expect, abs=1e-12), (r["variant"], col)
    # and evaluate metric=epdms run on its own (no FC needed for base / oracle) selects and scores the same
    from inspatio_drive.evaluation.run import run_evaluation
    from inspatio_drive.evaluation.study import evaluate_overrides

    alone = tmp_path / "alone"
    run_evaluation(compose("evaluate", [*evaluate_overrides(_cfg(epdms), "test_s0", alone, head=None, weight=0.0, variants=["base", "oracle"], dump_dir=None), "metric=epdms"]))
    for v in ("base", "oracle"):
        pd.testing.assert_frame_equal(pd.read_csv(alone / f"{v}_one_stage.csv", index_col=0), one_stage[0, v])

    # the ablation with metric=epdms, beside the PDMS one: v2 targets from train / val scored by evaluate
    # metric=epdms, learned scorers trained with targets=v2 (DrivoR's v2 selection) → ablation_epdms.*
    pdms_ablation = (out / "ablation.md").read_text()
    stamp = (out / "scorers" / "s0" / "none" / "scorer.safetensors").stat().st_mtime_ns
    assert main([*overrides, "metric=epdms", "steps=[ablation]", "report.readme=null", "report.assets_dir=null"]) == 0
    assert (out / "ablation.md").read_text() == pdms_ablation
    assert (out / "scorers" / "s0" / "none" / "scorer.safetensors").stat().st_mtime_ns == stamp
    z = np.load(out / "fc_dataset_epdms.npz", allow_pickle=False)
    assert str(z["metric"]) == "navsim_v2.2_epdms" and sorted(set(z["split"].tolist())) == ["train", "val"]
    for s in (0, 1):
        for mode in ("none", "features", "features_head"):
            m = json.loads((out / "scorers_epdms" / f"s{s}" / mode / "metrics.json").read_text())
            assert m["targets"] == "v2" and m["config"]["selection"] == "v2" and m["mode"] == "honest"
            assert m["config"]["outputs"] == ["NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC"]
            assert m["not_trained"] == ["EC"]  # one-scene sandbox logs: no EC label
    t = json.loads((out / "ablation_epdms.json").read_text())
    assert [m[1] for m in t["metrics"]] == ["EPDMS", "NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC"]
    md = (out / "ablation_epdms.md").read_text()
    assert md.startswith("| method | EPDMS | NC | DAC | DDC | TLC | EP | TTC | LK | HC |")
    assert "EC not tabulated: 4 of 4" in md and "targets=v2" in md and "Per scenario (EPDMS ×100" in md
    assert "learned+FC (features) − learned" in md and (out / "ablation_epdms.png").stat().st_size > 0
    rows_abl = {r["method"]: r for r in t["rows"]}
    assert set(rows_abl) == {"rule", "rule+FC", "learned", "learned+FC (features)", "learned+FC (features+head)",
                             "oracle@K"}
    # rule, rule+FC and oracle@K re-selected offline are evaluate's own one-stage rows of the EPDMS test step
    for method, variant in (("rule", "base"), ("rule+FC", "fc"), ("oracle@K", "oracle")):
        for col, _ in t["metrics"]:
            expect = np.mean([one_stage[s, variant].query("token != 'average_all_frames'")[col].mean() for s in (0, 1)])
            assert rows_abl[method][col][0] == pytest.approx(expect, abs=1e-12), (method, col)
    assert all(r["learned"] <= r["oracle@K"] + 1e-12 for r in t["by_scenario"])


def test_ship_assets_copies_together(tmp_path: Path) -> None:
    from inspatio_drive.evaluation.study import ASSET_NAMES, ship_assets

    out, assets = tmp_path / "study", tmp_path / "assets"
    with pytest.raises(FileNotFoundError, match=r"vocab\.safetensors missing"):
        ship_assets(out, 0, assets)
    for i, src in enumerate(ASSET_NAMES):
        if "scorers/" not in src:
            path = out / src.format(seed=1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes([i]))
    assert ship_assets(out, 1, assets) == ["vocab_sandbox.safetensors", "fc_head_sandbox.safetensors"]
    for i, src in enumerate(ASSET_NAMES):  # after the ablation step: the learned scorers come too
        path = out / src.format(seed=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]))
    assert ship_assets(out, 1, assets) == list(ASSET_NAMES.values())
    assert [(assets / n).read_bytes() for n in ASSET_NAMES.values()] == [bytes([i]) for i in range(4)]


def test_bad_step_is_a_clear_error(tmp_path: Path) -> None:
    from inspatio_drive.commands.study import main

    assert main([f"output_dir={tmp_path}", "steps=[sandbox,nope]"]) == 2


def test_study_table_epdms_columns_and_ec() -> None:
    """EPDMS rows: the v2 columns and labels; EC kept when every counted scene has one, else dropped with a note."""
    scores = {"base": [0.5, 0.5], "fc": [0.6, 0.6], "fc_only": [0.3, 0.3], "oracle": [0.9, 0.9]}
    s0 = _rows(0, scores, metrics=EPDMS_METRICS)
    t = study_table({0: s0}, {0: 1.0}, n_boot=20, metrics=EPDMS_METRICS, notes=["metric line"])
    assert [k for k, _ in t.metrics] == [k for k, _ in EPDMS_METRICS]
    assert {r["variant"]: r["score"][0] for r in t.rows}["fc"] == pytest.approx(0.6)
    md = table_markdown(t)
    assert md.splitlines()[0].startswith("| method | inputs | EPDMS | NC | DAC | DDC | TLC | EP | TTC | LK | HC | EC |")
    assert "oracle@K EPDMS gap closed" in md and md.endswith("metric line")
    s0.loc[s0["token"] == "s0-1", "two_frame_extended_comfort"] = np.nan  # no previous frame
    t = study_table({0: s0}, {0: 1.0}, n_boot=20, metrics=EPDMS_METRICS)
    assert "two_frame_extended_comfort" not in dict(t.metrics) and "lane_keeping" in dict(t.metrics)
    assert "EC not tabulated: 1 of 2 counted scenes" in table_markdown(t)
    assert "two_frame_extended_comfort" not in t.rows[0] and "EC" not in table_markdown(t).splitlines()[0]


def test_study_metric_knobs_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inspatio_drive.commands.study import main

    assert main([f"output_dir={tmp_path}", "traffic=reactive"]) == 2  # metric=pdms has no traffic policies
    assert "traffic=reactive" in capsys.readouterr().err
    assert main([f"output_dir={tmp_path}", "metric=epdms", "epdms.human_filter=nope"]) == 2
    assert "epdms.human_filter" in capsys.readouterr().err
    assert main([f"output_dir={tmp_path}", "metric=v3"]) == 2
    assert not any(tmp_path.iterdir())


def test_ablation_one_stage_pairs_each_method_with_its_own_previous_choice(tmp_path: Path) -> None:
    """EPDMS ablation: a method's EC pairs its choice with its own choice 0.5 s earlier in the log (navsim's
    one-stage aggregation of that method's rows), and ``score`` is the one-stage EPDMS."""
    from inspatio_drive.evaluation.study_ablation import one_stage_of_choice
    from inspatio_drive.pdm.v2 import EC_COLUMN, SUBMETRICS
    from inspatio_drive.pdm.v2.cache import ORIGINAL
    from inspatio_drive.pdm.v2.comfort import extended_comfort
    from inspatio_drive.pdm.v2.scorer import final_scores
    from scorers.dataset import FCDataset

    rng = np.random.default_rng(0)
    states = {"a": np.stack([np.zeros((41, 11)), rng.normal(0, 5, (41, 11))]),  # [K=2, 41, 11]: still / erratic
              "b": np.stack([np.zeros((41, 11)), rng.normal(0, 5, (41, 11))])}
    for i, (tok, st) in enumerate(states.items()):
        np.savez(tmp_path / f"{tok}.npz", epdms_states=st, log_name="log", time_point_s=0.5 * i, scene_type=ORIGINAL)
    subs = {c: rng.uniform(0.5, 1.0, (2, 2)) for c in SUBMETRICS}
    test = FCDataset(features=np.zeros((2, 2, 1), np.float32), feature_names=("f",), split=np.array(["test"] * 2),
                     subscores=subs, privileged=False, scene_tokens=np.array(["a", "b"]))
    keys = ["score", *SUBMETRICS, EC_COLUMN]
    ecs = []
    for prev in (0, 1):
        got = one_stage_of_choice(tmp_path, test, np.array([prev, 0]), keys)
        assert got.shape == (2, len(keys)) and np.isnan(got[0, -1])  # scene a: no scene before it
        ec = extended_comfort(states["b"][:1], states["a"][prev], 0.5)[0][0]
        assert got[1, -1] == pytest.approx(ec)
        metrics = {c: [subs[c][1, 0]] for c in SUBMETRICS}
        assert got[1, 0] == pytest.approx(final_scores(metrics, [ec])[0])
        assert got[0, 0] == pytest.approx(final_scores({c: [subs[c][0, prev]] for c in SUBMETRICS}, None)[0])
        assert list(got[1, 1:-1]) == [subs[c][1, 0] for c in SUBMETRICS]
        ecs.append(ec)
    assert ecs[0] != ecs[1]  # the previous choice matters
