"""The learned DrivoR-form scorer with NAVSIM v2 targets (issue 21): one logit per EPDMS sub-score, trained on an
EPDMS dataset, DrivoR's v2 selection on them; v1 checkpoints (also those written before ``targets`` existed) still
load; a v2 selection on a v1 scorer is a one-line error."""

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file

from inspatio_drive.commands.cli import main
from inspatio_drive.contracts.selection import DRIVOR_V2_TARGETS, needed_logits
from inspatio_drive.evaluation.epdms import METRIC_LABEL, metric_columns
from inspatio_drive.pdm.v2 import EC_COLUMN, SUBMETRICS
from planners.factory import CONFIG_DIR, build_planner
from planners.scoring.drivor_form import (
    FORMAT,
    TARGETS,
    DrivoRFormScorer,
    ScorerConfig,
    load_scorer,
    save_scorer,
    selection_weights,
)
from planners.scoring.train_drivor_form import scorer_batch, scorer_targets
from scorers.dataset import DatasetBuilder, load_dataset

K, T = 10, 8


def _epdms_dataset(m: int = 24, seed: int = 0, ec: bool = False):
    """Scenes where the candidates through a BEV obstacle collide (NC 0) and the leftmost ones run a red light
    (TLC 0); v2 sub-score columns as ``evaluate metric=epdms`` dumps them (EC only with ``ec``)."""
    rng = np.random.default_rng(seed)
    columns = (*metric_columns("epdms"), *((EC_COLUMN,) if ec else ()))
    b = DatasetBuilder(columns=columns, metric=METRIC_LABEL["epdms"])
    t = np.linspace(0.5, 4.0, T)
    for i in range(m):
        lat = rng.uniform(-3, 3, size=K)
        poses = np.stack([np.outer(np.ones(K), 5 * t), lat[:, None] * t[None] / 4, np.zeros((K, T))], -1)
        obstacle = rng.uniform(-3, 3)
        bev = np.zeros((2, 32, 32), np.float32)
        bev[0, 16:20, int(16 + obstacle * 16 / 32 * 2)] = 3.0
        nc = (np.abs(lat - obstacle) > 1.0).astype(float)
        tlc = (lat < 2.0).astype(float)
        ep = np.clip(1 - np.abs(lat) / 6, 0, 1)
        subs = {c: np.ones(K) for c in SUBMETRICS}
        subs.update(no_at_fault_collisions=nc, traffic_light_compliance=tlc, ego_progress=ep,
                    time_to_collision_within_bound=nc, lane_keeping=(np.abs(lat) < 2.5).astype(float))
        subs["score"] = nc * tlc * (5 * ep + 5 * nc + 2 * subs["lane_keeping"] + 2) / 14
        if ec:
            subs[EC_COLUMN] = np.where(np.arange(K) % 2 == 0, 1.0, 0.0) if i % 2 else np.full(K, np.nan)
        b.add_scene(f"s{i}", "train" if i < m * 2 // 3 else "val", rng.normal(size=(K, 2)), ("a", "b"), subs,
                    privileged=False, base_log_score=np.log(ep + 1e-3),
                    candidate_arrays={"poses": poses.astype(np.float32),
                                      "planner_features": rng.normal(size=(K, 7)).astype(np.float32)},
                    scene_arrays={"bev": bev, "ego": np.r_[5.0, 0, 0, 0, 0, 1, 0, 0].astype(np.float32)})
    return b.build()


def test_v2_outputs_follow_the_epdms_code():
    assert TARGETS["v2"] == ("NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC", "EC")
    assert len(SUBMETRICS) + 1 == len(TARGETS["v2"])  # the 8 navsim v2 sub-metrics, then EC
    cfg = ScorerConfig(dim=16, layers=1, heads=2, targets="v2")
    assert cfg.outputs == list(TARGETS["v2"]) and cfg.selection == "v2"
    out = DrivoRFormScorer(cfg)(scorer_batch(_epdms_dataset(3), cfg, None))
    assert list(out) == list(TARGETS["v2"]) and out["TLC"].shape == (3, K)
    assert set(needed_logits(DRIVOR_V2_TARGETS)) == set(TARGETS["v2"])


def test_tiny_v2_training_and_selection(tmp_path, capsys):
    ds = _epdms_dataset(30)
    path = ds.save(tmp_path / "epdms.npz")
    assert load_dataset(path).metric == METRIC_LABEL["epdms"]
    common = [f"dataset={path}", "model.dim=16", "model.layers=1", "model.heads=2", "optim.epochs=15",
              "optim.batch_size=4", "optim.lr=3e-3", "progress=false", "plot=false"]
    assert main(["train-scorer", *common, f"output_dir={tmp_path / 'v2'}"]) == 0  # targets from the dataset
    assert "no label of ['EC']" in capsys.readouterr().err
    m = json.loads((tmp_path / "v2" / "metrics.json").read_text())
    assert m["targets"] == "v2" and m["not_trained"] == ["EC"] and m["val_loss"] < m["val_loss_curve"][0]
    assert set(m["val_parts"]) == set(TARGETS["v2"]) - {"EC"}
    model, _ = load_scorer(tmp_path / "v2" / "scorer.safetensors")
    assert model.config.targets == "v2" and model.config.selection == "v2" and "EC" not in model.config.outputs
    w = selection_weights(model.config)  # EC left out (no label), every other v2 term as DrivoR's v2 preset
    assert w.ec == 0 and w.tlc == DRIVOR_V2_TARGETS.tlc and w.hc == DRIVOR_V2_TARGETS.hc
    # selection on the v2 logits avoids the red-light (TLC 0) candidates on validation
    val = ds.subset("val")
    with torch.no_grad():
        scores = model.selection_scores(model(scorer_batch(val, model.config, None)))
    pick = scores.argmax(-1).numpy()
    tlc = np.take_along_axis(val.subscores["traffic_light_compliance"], pick[:, None], 1)
    assert tlc.mean() > val.subscores["traffic_light_compliance"].mean() and tlc.mean() >= 0.9
    # mismatches are one-line errors (exit 2)
    assert main(["train-scorer", *common, "targets=v1", f"output_dir={tmp_path / 'x'}"]) == 2
    err = capsys.readouterr().err
    assert "targets=v1 needs a dataset of evaluate metric=pdms dumps" in err
    assert main(["train-scorer", *common, "targets=v2", "selection=v1", f"output_dir={tmp_path / 'y'}"]) == 2
    assert "selection=v1 needs a scorer trained with targets=v1" in capsys.readouterr().err


def test_ec_is_trained_where_labelled():
    ds = _epdms_dataset(12, ec=True)
    t = scorer_targets(ds, None, "v2")
    assert set(t) == set(TARGETS["v2"]) and torch.isnan(t["EC"][0]).all() and not torch.isnan(t["EC"][1]).any()
    cfg = ScorerConfig(dim=16, layers=1, heads=2, targets="v2")
    from planners.scoring.train_drivor_form import labelled_outputs

    assert labelled_outputs(ds, cfg) == list(TARGETS["v2"])
    assert selection_weights(cfg).ec == DRIVOR_V2_TARGETS.ec


def _preset(name):
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "planner" / "selection" / f"{name}.yaml"))


def test_v1_checkpoints_load_and_refuse_a_v2_selection(tmp_path):
    torch.manual_seed(0)
    model = DrivoRFormScorer(ScorerConfig(dim=16, layers=1, heads=2)).eval()
    # a checkpoint written before `targets` existed (its config JSON has no targets / selection v1)
    old = {k: v for k, v in json.loads(json.dumps(model.config.__dict__)).items() if k != "targets"}
    path = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"format": FORMAT, "config": json.dumps(old), "extra": "{}"})
    again, _ = load_scorer(path)
    assert again.config.targets == "v1" and again.config.outputs == list(TARGETS["v1"])
    node = {"type": "constant_velocity", "scorer": "drivor_form", "head": str(path), "rules": {}}
    assert build_planner({**node, "selection": _preset("v1")}).weights.ttc == 5.0
    with pytest.raises(ValueError, match=r"targets=v1 .* does not give: use a targets=v2 scorer") as err:
        build_planner({**node, "selection": _preset("v2_targets")})
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="selection=v2 needs a scorer trained with targets=v2"):
        ScorerConfig(selection="v2")
    # a v2 scorer selects with the v2 preset through the planner factory too (EC dropped when not predicted)
    v2 = DrivoRFormScorer(ScorerConfig(dim=16, layers=1, heads=2, targets="v2",
                                       outputs=[o for o in TARGETS["v2"] if o != "EC"]))
    p2 = save_scorer(tmp_path / "v2.safetensors", v2)
    spec = build_planner({**node, "head": str(p2), "selection": _preset("v2_targets")})
    assert spec.weights.tlc == 10.0 and spec.weights.ec == 0.0
    with pytest.raises(ValueError, match="targets=v1 scorer"):
        build_planner({**node, "head": str(p2), "selection": _preset("v1")})


def test_planner_presets_equal_the_scorer_presets():
    from planners.factory import weights_preset
    from planners.scoring.drivor_form import PLANNER_SELECTION, SELECTION_PRESETS

    for name, preset in SELECTION_PRESETS.items():
        assert weights_preset(PLANNER_SELECTION[name]) == preset
