"""``metric-cache metric=epdms`` and ``pdm-score metric=epdms``: end to end from the golden v2 logs + map, navsim
v2 columns per candidate, EC with a previous plan, reactive traffic, and the refusals (other metric, reactive without a map)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inspatio_drive.commands.bench_pdm import main as bench_main
from inspatio_drive.commands.metric_cache import main as metric_cache_main
from inspatio_drive.commands.pdm_score import main
from inspatio_drive.pdm.v2.scorer import EC_COLUMN, SUBMETRICS

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "epdms"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("epdms_root")
    for name in ("navsim_logs", "maps"):
        shutil.copytree(GOLDEN / name, root / name)
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("cands")
    cand = json.loads((GOLDEN / "scene_d" / "candidates.json").read_text())
    (d / "c.json").write_text(json.dumps(cand["candidates"]))
    (d / "prev.json").write_text(json.dumps({"trajectories": [cand["prev_plan_human_gt_local_xyh"]]}))
    res = {r["name"]: r for r in json.loads((GOLDEN / "scene_d" / "results.json").read_text())["results"]}
    return {"cands": d / "c.json", "prev": d / "prev.json", "token": cand["main_token"], "results": res}


def _check(doc: dict, results: dict, variant: str) -> None:
    assert doc["metric"] == "navsim_v2.2_epdms" and doc["traffic"] == "log_replay" and doc["human_filter"] == "v2.2"
    for row in doc["candidates"]:
        gold = results[row["name"]]
        for col in SUBMETRICS:
            assert row[col] == pytest.approx(gold["epdms_row_non_reactive"][col], abs=1e-6), (row["name"], col)
        final = gold["one_stage_final"][variant]
        assert row["score"] == pytest.approx(final["score"], abs=1e-6), row["name"]
        if variant == "no_previous_frame":
            assert EC_COLUMN not in row
        else:
            assert row[EC_COLUMN] == final["two_frame_extended_comfort"]


def test_pdm_score_epdms_from_logs(data_root, files, tmp_path):
    out = tmp_path / "o.json"
    base = ["metric=epdms", f"candidates={files['cands']}", f"data.data_root={data_root}", f"data.scene_token={files['token']}"]
    assert main([*base, f"output={out}"]) == 0
    _check(json.loads(out.read_text()), files["results"], "no_previous_frame")
    assert main([*base, f"previous_candidates={files['prev']}", f"output={out}"]) == 0
    doc = json.loads(out.read_text())
    assert doc["previous_token"] == "f5f19aa8daa49bb1"
    _check(doc, files["results"], "prev_plan_human_gt")


def test_metric_cache_epdms_store_then_pdm_score(data_root, files, tmp_path, capsys):
    cache = tmp_path / "cache"
    common = [f"data.data_root={data_root}", "data.split=golden_d", "data.show_progress=false",
              "data.scene_filter.frame_interval=1", f"data.maps_root={data_root / 'maps'}", "progress=false"]
    assert metric_cache_main([*common, "metric=epdms", f"cache_path={cache}"]) == 0
    out = tmp_path / "o.json"
    args = ["metric=epdms", f"candidates={files['cands']}", f"metric_cache={cache}", f"data.scene_token={files['token']}"]
    assert main([*args, f"previous_candidates={files['prev']}", f"output={out}"]) == 0
    _check(json.loads(out.read_text()), files["results"], "prev_plan_human_gt")
    capsys.readouterr()
    # the other metric is refused with one line, never misread
    assert main([f"candidates={files['cands']}", f"metric_cache={cache}", f"data.scene_token={files['token']}", "output=-"]) == 2
    assert "holds NAVSIM v2 (EPDMS) caches, metric=pdms" in capsys.readouterr().err
    assert metric_cache_main([*common, f"cache_path={cache}"]) == 2
    assert "holds NAVSIM v2 (EPDMS) caches" in capsys.readouterr().err
    assert main([*args, "traffic=reactive", "output=-"]) == 2
    assert "give data.maps_root=" in capsys.readouterr().err
    assert main([*args, "traffic=reactive", f"data.maps_root={data_root / 'maps'}", f"output={out}"]) == 0
    doc = json.loads(out.read_text())
    assert doc["traffic"] == "reactive"
    for row in doc["candidates"]:
        gold = files["results"][row["name"]]["epdms_row_reactive_idm"]
        assert row["score"] == pytest.approx(gold["score_no_previous_frame"], abs=1e-6), row["name"]
    assert main([*args, "epdms.human_filter=pre_151", f"output={out}"]) == 0
    assert {r["human_filter"] for r in json.loads(out.read_text())["candidates"]} == {"pre_151"}


def test_first_scene_of_a_log_has_no_previous_frame(data_root, files, capsys):
    prev_token = "f5f19aa8daa49bb1"  # scene D's earlier scene: the first of its log (frame_interval 1)
    args = ["metric=epdms", f"candidates={files['cands']}", f"previous_candidates={files['prev']}",
            f"data.data_root={data_root}", f"data.scene_token={prev_token}", "output=-"]
    assert main(args) == 2
    assert "first of its log, it has no previous frame" in capsys.readouterr().err


def test_bench_pdm_epdms_both_policies(tmp_path):
    out = tmp_path / "bench.json"
    args = ["metric=epdms", "num_candidates=4", "repeats=1", "warmup=0", f"output={out}", "scenes=[" +
            str(GOLDEN / "scene_d") + "]"]
    assert bench_main(args) == 0
    (row,) = json.loads(out.read_text())["scenes"]
    assert row["scene"] == "scene_d" and row["cache_ms_median"] > 0 and row["navsim_cache_ms"] > 0
    assert set(row["scoring"]) == {"log_replay", "reactive"}
    assert all(v["ms_median"] > 0 and v["navsim_ms"] > 0 for v in row["scoring"].values())
    assert bench_main(["metric=epdms", "traffic=[idm]", "repeats=1"]) == 2
