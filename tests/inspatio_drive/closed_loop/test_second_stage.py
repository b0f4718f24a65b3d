"""``inspatio-drive second-stage`` on a tiny sandbox log (21 frames, 64×36 images): navsim synthetic scenes in
navhard's layout (history frames, the future as ``extended_*`` steps) + split YAML, read back through the project's
reader and loader, resumable, bad scenes reported and skipped; then the two-stage ``evaluate`` over them (navsim's
two-stage CSV, its combined score recomputed by hand from the rows and the Gaussian weights of the plan end points),
the same CSV from follow-ups in the layout written before (future frames inside ``frames``), and one-stage — said
so — on the same data without the split file."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from inspatio_drive.closed_loop import second_stage
from inspatio_drive.commands.cli import main
from inspatio_drive.data import scene_loader_from_config
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.data.types import Scene, SceneMetadata
from inspatio_drive.evaluation.epdms import TWO_STAGE_COLUMNS
from inspatio_drive.geometry.se2 import absolute_to_relative_se2
from inspatio_drive.pdm.cache.scene_input import detections_at, detections_of_frame, traffic_lights_at
from inspatio_drive.pdm.v2.two_stage import TWO_STAGE_SUMMARY_TOKENS, follow_up_weights
from inspatio_drive.sandbox import LidarModel, RenderConfig
from inspatio_drive.sandbox.writer import write_split

TINY = RenderConfig(width=64, height=36, lidar=LidarModel(channels=16, azimuths=180), texture_res=0.5, shadows=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("second_stage_root")
    write_split(root, "tiny", 1, ["plain_cruising"], seed=3, num_frames=21, density=0.5, config=TINY,
                show_progress=False)
    return root


def _data(root: Path) -> list[str]:
    return [f"data.data_root={root}", "data.split=tiny", "data.scene_filter.frame_interval=1"]


@pytest.fixture(scope="module")
def made(root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("made") / "second_stage"
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={out}", "second_stage.per_scene=2",
                 "second_stage.image_size=[64,36]", "second_stage.progress=false"]) == 0
    return out


def test_split_yaml_and_scenes_round_trip(made, root):
    split = yaml.safe_load((made / "split.yaml").read_text())
    assert split["data_split"] == "tiny"
    (orig, prev, pairs), = split["reactive_all_mapping"]  # 21 frames: only frame 4 has a prev and 4 s + 4 s ahead
    assert len(pairs) == 2 and all(len(t) == 17 for pair in pairs for t in pair)
    sf = split["scene_filter"]
    assert sf["tokens"] == [orig, prev] and sf["include_synthetic_scenes"] is True
    assert sf["synthetic_scene_tokens"] == [t for pair in pairs for t in pair] == sf["reactive_synthetic_initial_tokens"]
    failed = pd.read_csv(made / "failed.csv")
    assert len(failed) == 7 and failed["error"].str.contains("frame").all()  # the other scenes: reported, skipped

    log = scene_loader_from_config({"data_root": str(root), "split": "tiny", "scene_filter": {
        "num_history_frames": 1, "num_future_frames": 0, "frame_interval": 1, "has_route": False}},
        show_progress=False)
    frames = next(iter(log.get_tokens_list_per_log().values()))
    f = frames.index(orig)
    assert frames[f - 1] == prev
    full = scene_loader_from_config({"data_root": str(root), "split": "tiny", "scene_filter": {
        "num_history_frames": 13, "num_future_frames": 8, "frame_interval": 1, "has_route": False}},
        show_progress=False)
    logged = full.get_scene_from_token(frames[12])  # frames 0 … 20 of the log
    manifest = pd.read_csv(made / "manifest.csv")
    for (now_t, prev_t), (_, m) in zip(pairs, manifest.iterrows(), strict=True):
        now = read_synthetic_scene(made / "synthetic_scene_pickles" / f"{now_t}.pkl")
        before = read_synthetic_scene(made / "synthetic_scene_pickles" / f"{prev_t}.pkl")
        assert now.scene_metadata.initial_token == now_t and now.is_synthetic and len(now.frames) == 4
        assert now.scene_metadata.num_future_frames == 0 and len(now.extended_detections) == 8  # navhard's layout
        assert now.scene_metadata.corresponding_original_scene == frames[f + 8]
        assert now.scene_metadata.corresponding_original_initial_token == orig
        assert before.scene_metadata.corresponding_original_scene == frames[f + 7]
        # the start state: the logged ego 4 s ahead, moved left by lateral_m and turned by heading_deg
        ahead = logged.frames[f + 8].ego_status.ego_pose
        rel = absolute_to_relative_se2(ahead, now.frames[3].ego_status.ego_pose)
        assert rel[0] == pytest.approx(0.0, abs=1e-9) and rel[1] == pytest.approx(m["lateral_m"], abs=1e-9)
        assert math.degrees(rel[2]) == pytest.approx(m["heading_deg"], abs=1e-6)
        # the companion is the same path 0.5 s earlier: its current frame is the now scene's frame 2
        assert before.frames[3].token == now.frames[2].token
        np.testing.assert_allclose(before.frames[3].ego_status.ego_pose, now.frames[2].ego_status.ego_pose)
        for i, fr in enumerate(now.frames):
            images = [c.image for c in fr.cameras.values() if c.image is not None]
            assert len(images) == 8 and fr.lidar.points is not None
            assert len(fr.annotations.boxes) == len(logged.frames[f + 5 + i].annotations.boxes)  # objects carried
            assert fr.traffic_lights == logged.frames[f + 5 + i].traffic_lights
        assert now.frames[0].cameras["CAM_F0"].image.shape == (36, 64, 3)
        # the future (frames 4 … 11 of each follow-up): navsim's extended steps, the logged objects and lights
        for k in range(8):
            for scene, frame in ((now, logged.frames[f + 9 + k]), (before, logged.frames[f + 8 + k])):
                got, want = detections_at(scene, 4 + k), detections_of_frame(frame)
                assert got.tokens == want.tokens and len(got.tokens) > 0
                np.testing.assert_array_equal(got.centers, want.centers)
                np.testing.assert_array_equal(got.velocities, want.velocities)
                assert traffic_lights_at(scene, 4 + k) == [(int(a), bool(b)) for a, b in frame.traffic_lights]
    # this project's loader serves them through the split file
    loader = scene_loader_from_config({"data_root": str(root), "split": "tiny", "split_file": str(made / "split.yaml")},
                                      show_progress=False)
    assert loader.tokens_stage_one == [prev, orig]
    assert sorted(loader.synthetic_tokens) == sorted(t for pair in pairs for t in pair)


def test_resume_skips_written_scenes(made, root, capsys):
    pkl = sorted((made / "synthetic_scene_pickles").glob("*.pkl"))
    stamps = [p.stat().st_mtime_ns for p in pkl]
    before = (made / "split.yaml").read_text()
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={made}", "second_stage.per_scene=2",
                 "second_stage.image_size=[64,36]", "second_stage.progress=false"]) == 0
    assert "1 stage-one scenes, 2 follow-up pairs (1 scenes already written, 7 skipped" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in pkl] == stamps and (made / "split.yaml").read_text() == before


def test_oracle_source_renders_true_views_and_lidar(made, root, tmp_path):
    out = tmp_path / "oracle"
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={out}", "second_stage.per_scene=2",
                 "second_stage.source=oracle", "second_stage.cameras=[CAM_F0]", "second_stage.progress=false"]) == 0
    assert (out / "split.yaml").read_text().split("\n", 2)[2] == (made / "split.yaml").read_text().split("\n", 2)[2]
    token = yaml.safe_load((out / "split.yaml").read_text())["reactive_all_mapping"][0][2][0][0]
    oracle = read_synthetic_scene(out / "synthetic_scene_pickles" / f"{token}.pkl")
    geometric = read_synthetic_scene(made / "synthetic_scene_pickles" / f"{token}.pkl")
    a, b = oracle.frames[3], geometric.frames[3]
    assert a.cameras["CAM_F0"].image.shape == b.cameras["CAM_F0"].image.shape == (36, 64, 3)
    assert a.cameras["CAM_L0"].image is None  # only the named cameras are rendered
    assert not np.array_equal(a.lidar.points, b.lidar.points)  # a true sweep, not the re-expressed logged one
    assert a.lidar.points.shape[0] == 6 and a.lidar.points.shape[1] > 100
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={tmp_path / 'x'}",
                 "second_stage.lidar=sideways"]) == 2


def _evaluate(split_dir: Path, root: Path, out: Path) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", "metric=epdms", "traffic=reactive", f"data.data_root={root}", "data.split=tiny",
                     f"data.split_file={split_dir / 'split.yaml'}", f"eval.output_dir={out}", "eval.artefacts=0",
                     "eval.report=false", "eval.progress=false", "eval.variants=[base]", "eval.sensors=none"]) == 0
    return printed.getvalue()


@pytest.fixture(scope="module")
def evaluated(made, root, tmp_path_factory) -> tuple[Path, str]:
    """The two-stage evaluate over the follow-ups: (output dir, what it printed)."""
    out = tmp_path_factory.mktemp("evaluated") / "eval"
    return out, _evaluate(made, root, out)


def test_two_stage_evaluate(made, root, evaluated, tmp_path, capsys):
    out, printed = evaluated
    assert "two-stage EPDMS" in printed and "base_two_stage.csv" in printed
    table = pd.read_csv(out / "base_two_stage.csv", index_col=0)
    assert tuple(table.columns[: len(TWO_STAGE_COLUMNS)]) == TWO_STAGE_COLUMNS
    assert list(table["token"].iloc[-3:]) == list(TWO_STAGE_SUMMARY_TOKENS)
    assert (pd.read_csv(out / "base_one_stage.csv", index_col=0)["token"].iloc[-1]) == "average_all_frames"
    split = yaml.safe_load((made / "split.yaml").read_text())
    (orig, prev, pairs), = split["reactive_all_mapping"]
    rows = table.set_index("token")
    assert rows.loc[orig].notna()["ego_progress_stage_one"] and rows.loc[orig].isna()["ego_progress_stage_two"]
    res = pd.read_parquet(out / "results.parquet").set_index("token")
    score = rows["score"]

    def group(stage_one: str, tokens: list[str]) -> float:
        w = follow_up_weights(res.loc[stage_one, ["endpoint_x", "endpoint_y"]].to_numpy(float),
                              res.loc[tokens, ["start_point_x", "start_point_y"]].to_numpy(float))
        return float(np.sum(w * score.loc[tokens].to_numpy()))

    now, before = [a for a, _ in pairs], [b for _, b in pairs]
    combined = (score[orig] * group(orig, now) + score[prev] * group(prev, before)) / 2
    assert score["extended_pdm_score_combined"] == pytest.approx(combined, abs=1e-12)
    assert score["extended_pdm_score_stage_one"] == pytest.approx((score[orig] + score[prev]) / 2, abs=1e-12)
    assert score["extended_pdm_score_stage_two"] == pytest.approx((group(orig, now) + group(prev, before)) / 2,
                                                                  abs=1e-12)
    # EC of a follow-up pair is written to both of its rows
    for a, b in pairs:
        assert rows.loc[a, "two_frame_extended_comfort_stage_two"] == rows.loc[b, "two_frame_extended_comfort_stage_two"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["epdms_stages"]) == {"two-stage"}
    assert summary.set_index("metric").loc["EPDMS two-stage", "mean"] == pytest.approx(combined, abs=1e-12)
    assert int(summary.set_index("metric").loc["EPDMS", "scenes"]) == 2  # the scene means: stage-one scenes only

    # closed loop of the same planner, with that run's one-stage and two-stage EPDMS beside it
    cl = tmp_path / "cl"
    assert main(["closed-loop", *_data(root), f"closed_loop.output_dir={cl}", f"closed_loop.tokens=[{orig}]",
                 "closed_loop.steps=2", "closed_loop.observer=lidar", "closed_loop.video=false",
                 "closed_loop.progress=false", "closed_loop.variants=[base]", "metric=epdms",
                 f"closed_loop.evaluate_dir={out}"]) == 0
    printed = capsys.readouterr().out
    assert "one-stage" in printed and "two-stage" in printed
    cmp = pd.read_csv(cl / "closed_vs_open.csv").set_index("token")
    one = pd.read_csv(out / "base_one_stage.csv", index_col=0).set_index("token")["score"]
    assert cmp.loc[orig, "eval_one_stage_score"] == pytest.approx(one[orig], abs=1e-12)
    assert cmp.loc["mean", "eval_two_stage_score"] == pytest.approx(combined, abs=1e-12)
    assert math.isnan(cmp.loc[orig, "eval_two_stage_score"]) and np.isfinite(cmp.loc[orig, "epdms_closed_score"])
    assert main(["closed-loop", *_data(root), f"closed_loop.output_dir={cl}", f"closed_loop.evaluate_dir={out}"]) == 2


def _cut_before(window: Scene, moved: Scene, start: int, orig_log: str, future: int) -> Scene:
    """A follow-up as this project wrote it before navhard's layout (issue #20): the future frames inside ``frames``
    (re-expressed in the perturbed ego frames), ``num_future_frames`` = future, no extended steps."""
    frames = moved.frames[start:start + second_stage.HISTORY + future]
    token = frames[second_stage.HISTORY - 1].token
    return Scene(SceneMetadata(orig_log, token, window.scene_metadata.map_name, token, second_stage.HISTORY, future),
                 frames)


def test_follow_ups_written_before_still_evaluate_the_same(made, root, evaluated, tmp_path, monkeypatch):
    """Second-stage outputs of the earlier layout stay valid navsim scenes: they load and give the same two-stage
    CSV as the navhard layout (no sensors needed by the planner: written without images / LiDAR)."""
    old = tmp_path / "before"
    with monkeypatch.context() as patch:
        patch.setattr(second_stage, "_cut", _cut_before)
        assert main(["second-stage", *_data(root), f"second_stage.output_dir={old}", "second_stage.per_scene=2",
                     "second_stage.render=false", "second_stage.lidar=none", "second_stage.progress=false"]) == 0
    token = yaml.safe_load((old / "split.yaml").read_text())["reactive_all_mapping"][0][2][0][0]
    scene = read_synthetic_scene(old / "synthetic_scene_pickles" / f"{token}.pkl")
    assert len(scene.frames) == 12 and scene.extended_detections is None  # the earlier layout
    assert (old / "split.yaml").read_text().split("\n", 2)[2] == (made / "split.yaml").read_text().split("\n", 2)[2]
    _evaluate(old, root, tmp_path / "eval")
    want = pd.read_csv(evaluated[0] / "base_two_stage.csv", index_col=0)
    got = pd.read_csv(tmp_path / "eval" / "base_two_stage.csv", index_col=0)
    assert want["score"].notna().sum() > 4
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1e-9)


def test_split_without_mapping_is_one_stage(root, tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["evaluate", "metric=epdms", *_data(root), "eval.max_scenes=1", f"eval.output_dir={out}",
                 "eval.artefacts=0", "eval.report=false", "eval.variants=[base]", "eval.sensors=none"]) == 0
    assert "one-stage EPDMS: this split has no reactive_all_mapping" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")
    assert summary["epdms_stages"].str.startswith("one-stage").all() and not (out / "base_two_stage.csv").exists()


def test_world_model_generator_tiny(made, root, tmp_path):
    """generator=inspatio with tiny random weights on the CPU: the history views are the world model's (noise from
    random weights; this tests the wiring), the same first follow-up as the geometric run."""
    out = tmp_path / "wm"
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={out}", "second_stage.per_scene=1",
                 "second_stage.image_size=[64,32]", "second_stage.cameras=[CAM_F0]", "second_stage.progress=false",
                 "generator=inspatio", "generator.model=tiny", "generator.random_weights=true",
                 "generator.vae=tiny-random", "generator.caption=null", "generator.device=cpu",
                 "generator.dtype=float32", "generator.max_batch=1"]) == 0
    (_, _, pairs), = yaml.safe_load((out / "split.yaml").read_text())["reactive_all_mapping"]
    assert pairs == yaml.safe_load((made / "split.yaml").read_text())["reactive_all_mapping"][0][2][:1]
    token = pairs[0][0]
    scene = read_synthetic_scene(out / "synthetic_scene_pickles" / f"{token}.pkl")
    images = [f.cameras["CAM_F0"].image for f in scene.frames[:4]]
    assert all(im is not None and im.shape == (32, 64, 3) for im in images)
    assert scene.frames[3].cameras["CAM_L0"].image is None and len(scene.frames) == 4


def test_camera_only_second_stage_with_monocular_depth(made, root, tmp_path):
    """depth=oracle (a perfect monocular model: the sandbox's true depth of the logged images) and lidar=none: the
    follow-ups' history views come from a camera-only cloud, no LiDAR is written, and the views differ from the
    LiDAR-cloud render of the same follow-up while covering the image as well."""
    out = tmp_path / "mono"
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={out}", "second_stage.per_scene=2",
                 "second_stage.image_size=[64,36]", "second_stage.progress=false", "second_stage.depth=oracle",
                 "second_stage.mono.stride=2", "second_stage.lidar=none"]) == 0
    assert (out / "split.yaml").read_text().split("\n", 2)[2] == (made / "split.yaml").read_text().split("\n", 2)[2]
    token = yaml.safe_load((out / "split.yaml").read_text())["reactive_all_mapping"][0][2][0][0]
    mono = read_synthetic_scene(out / "synthetic_scene_pickles" / f"{token}.pkl")
    lidar = read_synthetic_scene(made / "synthetic_scene_pickles" / f"{token}.pkl")
    a, b = mono.frames[3].cameras["CAM_F0"].image, lidar.frames[3].cameras["CAM_F0"].image
    assert a is not None and b is not None and a.shape == b.shape == (36, 64, 3)
    assert not np.array_equal(a, b)
    assert (a.sum(-1) > 0).mean() >= 0.8 * (b.sum(-1) > 0).mean()  # camera-only cloud covers the view too
    assert all(f.lidar.points is None for f in mono.frames)
    assert main(["second-stage", *_data(root), f"second_stage.output_dir={tmp_path / 'y'}",
                 "second_stage.depth=sonar"]) == 2
