"""``inspatio-drive closed-loop`` / ``counterfactual`` end to end on the bundled sandbox sample (small images)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from inspatio_drive.closed_loop.counterfactual import read_synthetic_scene
from inspatio_drive.commands.closed_loop import counterfactual_main, main
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.v2 import SUBMETRICS, score_epdms
from inspatio_drive.viewer import read_mp4


def test_closed_loop_cli(tmp_path, capsys, sample):
    _, loader = sample
    out = tmp_path / "cl"
    code = main([f"closed_loop.output_dir={out}", "closed_loop.steps=3", "closed_loop.max_scenes=1",
                 "closed_loop.image_size=[64,36]", "closed_loop.cameras=[CAM_F0,CAM_R0]", "closed_loop.progress=false"])
    assert code == 0
    printed = capsys.readouterr().out
    token = loader.tokens[0]
    assert "PDMS closed" in printed and token in printed
    folder = out / token / "base"
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [0, 1, 2]
    assert all(len(s["plan"]) == 8 and s["coverage"] is not None and s["psnr_db"] is not None for s in steps)
    rows = list(csv.reader(open(folder / "metrics.csv")))
    assert rows[0][:3] == ["step", "t_s", "x"] and len(rows) == 1 + 3 + 1 + 3
    assert rows[-2][0] == "closed_loop" and rows[-1][0] == "open_loop"
    frames, fps = read_mp4(folder / "rollout.mp4")
    assert len(frames) == 3 and fps == pytest.approx(2.0)
    scores = json.loads((folder / "scores.json").read_text())
    assert 0 <= scores["closed_loop"]["score"] <= 1 and scores["mean_coverage"] > 0
    table = pd.read_csv(out / "closed_vs_open.csv")
    assert list(table["token"]) == [token, "mean"] and list(table["variant"]) == ["base", "base"]
    assert table.loc[0, "closed_score"] == pytest.approx(scores["closed_loop"]["score"])
    assert table.loc[0, "observer"] == "geometric" and table.loc[0, "mode"] == "honest"


def test_closed_loop_cli_errors(tmp_path, capsys):
    assert main([f"closed_loop.output_dir={tmp_path}", "closed_loop.observer=oracle", "closed_loop.max_scenes=1",
                 "closed_loop.progress=false"]) == 2
    assert "closed_loop.observer" in capsys.readouterr().err
    assert main(["closed_loop.no_such_key=1"]) == 2
    assert main([f"closed_loop.output_dir={tmp_path}", "closed_loop.agents=reactive"]) == 2
    assert "closed_loop.agents" in capsys.readouterr().err
    assert main([f"closed_loop.output_dir={tmp_path}", "closed_loop.tokens=[nope]"]) == 2
    assert "nope" in capsys.readouterr().err
    # a 3-arc fan has no sub-score logits to select with: refused, not silently resolved
    assert main([f"closed_loop.output_dir={tmp_path}", "closed_loop.max_scenes=1", "closed_loop.steps=1",
                 "closed_loop.observer=lidar", "closed_loop.video=false", "closed_loop.progress=false",
                 "+planner.model.yaw_rates=[-0.2,0.0,0.2]"]) == 2
    assert "no sub-score logits" in capsys.readouterr().err


def test_closed_loop_world_model_tiny(tmp_path, sample):
    """generator=inspatio with tiny random weights on the CPU: the world model imagines every observation
    after the first (noise from random weights; this tests the wiring, not image quality; the drift metrics
    are the geometric observer's, tested there)."""
    _, loader = sample
    out = tmp_path / "wm"
    code = main([f"closed_loop.output_dir={out}", "closed_loop.steps=2", "closed_loop.max_scenes=1",
                 "closed_loop.image_size=[64,32]", "closed_loop.cameras=[CAM_F0]", "closed_loop.video=false",
                 "closed_loop.oracle=false", "closed_loop.dynamic=privileged",
                 "closed_loop.progress=false", "generator=inspatio", "generator.model=tiny",
                 "generator.random_weights=true", "generator.vae=tiny-random", "generator.caption=null",
                 "generator.device=cpu", "generator.dtype=float32", "generator.max_batch=1"])
    assert code == 0
    folder = out / loader.tokens[0] / "base"
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert steps[0]["coverage"] == 1.0 and steps[1]["coverage"] == 1.0  # generated frames cover every pixel
    assert steps[1]["psnr_db"] is None  # oracle=false
    table = pd.read_csv(out / "closed_vs_open.csv")
    assert table.loc[0, "observer"] == "geometric+inspatio+privileged" and table.loc[0, "mode"] == "privileged"


def test_world_model_needs_multiples_of_16(tmp_path):
    assert main([f"closed_loop.output_dir={tmp_path}", "closed_loop.max_scenes=1", "closed_loop.image_size=[60,32]",
                 "closed_loop.progress=false", "generator=inspatio", "generator.model=tiny",
                 "generator.random_weights=true", "generator.vae=tiny-random", "generator.caption=null",
                 "generator.device=cpu", "generator.dtype=float32"]) == 2


def test_counterfactual_cli_round_trip(tmp_path, sample):
    _, loader = sample
    out = tmp_path / "cf"
    code = counterfactual_main([f"counterfactual.output_dir={out}", "counterfactual.max_scenes=1",
                                "counterfactual.image_size=[96,54]", "counterfactual.cameras=[CAM_F0,CAM_B0]",
                                "counterfactual.frames=current", "counterfactual.progress=false",
                                "counterfactual.perturbations=[{name: same}, {name: left_2m, lateral_m: 2.0}]"])
    assert code == 0
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest["perturbation"]) == ["same", "left_2m"]
    scene = loader.get_scene_from_token(loader.tokens[0])
    cur = scene.current_index
    same = read_synthetic_scene(out / manifest.loc[0, "pickle"])
    left = read_synthetic_scene(out / manifest.loc[1, "pickle"])
    for cf in (same, left):
        assert len(cf.frames) == len(scene.frames)
        cam = cf.frames[cur].cameras["CAM_F0"]
        assert cam.image.shape == (54, 96, 3)
        np.testing.assert_allclose(cam.intrinsics[:2], scene.frames[cur].cameras["CAM_F0"].intrinsics[:2] / 5)
        assert cf.frames[0].cameras["CAM_F0"].image is None  # frames=current: only the current frame rendered
        assert cf.frames[cur].lidar.points.shape == scene.frames[cur].lidar.points.shape
    np.testing.assert_allclose(same.frames[cur].ego_status.ego_pose, scene.frames[cur].ego_status.ego_pose, atol=1e-9)
    h = scene.frames[cur].ego_status.ego_pose[2]
    np.testing.assert_allclose(left.frames[cur].ego_status.ego_pose[:2] - scene.frames[cur].ego_status.ego_pose[:2],
                               [-2 * np.sin(h), 2 * np.cos(h)], atol=1e-6)
    # the images went through JPEG and back
    assert left.frames[cur].cameras["CAM_F0"].image.std() > 5


def test_geometric_render_fn_follows_the_perturbation(sandbox_scene):
    """Views rendered 2.5 m to the left match the oracle there better than the unperturbed views."""
    from inspatio_drive.closed_loop.counterfactual import GeometricRenderFn, Perturbation, perturbed_poses
    from inspatio_drive.closed_loop.geometric import psnr_valid
    from inspatio_drive.sandbox.oracle import CameraModel

    scene, _, oracle = sandbox_scene
    cur = scene.current_index
    cams = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")
    fn = GeometricRenderFn(cams, (96, 54), frames="history")
    poses = np.stack([f.ego_status.ego_pose for f in scene.frames])
    times = np.array([f.timestamp for f in scene.frames]) * 1e-6
    moved = perturbed_poses(poses, times, cur, Perturbation("left", lateral_m=2.5))[cur]
    here, there = fn(scene, cur, poses[cur]), fn(scene, cur, moved)
    assert fn(scene, cur + 1, moved) == {}  # frames=history: no future images
    t = (scene.frames[cur].timestamp - oracle.world.start_timestamp) * 1e-6
    models = [CameraModel(there[c].intrinsics, scene.frames[cur].cameras[c].T_ego_cam, 96, 54) for c in cams]
    truth = np.stack([v.rgb for v in oracle.render_many(models, moved, t)])
    a, b = np.stack([there[c].image for c in cams]), np.stack([here[c].image for c in cams])
    covered = a.any(-1) & b.any(-1)  # holes are exactly black before JPEG
    assert covered.mean() > 0.3
    assert psnr_valid(a, truth, covered) > psnr_valid(b, truth, covered) + 1.0


def test_counterfactual_bad_perturbation(tmp_path, capsys):
    assert counterfactual_main([f"counterfactual.output_dir={tmp_path}",
                                "counterfactual.perturbations=[{name: x, lateral: 1}]"]) == 2
    assert "unknown keys" in capsys.readouterr().err


def test_generated_render_fn_plumbing(sandbox_scene, tmp_path):
    """Generated counterfactual views: the logged image is the source, the render from the logged pose to the
    perturbed pose the condition, the last generated frame the novel view (a recording stub stands in for the
    world model)."""
    import torch

    from inspatio_drive.closed_loop.counterfactual import GeneratedRenderFn, GeometricRenderFn
    from inspatio_drive.closed_loop.geometric import resize_image
    from inspatio_drive.world_model.generator import GeneratedBlock

    class Stub:
        def __init__(self):
            self.calls = []

        def generate(self, source, render, mask, seed=0):
            self.calls.append((source, render, mask))
            yield GeneratedBlock(0, range(render.shape[1]), torch.full_like(render, 0.25))

    scene, _, _ = sandbox_scene
    geo = GeometricRenderFn(("CAM_F0",), (64, 32), frames="current")
    with pytest.raises(ValueError, match="multiples of 16"):
        GeneratedRenderFn(GeometricRenderFn(("CAM_F0",), (60, 32)), Stub())
    stub = Stub()
    fn = GeneratedRenderFn(geo, stub)
    cur = scene.current_index
    pose = scene.frames[cur].ego_status.ego_pose + np.array([0.0, 1.0, 0.0])
    views = fn(scene, cur, pose)
    assert fn(scene, cur - 1, pose) == {}
    assert views["CAM_F0"].image.shape == (32, 64, 3) and (views["CAM_F0"].image == 64).all()
    source, render, mask = stub.calls[0]
    assert render.shape == (1, 9, 3, 32, 64) and mask.shape == (1, 9, 32, 64)
    real = resize_image(scene.frames[cur].cameras["CAM_F0"].image, (64, 32))
    np.testing.assert_allclose(source[0].permute(1, 2, 0).numpy() * 255, real, atol=1e-3)
    first, _ = geo.render_path(scene, np.zeros((1, 3)))  # frame 0 of the condition: the logged pose
    last, _ = geo.render_path(scene, geo.to_ego0(scene, pose)[None])
    np.testing.assert_allclose(render[0, 0].numpy() * 255, first[0, 0].numpy(), atol=1e-3)
    np.testing.assert_allclose(render[0, -1].numpy() * 255, last[0, 0].numpy(), atol=1e-3)
    assert counterfactual_main([f"counterfactual.output_dir={tmp_path}", "generator=inspatio",
                                "counterfactual.image_size=[60,32]"]) == 2


def test_registered_subcommands(capsys):
    from inspatio_drive.commands.cli import main as cli_main

    assert cli_main(["closed-loop", "closed_loop.no_such_key=1"]) == 2
    assert cli_main(["counterfactual", "counterfactual.no_such_key=1"]) == 2
    assert "bad override" in capsys.readouterr().err


def test_closed_loop_progress_counts_steps_and_video_tiles_are_labelled(tmp_path, capsys, sample):
    _, loader = sample
    out = tmp_path / "cl"
    assert main([f"closed_loop.output_dir={out}", "closed_loop.steps=3", "closed_loop.max_scenes=1",
                 "closed_loop.image_size=[64,36]", "closed_loop.cameras=[CAM_F0,CAM_R0]", "closed_loop.video_scale=2",
                 "closed_loop.progress=true"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "step" in err  # one scene x one variant x three steps
    frames, _ = read_mp4(out / loader.tokens[0] / "base" / "rollout.mp4")
    tile_w = 64 * 2
    first_tile = frames[0][:14, frames[0].shape[1] - 2 * tile_w:frames[0].shape[1] - 2 * tile_w + 100]
    gray = first_tile.astype(int).mean(axis=-1)
    assert (gray < 60).mean() > 0.5, "a dark label box at the top-left of the first camera tile"
    assert (gray > 180).sum() > 20, "with light text (the camera name) in it"


def test_closed_loop_epdms(tmp_path, capsys, sample):
    """metric=epdms: the rollout is scored with NAVSIM v2.2's EPDMS (open loop = score_epdms of the first plan),
    the table says which metric, every step has its two-frame EC against the step before."""
    root, loader = sample
    out = tmp_path / "cl"
    assert main([f"closed_loop.output_dir={out}", "closed_loop.steps=3", "closed_loop.max_scenes=1",
                 "closed_loop.observer=lidar", "closed_loop.video=false", "closed_loop.progress=false",
                 "metric=epdms"]) == 0
    printed = capsys.readouterr().out
    assert "EPDMS closed" in printed and "metric: navsim_v2.2_epdms, traffic=log_replay, human_filter=v2.2" in printed
    token = loader.tokens[0]
    folder = out / token / "base"
    scores = json.loads((folder / "scores.json").read_text())["epdms"]
    assert scores["metric"] == "navsim_v2.2_epdms" and scores["traffic"] == "log_replay"
    assert scores["step_ec"][0] is None and all(e in (0.0, 1.0) for e in scores["step_ec"][1:])
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert [s["epdms_step_ec"] for s in steps] == scores["step_ec"]
    # the open-loop EPDMS is the scorer's own number for the first plan
    scene = loader.get_scene_from_token(token)
    cache = build_epdms_cache(scene, load_map(root / "maps", scene.scene_metadata.map_name))
    direct = score_epdms(cache, np.array([steps[0]["plan"]]))
    for col in (*SUBMETRICS, "score"):
        assert scores["open_loop"][col] == pytest.approx(direct[col][0], abs=1e-3), col  # plan rounded to 1e-4 m
    table = pd.read_csv(out / "closed_vs_open.csv")
    assert table.loc[0, "metric"] == "navsim_v2.2_epdms" and table.loc[0, "epdms_closed_score"] == pytest.approx(
        scores["closed_loop"]["score"])
    rows = list(csv.reader(open(folder / "metrics.csv")))
    assert rows[-3][0].startswith("aggregate (navsim_v2.2_epdms") and rows[-2][0] == "closed_loop"


def test_closed_loop_epdms_refusals(tmp_path, capsys):
    assert main([f"closed_loop.output_dir={tmp_path}", "metric=epdms", "closed_loop.agents=constant_velocity"]) == 2
    assert "closed_loop.agents=constant_velocity" in capsys.readouterr().err
    assert main([f"closed_loop.output_dir={tmp_path}", "traffic=reactive"]) == 2
    assert "only metric=epdms has traffic policies" in capsys.readouterr().err
