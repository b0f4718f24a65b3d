"""``inspatio-drive train-drivor-fc`` end to end at a tiny size with random weights (no official DrivoR checkpoint
here): sandbox scenes written in tmp → collected tokens / FC features / true sub-scores → trained FC heads file →
``planner=drivor planner.scorer=drivor_fc`` selects with the new logits; the port's weights are unchanged; the
cache is reused; an interrupted run resumed gives the same weights as an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from inspatio_drive.commands.cli import main
from inspatio_drive.config import compose
from inspatio_drive.contracts import SUBSCORE_NAMES
from inspatio_drive.contracts.selection import selection_score
from inspatio_drive.data import scene_loader_from_config
from inspatio_drive.sandbox import LidarModel, RenderConfig
from inspatio_drive.sandbox.writer import write_split
from planners.drivor.model import DrivoRConfig, DrivoRModel
from planners.factory import build_planner
from planners.pipeline import PlanningPipeline
from planners.protocol import ScoredPlanner
from planners.scoring.drivor_fc import DrivoRFCScorer, load_fc_heads, port_digest
from planners.scoring.train_drivor_fc import _cache_key, fc_columns, heads_inputs, train_drivor_fc_from_config

SENSORS = RenderConfig(width=64, height=36, lidar=LidarModel(channels=16, azimuths=180), texture_res=0.5, shadows=False)
MODEL = {"image_size": [56, 28], "cameras": ["CAM_F0"], "proposal_num": 6, "ref_num": 1, "scorer_ref_num": 1,
         "num_scene_tokens": 4, "lora_rank": 2, "tf_d_model": 32, "tf_d_ffn": 64}


def _overrides(root: Path, ckpt: Path, out: Path, *extra: str) -> list[str]:
    model = [f"planner.model.{k}=[{','.join(map(str, v))}]" if isinstance(v, list) else f"planner.model.{k}={v}"
             for k, v in MODEL.items() if k not in ("tf_d_model", "tf_d_ffn")]
    return [f"data.data_root={root}", "data.maps_root=null", "data.scene_filter.frame_interval=1",
            f"planner.checkpoint={ckpt}", *model, f"+planner.model.tf_d_model={MODEL['tf_d_model']}",
            f"+planner.model.tf_d_ffn={MODEL['tf_d_ffn']}", "planner.device=cpu", "scorer.model.cameras=[CAM_F0]",
            "scorer.model.image_size=[32,18]", "optim.epochs=4", "optim.batch_size=2", "optim.lr=3e-3", "hidden=16",
            f"output_dir={out}", "progress=false", "threads=1", *extra]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Sandbox train (1 log, 2 scenes) and val (1 log, 1 scene) splits, a tiny random DrivoR checkpoint, one run."""
    tmp = tmp_path_factory.mktemp("drivor_fc")
    root = tmp / "data"
    write_split(root, "train", 1, ["cut_in"], seed=1, num_frames=15, density=0.5, config=SENSORS, show_progress=False)
    write_split(root, "val", 1, ["lead_vehicle_braking"], seed=11, num_frames=14, density=0.5, config=SENSORS,
                show_progress=False)
    torch.manual_seed(0)
    port = DrivoRModel(DrivoRConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in MODEL.items()}))
    ckpt = tmp / "tiny_drivor.safetensors"
    save_file({k: v.contiguous() for k, v in port.state_dict().items()}, str(ckpt))
    before = _digest(ckpt)
    out = tmp / "run"
    assert main(["train-drivor-fc", *_overrides(root, ckpt, out)]) == 0
    assert _digest(ckpt) == before
    return root, ckpt, out, port


def test_the_command_writes_heads_metrics_plot_and_cache(trained):
    _, ckpt, out, port = trained
    for name in ("fc_heads.safetensors", "metrics.json", "loss.png", "state.pt", "collected/train.npz",
                 "collected/val.npz"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["scenes"] == {"train": 2, "val": 1} and m["from_cache"] == {"train": False, "val": False}
    assert m["port_unchanged"] and m["port_digest"] == port_digest(port) and not m["random_weights"]
    assert m["epochs_run"] == 4 and len(m["val_loss_curve"]) == 4
    assert set(m["val_selected"]) == {"drivor", "drivor_fc", "oracle_at_k"}
    heads, info = load_fc_heads(out / "fc_heads.safetensors")
    assert info["fc_names"] == m["fc_names"] and info["port_digest"] == port_digest(port)
    assert info["fc_model"]["cameras"] == ["CAM_F0"] and info["fc_model"]["head"] is None
    assert info["config"]["planner"]["checkpoint"] == ckpt.name  # no machine-specific path in the file
    # only the new parts were trained: the embedding moved off zero and the heads off the port's copy
    assert heads.fc_embed[2].weight.abs().sum() > 0
    trained_w = heads.heads.pred_score["no_at_fault_collisions"][0].weight
    assert not torch.equal(trained_w, port.scorer.pred_score["no_at_fault_collisions"][0].weight)


def test_evaluation_scores_drivor_candidates_with_the_trained_heads(trained):
    root, ckpt, out, port = trained
    node = {"type": "drivor", "checkpoint": str(ckpt), "model": dict(MODEL), "device": "cpu",
            "scorer": "drivor_fc", "head": str(out / "fc_heads.safetensors")}
    spec = build_planner(node)
    assert isinstance(spec.planner, ScoredPlanner) and isinstance(spec.planner.scorer, DrivoRFCScorer)
    pipeline = PlanningPipeline(spec.planner, spec.weights)
    data = {"data_root": str(root), "split": "val", "maps_root": None, "scene_filter": {"frame_interval": 1}}
    loader = scene_loader_from_config(data, sensors=pipeline.sensor_config(), show_progress=False)
    val = dict(np.load(out / "collected" / "val.npz"))
    heads, _ = load_fc_heads(out / "fc_heads.safetensors")
    with torch.no_grad():
        expected = heads(heads_inputs(val, None))
    assert len(loader.tokens) == 1
    for i, token in enumerate(loader.tokens):
        assert str(val["scene_tokens"][i]) == token
        res = pipeline.plan(loader.get_scene_from_token(token).get_agent_input())
        for n in SUBSCORE_NAMES:  # the new logits: the trained heads on this scene's tokens and FC features
            torch.testing.assert_close(res.candidates.logits[n], expected[n][i], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(res.candidates.extras["drivor_logits"][n],
                                       torch.from_numpy(val[f"drivor_{n}"][i]), atol=1e-5, rtol=1e-5)
        own = torch.stack([torch.from_numpy(val[f"drivor_{n}"][i]) for n in SUBSCORE_NAMES])
        assert not torch.allclose(torch.stack([res.candidates.logits[n] for n in SUBSCORE_NAMES]), own, atol=1e-3)
        new_scores = selection_score({n: expected[n][i] for n in SUBSCORE_NAMES}, spec.weights)
        assert res.base_index == int(torch.argmax(new_scores))  # DrivoR's selection rule on the new logits
    for k, v in port.state_dict().items():  # the evaluation port is the checkpoint's, untouched
        torch.testing.assert_close(spec.planner.planner.model.state_dict()[k], v, rtol=0, atol=0)


def test_heads_of_another_port_are_refused(trained, tmp_path):
    _, ckpt, out, _ = trained
    other = {k: v + 0.01 if v.is_floating_point() else v for k, v in load_file(str(ckpt)).items()}
    path = tmp_path / "other.safetensors"
    save_file(other, str(path))
    node = {"type": "drivor", "checkpoint": str(path), "model": dict(MODEL), "device": "cpu",
            "scorer": "drivor_fc", "head": str(out / "fc_heads.safetensors")}
    with pytest.raises(ValueError, match="trained on another DrivoR port"):
        build_planner(node)
    with pytest.raises(ValueError, match=r"needs planner=drivor and planner\.head"):
        build_planner({**node, "head": None})


def test_resume_reuses_the_cache_and_gives_the_same_weights(trained, tmp_path, monkeypatch):
    root, ckpt, out, _ = trained
    run = tmp_path / "resumed"
    shutil.copytree(out / "collected", run / "collected")
    cfg = compose("train_drivor_fc", _overrides(root, ckpt, run, "plot=false"))
    real_save, calls = torch.save, []

    class Interrupted(Exception):
        pass

    def save_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # after two epochs' states were written
            raise Interrupted
        return real_save(*args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_stop)
    with pytest.raises(Interrupted):
        train_drivor_fc_from_config(cfg)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(run / "state.pt", weights_only=True)["epoch"] == 2
    m = train_drivor_fc_from_config(compose("train_drivor_fc", _overrides(root, ckpt, run, "plot=false",
                                                                          "resume=true")))
    assert m["from_cache"] == {"train": True, "val": True}
    a, b = load_file(str(out / "fc_heads.safetensors")), load_file(str(run / "fc_heads.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_the_cache_key_follows_the_fc_settings_and_the_port(trained):
    root, ckpt, out, _ = trained
    base = compose("train_drivor_fc", _overrides(root, ckpt, out))
    other = compose("train_drivor_fc", _overrides(root, ckpt, out, "scorer.model.voxel_size=0.3",
                                                  "planner.device=cuda", "scorer.model.device=cuda"))
    assert _cache_key(base, "val", "a") != _cache_key(other, "val", "a")
    other.scorer.model.voxel_size = base.scorer.model.voxel_size  # the devices alone do not change the arrays
    assert _cache_key(base, "val", "a") == _cache_key(other, "val", "a")
    assert _cache_key(base, "val", "a") != _cache_key(base, "val", "b") != _cache_key(base, "train", "b")


def test_fc_feature_subset_and_unknown_names():
    arrays = {"fc_names": np.array(["a", "b", "c"]), "fc": np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)}
    x, names = fc_columns(arrays, ["c", "a"])
    assert names == ["c", "a"] and torch.equal(x, torch.from_numpy(arrays["fc"][..., [2, 0]]))
    assert fc_columns(arrays, None)[1] == ["a", "b", "c"]
    with pytest.raises(KeyError, match=r"\['nope'\] not among the collected FC features"):
        fc_columns(arrays, ["nope"])
