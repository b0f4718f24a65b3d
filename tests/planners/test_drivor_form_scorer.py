"""The learned DrivoR-form scorer (issue 21): shapes, FC modes, tiny end-to-end training, checkpoint and resume."""

import json

import numpy as np
import pytest
import torch

from inspatio_drive.commands.cli import main
from planners.scoring.drivor_form import DrivoRFormScorer, ScorerConfig, load_scorer, save_scorer
from planners.scoring.train_drivor_form import fc_inputs, scorer_batch, scorer_targets
from scorers.dataset import DatasetBuilder
from scorers.head import FCHead, save_head
from scorers.head_training import TrainConfig, train_heads

K, T = 12, 8


def _dataset(m: int = 24, seed: int = 0):
    """Scenes whose obstacle (a BEV blob at a random lateral offset) makes the candidates passing through it
    collide (NC 0); the FC feature ``clearance`` sees the same thing."""
    rng = np.random.default_rng(seed)
    b = DatasetBuilder()
    for i in range(m):
        lat = rng.uniform(-3, 3, size=K)
        t = np.linspace(0.5, 4.0, T)
        poses = np.stack([np.outer(np.ones(K), 5 * t), lat[:, None] * t[None] / 4, np.zeros((K, T))], -1)
        obstacle = rng.uniform(-3, 3)
        bev = np.zeros((2, 32, 32), np.float32)
        bev[0, 16:20, int(16 + obstacle * 16 / 32 * 2)] = 3.0
        clear = np.abs(lat - obstacle)
        nc = (clear > 1.0).astype(float)
        ep = np.clip(1 - np.abs(lat) / 6, 0, 1)
        subs = {"no_at_fault_collisions": nc, "drivable_area_compliance": np.ones(K), "ego_progress": ep,
                "time_to_collision_within_bound": nc, "comfort": np.ones(K), "driving_direction_compliance": np.ones(K),
                "score": nc * (5 * nc + 5 * ep + 2) / 12}
        feats = np.stack([clear + rng.normal(0, 0.1, K), rng.normal(size=K)], -1)
        b.add_scene(f"s{i}", "train" if i < m * 2 // 3 else "val", feats, ("clearance", "noise"), subs,
                    privileged=False, base_log_score=np.log(ep + 1e-3),
                    candidate_arrays={"poses": poses.astype(np.float32),
                                      "planner_features": rng.normal(size=(K, 7)).astype(np.float32)},
                    scene_arrays={"bev": bev, "ego": np.r_[5.0, 0, 0, 0, 0, 1, 0, 0].astype(np.float32)})
    return b.build()


def test_shapes_and_fc_modes_change_input_dims():
    ds = _dataset(6)
    x_none, _ = fc_inputs(ds, "none")
    x_f, names = fc_inputs(ds, "features")
    head = FCHead(ds.feature_names, hidden=[])
    x_fh, names_h = fc_inputs(ds, "features+head", head=head)
    assert x_none is None and x_f.shape == (6, K, 2) and x_fh.shape == (6, K, 2 + 6)
    assert names_h[:2] == names and names_h[2:] == [f"fc_head.{o}" for o in head.outputs]
    for fc, x in (("none", None), ("features", x_f), ("features+head", x_fh)):
        cfg = ScorerConfig(dim=16, layers=1, heads=2, fc=fc, fc_dim=0 if x is None else x.shape[-1])
        model = DrivoRFormScorer(cfg)
        batch = scorer_batch(ds, cfg, x)
        out = model(batch)
        assert set(out) == {"NC", "DAC", "DDC", "TTC", "EP", "C"} and out["NC"].shape == (6, K)
        assert model.selection_scores(out).shape == (6, K)
        assert (model.fc_embed is None) == (fc == "none")
        if model.fc_embed is not None:
            assert model.fc_embed[0].in_features == x.shape[-1]
    with pytest.raises(ValueError, match="poses must be"):
        model({**batch, "poses": batch["poses"][..., :4, :]})
    with pytest.raises(KeyError, match="fc"):
        model({k: v for k, v in batch.items() if k != "fc"})
    with pytest.raises(ValueError, match="fc_dim"):
        ScorerConfig(fc="features", fc_dim=0)
    with pytest.raises(ValueError, match="features\\+head needs"):
        fc_inputs(ds, "features+head")


def test_train_scorer_end_to_end(tmp_path, capsys):
    ds = _dataset(30)
    path = ds.save(tmp_path / "fc.npz")
    head = FCHead(ds.feature_names, hidden=[])
    head_path = save_head(tmp_path / "fc_head.safetensors", head, privileged=False)
    common = [f"dataset={path}", "model.dim=16", "model.layers=1", "model.heads=2", "optim.epochs=12",
              "optim.batch_size=4", "optim.lr=3e-3", "progress=false"]
    assert main(["train-scorer", *common, f"output_dir={tmp_path / 'none'}"]) == 0
    assert main(["train-scorer", *common, f"output_dir={tmp_path / 'fh'}", "fc=features+head",
                 f"fc_head={head_path}", "plot=false"]) == 0
    m = json.loads((tmp_path / "none" / "metrics.json").read_text())
    assert (tmp_path / "none" / "loss.png").is_file() and (tmp_path / "none" / "state.pt").is_file()
    assert m["val_loss"] == min(m["val_loss_curve"]) < m["val_loss_curve"][0]  # it learnt; best epoch kept
    assert m["config"]["fc"] == "none" and 0 <= m["val_selected"]["score"] <= 1
    model, extra = load_scorer(tmp_path / "fh" / "scorer.safetensors")
    assert model.config.fc == "features+head" and model.config.fc_dim == 8 and extra["best_epoch"] >= 0
    # the checkpoint gives the logits of the trained model: the NC head learnt the obstacle (val AUC well above 0.5)
    val = ds.subset("val")
    x, _ = fc_inputs(val, "features+head", head=head)
    with torch.no_grad():
        nc = model(scorer_batch(val, model.config, x))["NC"].numpy().ravel()
    y = val.subscores["no_at_fault_collisions"].ravel() >= 1
    from scorers.train import roc_auc

    assert roc_auc(y, nc) > 0.7
    assert main(["train-scorer", *common, "fc=features+head", f"output_dir={tmp_path / 'x'}"]) == 2
    assert "fc_head" in capsys.readouterr().err


class _Crash(torch.nn.Module):
    """Wraps a model and raises on its ``crash_at``-th training forward (an interrupted run)."""

    def __init__(self, model, crash_at=None):
        super().__init__()
        self.m, self.crash_at, self.calls = model, crash_at, 0

    def forward(self, batch):
        if self.training:
            self.calls += 1
            if self.crash_at is not None and self.calls == self.crash_at:
                raise RuntimeError("interrupted")
        return self.m(batch)


def test_resume_gives_the_uninterrupted_weights(tmp_path):
    ds = _dataset(12)
    tr, va = ds.subset("train"), ds.subset("val")
    cfg = ScorerConfig(dim=16, layers=1, heads=2)
    opt = TrainConfig(epochs=4, batch_size=4, lr=2e-3, progress=False, patience=None)
    data = (scorer_batch(tr, cfg, None), scorer_targets(tr))
    val = (scorer_batch(va, cfg, None), scorer_targets(va))

    def model(crash_at=None):
        torch.manual_seed(0)
        return _Crash(DrivoRFormScorer(cfg), crash_at)

    straight = model()
    res_a = train_heads(straight, *data, opt, val=val, state_path=tmp_path / "a.pt")
    crashed = model(crash_at=2 * 2 + 1)  # 2 steps per epoch: crash in the 3rd epoch
    with pytest.raises(RuntimeError, match="interrupted"):
        train_heads(crashed, *data, opt, val=val, state_path=tmp_path / "b.pt")
    assert torch.load(tmp_path / "b.pt", weights_only=True)["epoch"] == 2
    resumed = model()
    res_b = train_heads(resumed, *data, opt, val=val, state_path=tmp_path / "b.pt", resume=True)
    assert res_b.train_loss == res_a.train_loss and res_b.best_epoch == res_a.best_epoch
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    save_scorer(tmp_path / "s.safetensors", resumed.m)
    again, _ = load_scorer(tmp_path / "s.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(again(val[0])["EP"], resumed.m.eval()(val[0])["EP"])
