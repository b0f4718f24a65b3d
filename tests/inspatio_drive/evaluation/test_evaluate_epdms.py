"""``evaluate metric=epdms`` on the golden v2 data root (scene D: a red light, two scenes of one log 0.5 s apart
with ``data.scene_filter.frame_interval=1``): navsim's one-stage CSV (columns, rows, ``average_all_frames``), EC
present only for the scene with a previous frame, numbers equal to calling the scorer directly (and to navsim's
own constant-velocity row), lossless resume, FC dumps in v2 columns, the refusals."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from inspatio_drive.commands.cli import main
from inspatio_drive.evaluation.epdms import ONE_STAGE_COLUMNS, decode_states, encode_states
from inspatio_drive.evaluation.fc_data import collect_fc_dataset
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.run import check_resume
from inspatio_drive.evaluation.summary import EPDMS_ORDER, summary_figure
from inspatio_drive.evaluation.task import EvaluateTask
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.v2 import EC_COLUMN, SUBMETRICS, EPDMSConfig, PreviousFrame, score_epdms

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "epdms"
MAIN, PREV = "687f2bbfcd978c18", "f5f19aa8daa49bb1"  # scene D: main frame and the frame 0.5 s before


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("epdms_root")
    for name in ("navsim_logs", "maps"):
        shutil.copytree(GOLDEN / name, root / name)
    return root


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "metric=epdms", f"data.data_root={root}", "data.split=golden_d", f"eval.output_dir={out}",
            "eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none", *extra]


@pytest.fixture(scope="module")
def adjacent(data_root, tmp_path_factory) -> Path:
    """Both scenes of log D (frame_interval=1): the main scene has a previous frame 0.5 s earlier."""
    out = tmp_path_factory.mktemp("adjacent") / "run"
    assert main(_args(data_root, out, "data.scene_filter.frame_interval=1")) == 0
    return out


def test_one_stage_csv_without_a_previous_frame(data_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(data_root, out)) == 0  # default frame_interval: only the first scene of the log
    table = pd.read_csv(out / "base_one_stage.csv", index_col=0)
    assert tuple(table.columns) == ONE_STAGE_COLUMNS
    assert list(table["token"]) == [PREV, "average_all_frames"]
    row = table.iloc[0]
    assert math.isnan(row[EC_COLUMN])  # no previous scene of the log: EC NaN, its weight dropped
    mult = np.prod([row[c] for c in SUBMETRICS[:4]])
    weighted = (5 * row["ego_progress"] + 5 * row["time_to_collision_within_bound"] + 2 * row["lane_keeping"]
                + 2 * row["history_comfort"]) / 14
    assert row["score"] == pytest.approx(mult * weighted, abs=1e-12)
    ours = pd.read_csv(out / "base.csv", index_col=0)
    assert tuple(ours.columns[: len(ONE_STAGE_COLUMNS)]) == ONE_STAGE_COLUMNS  # v2 columns first, then ours
    assert ours.iloc[0]["metric"] == "navsim_v2.2_epdms" and ours.iloc[0]["traffic"] == "log_replay"
    assert ours.iloc[0]["human_filter"] == "v2.2" and "epdms_states" not in ours
    printed = capsys.readouterr().out
    assert "EPDMS" in printed and "TLC" in printed and "metric: navsim_v2.2_epdms" in printed
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["score_metric"]) == {"navsim_v2.2_epdms"} and set(summary["traffic"]) == {"log_replay"}
    assert {"EPDMS", "TLC", "LK", "HC", "EC"} <= set(summary["metric"])


def test_adjacent_scenes_get_ec_equal_to_direct_scoring(adjacent, data_root):
    table = pd.read_csv(adjacent / "base_one_stage.csv", index_col=0).set_index("token")
    assert list(table.index) == [PREV, MAIN, "average_all_frames"]
    assert math.isnan(table.loc[PREV, EC_COLUMN]) and np.isfinite(table.loc[MAIN, EC_COLUMN])
    # navsim v2.2's own row for the constant-velocity plan of the main scene (golden)
    golden = {r["name"]: r for r in json.loads((GOLDEN / "scene_d" / "results.json").read_text())["results"]}
    for col in SUBMETRICS:
        assert table.loc[MAIN, col] == golden["constant_velocity"]["epdms_row_non_reactive"][col], col

    # the same plans scored directly: score_epdms with the previous frame's chosen plan
    plain = OmegaConf.to_container(OmegaConf.load(adjacent / "config.yaml"), resolve=True)
    task = EvaluateTask(plain)
    task.setup()
    caches, poses = {}, {}
    for token in (PREV, MAIN):
        scene = task.loader.get_scene_from_token(token)
        caches[token] = build_epdms_cache(scene, load_map(data_root / "maps", scene.scene_metadata.map_name))
        plan = task.pipeline.plan(scene.get_agent_input())
        poses[token] = plan.candidates.poses[plan.base_index].detach().cpu().numpy().astype(np.float64)
    first = score_epdms(caches[PREV], poses[PREV][None], EPDMSConfig())
    second = score_epdms(caches[MAIN], poses[MAIN][None], EPDMSConfig(),
                         previous=PreviousFrame(caches[PREV], trajectories=poses[PREV][None]))
    for token, res, ec in ((PREV, first, math.nan), (MAIN, second, second[EC_COLUMN][0])):
        for col in SUBMETRICS:
            assert table.loc[token, col] == res[col][0], (token, col)
        assert table.loc[token, "score"] == pytest.approx(res["score"][0], abs=1e-12)
        assert (math.isnan(ec) and math.isnan(table.loc[token, EC_COLUMN])) or table.loc[token, EC_COLUMN] == ec
    avg = table.loc["average_all_frames"]
    assert avg["score"] == pytest.approx(np.mean([first["score"][0], second["score"][0]]), abs=1e-12)
    assert avg[EC_COLUMN] == table.loc[MAIN, EC_COLUMN]  # NaN skipped
    # our CSV and the summary carry the one-stage score; the frame score stays as score_without_ec
    ours = pd.read_csv(adjacent / "base.csv", index_col=0).set_index("token")
    assert ours.loc[MAIN, "score"] == table.loc[MAIN, "score"]
    assert ours.loc[MAIN, "score_without_ec"] == pytest.approx(
        score_epdms(caches[MAIN], poses[MAIN][None], EPDMSConfig())["score"][0], abs=1e-12)
    # the oracle variant ranks by EPDMS too (a single candidate here: the same plan)
    assert (adjacent / "oracle_one_stage.csv").is_file()


def test_resume_is_lossless(adjacent, data_root, tmp_path, capsys):
    out = tmp_path / "run"
    # the first scene only (a run stopped after one scene), then the whole split: the second process pairs the
    # main scene with the first one's journalled states
    assert main(_args(data_root, out, "data.scene_filter.frame_interval=1", "eval.max_scenes=1")) == 0
    assert main(_args(data_root, out, "data.scene_filter.frame_interval=1")) == 0
    assert "(1 already finished, 1 run" in capsys.readouterr().out
    resumed = pd.read_csv(out / "base_one_stage.csv", index_col=0)
    whole = pd.read_csv(adjacent / "base_one_stage.csv", index_col=0)
    pd.testing.assert_frame_equal(resumed, whole, check_exact=True)
    # nothing left: a third run scores nothing and writes the same table
    assert main(_args(data_root, out, "data.scene_filter.frame_interval=1")) == 0
    assert "(2 already finished, 0 run" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(out / "base_one_stage.csv", index_col=0), whole, check_exact=True)
    # the journal holds the chosen plan's simulated states exactly
    rows = {r["token"]: r for r in ResultStore(out).rows() if r["variant"] == "base"}
    states = decode_states(rows[MAIN]["epdms_states"])
    assert states.shape == (41, 11) and encode_states(states) == rows[MAIN]["epdms_states"]


def test_changed_metric_is_not_resumed(adjacent, data_root, capsys):
    assert main(["evaluate", f"data.data_root={data_root}", "data.split=golden_d", f"eval.output_dir={adjacent}",
                 "data.scene_filter.frame_interval=1", "eval.artefacts=0", "eval.report=false",
                 "eval.progress=false", "eval.sensors=none"]) == 2  # metric=pdms on an epdms run folder
    assert "metric" in capsys.readouterr().err


def test_fc_dump_holds_epdms_targets(data_root, tmp_path):
    out = tmp_path / "run"
    assert main(_args(data_root, out, f"eval.dump_dir={tmp_path / 'dump'}", "traffic=reactive",
                      "epdms.human_filter=pre_151")) == 0
    row = pd.read_csv(out / "base.csv", index_col=0).iloc[0]
    assert row["traffic"] == "reactive" and row["human_filter"] == "pre_151"
    z = np.load(collect_fc_dataset({"train": tmp_path / "dump"}, tmp_path / "fc.npz"))
    assert str(z["metric"]) == "navsim_v2.2_epdms"
    assert z["traffic_light_compliance"][0, 0] == row["traffic_light_compliance"]
    assert "comfort" not in z.files


def test_fc_dump_labels_ec_per_candidate(data_root, tmp_path):
    """EPDMS dumps carry every candidate's simulated states; collecting them labels EC per candidate against the plan
    chosen 0.5 s earlier — for the chosen candidate, the EC of evaluate's own one-stage CSV."""
    out, dump = tmp_path / "run", tmp_path / "dump"
    assert main(_args(data_root, out, f"eval.dump_dir={dump}", "data.scene_filter.frame_interval=1")) == 0
    with np.load(dump / f"{MAIN}.npz") as z:
        assert z["epdms_states"].shape[1:] == (41, 11) and str(z["log_name"]) and float(z["time_point_s"]) > 0
    ds = np.load(collect_fc_dataset({"train": dump}, tmp_path / "fc.npz"))
    tokens = list(ds["scene_tokens"])
    ec = ds[EC_COLUMN]
    assert np.isnan(ec[tokens.index(PREV)]).all()  # the first scene of the log has no previous frame
    main_row = tokens.index(MAIN)
    chosen = int(np.argmax(ds["base_log_score"][main_row]))
    table = pd.read_csv(out / "base_one_stage.csv", index_col=0).set_index("token")
    assert ec[main_row, chosen] == table.loc[MAIN, EC_COLUMN]
    assert set(np.unique(ec[main_row][ds["candidate_mask"][main_row]])) <= {0.0, 1.0}
    # a v1.1 dump is unchanged: no states, no EC
    v1 = tmp_path / "dump_v1"
    assert main([a for a in _args(data_root, tmp_path / "run_v1", f"eval.dump_dir={v1}") if a != "metric=epdms"]) == 0
    with np.load(next(v1.glob("*.npz"))) as z:
        assert "epdms_states" not in z.files and "log_name" not in z.files


@pytest.mark.parametrize("extra,message", [
    (["traffic=reactive"], "only metric=epdms has traffic policies"),
    (["metric=epdms", "epdms.human_filter=v3"], "epdms.human_filter"),
    (["metric=epdms", "planner.scorer=oracle"], "planner.scorer=oracle ranks candidates by NAVSIM v1.1 PDMS"),
])
def test_refusals(data_root, tmp_path, capsys, extra, message):
    args = ["evaluate", f"data.data_root={data_root}", "data.split=golden_d", f"eval.output_dir={tmp_path / 'o'}",
            "eval.artefacts=0", "eval.report=false", "eval.progress=false", "eval.sensors=none", *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_plot_report_and_bev_show_v2_scores(data_root, tmp_path):
    out = tmp_path / "run"
    assert main(_args(data_root, out, "eval.artefacts=1", "eval.report=true")) == 0
    summary = pd.read_csv(out / "summary.csv")
    axis = summary_figure(summary).axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == list(EPDMS_ORDER)
    scene = json.loads((out / "artefacts" / PREV / "scene.json").read_text())
    assert scene["metric"] == "EPDMS" and set(scene["candidates"][0]["subscores"]) == {
        "NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC"}
    assert scene["candidates"][0]["subscores"]["TLC"] == 0.0  # the constant-velocity plan runs the red light
    html = (out / "report" / "index.html").read_text()
    data = json.loads(html.split('id="report-data">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))
    assert {"EPDMS", "TLC", "LK", "HC", "EC", "score_metric", "traffic", "human_filter"} <= set(data["summary"][0])
    assert data["summary"][0]["score_metric"] == "navsim_v2.2_epdms"
    assert "epdms_base" in data["rows"][0] and data["scenes"][0]["metric"] == "EPDMS"
    assert (out / "artefacts" / PREV / "bev.png").stat().st_size > 0


def test_failed_scenes_are_invalid_epdms_rows(data_root, tmp_path):
    out = tmp_path / "run"  # eval.sensors=all: the golden root has no sensor blobs -> every scene fails
    assert main(["evaluate", "metric=epdms", f"data.data_root={data_root}", "data.split=golden_d",
                 f"eval.output_dir={out}", "eval.artefacts=0", "eval.report=true", "eval.progress=false"]) == 3
    table = pd.read_csv(out / "base_one_stage.csv", index_col=0)
    assert tuple(table.columns) == ONE_STAGE_COLUMNS and list(table["valid"]) == [False, False]
    assert table[list(SUBMETRICS)].isna().all().all()
    assert pd.read_csv(out / "base.csv", index_col=0).iloc[0]["metric"] == "navsim_v2.2_epdms"


def test_run_folders_from_before_the_metric_knob_resume(tmp_path):
    """A config.yaml written before ``metric`` / ``traffic`` / ``epdms`` existed is a v1.1 log-replay run: resumed
    with metric=pdms, refused with metric=epdms."""
    out = tmp_path / "run"
    out.mkdir()
    plain = {"data": {"split": "x"}, "planner": {}, "scorer": {}, "eval": {"variants": ["base"]}}
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(plain)))
    (out / "results.jsonl").write_text('{"token": "t", "variant": "base", "valid": true}\n')
    check_resume(out, {**plain, "metric": "pdms", "traffic": "log_replay", "epdms": {"human_filter": "v2.2"}}, "error")
    with pytest.raises(ValueError, match="metric"):
        check_resume(out, {**plain, "metric": "epdms", "traffic": "log_replay", "epdms": {"human_filter": "v2.2"}},
                     "error")


def test_bundled_sample_has_no_adjacent_scenes(tmp_path, capsys):
    """The bundled sandbox sample: one 14-frame scene per log, so no scene has a previous one 0.5 s before in its
    log: EC NaN everywhere, each score the 14-weight one, and the table says EC is absent."""
    out = tmp_path / "run"
    assert main(["evaluate", "metric=epdms", f"eval.output_dir={out}", "eval.max_scenes=2", "eval.artefacts=0",
                 "eval.report=false", "eval.progress=false", "eval.sensors=none", "eval.variants=[base]"]) == 0
    assert "EC – : no such pair" in capsys.readouterr().out
    table = pd.read_csv(out / "base_one_stage.csv", index_col=0)
    assert len(table) == 3 and table[EC_COLUMN].isna().all()
    ours = pd.read_csv(out / "base.csv", index_col=0).iloc[:-1]
    assert ours["log_name"].nunique() == 2
    assert (ours["score"] == ours["score_without_ec"]).all()


def test_base_only_scores_the_chosen_candidate_alone_with_the_same_numbers(adjacent, data_root, tmp_path):
    """Without the oracle variant and FC dumps only the chosen candidates are scored (EPDMS scores each candidate
    against PDM-Closed alone): the base rows equal those of the run that scored every candidate."""
    out = tmp_path / "base_only"
    assert main(_args(data_root, out, "data.scene_filter.frame_interval=1", "eval.variants=[base]")) == 0
    task = EvaluateTask(OmegaConf.to_container(OmegaConf.load(out / "config.yaml"), resolve=True))
    assert task.chosen_only() and not EvaluateTask({**task.cfg, "eval": {**task.cfg["eval"],
                                                                         "variants": ["base", "oracle"]}}).chosen_only()
    cols = ["token", *SUBMETRICS, EC_COLUMN, "score", "candidate", "endpoint_x", "start_point_y"]
    full = pd.read_csv(adjacent / "base.csv", index_col=0)[cols].reset_index(drop=True)
    alone = pd.read_csv(out / "base.csv", index_col=0)[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(full, alone)
