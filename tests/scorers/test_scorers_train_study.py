import json

import numpy as np
import pytest
from scorers_synthetic import fc_dataset_arrays

from inspatio_drive.commands.train_fc import main
from scorers.dataset import load_dataset
from scorers.head import load_head
from scorers.study import StudyInputs, plot_study, run_study, selections, to_markdown
from scorers.train import predict_dataset, roc_auc, train_head


def test_roc_auc():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_train_head_learns_synthetic_link(tmp_path):
    path = tmp_path / "fc.npz"
    np.savez(path, **fc_dataset_arrays(m=80, k=16))
    ds = load_dataset(path)
    res = train_head(ds.subset("train"), ds.subset("val"), hidden=[], epochs=150, lr=0.05, progress=False)
    assert res.val_loss[res.best_epoch] < res.val_loss[0]
    test = ds.subset("test")
    auc = roc_auc(test.labels, predict_dataset(res.head, test))
    assert auc > 0.85
    # the head relies on the informative columns: dropping them kills the signal
    only_noise = train_head(
        ds.subset("train"), ds.subset("val"), features=["view_overlap"], hidden=[], epochs=30, progress=False
    )
    assert roc_auc(test.labels, predict_dataset(only_noise.head, test)) < 0.7
    with pytest.raises(KeyError, match="not in the dataset"):
        train_head(ds.subset("train"), None, features=["nope"], progress=False)


def test_train_fc_cli_end_to_end(tmp_path, capsys):
    path = tmp_path / "fc.npz"
    np.savez(path, **fc_dataset_arrays(m=80, k=16))
    out = tmp_path / "run"
    rc = main(
        [
            f"dataset={path}",
            f"output_dir={out}",
            "optim.epochs=60",
            "optim.lr=0.03",
            "progress=false",
            "head.hidden=[8]",
            "trainer=builtin",
        ]
    )
    assert rc == 0
    head, info = load_head(out / "fc_head.safetensors")
    assert head.feature_names == ("min_clearance_m", "observed_near_path", "view_overlap")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "honest" and not info["privileged"]
    assert metrics["val_auc"] > 0.8
    assert (
        metrics["w_fc"] in [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
        and info["extra"]["w_fc"] == metrics["w_fc"]
    )
    assert (out / "loss.png").stat().st_size > 1000
    assert "train-fc [honest]" in capsys.readouterr().out
    # missing dataset / privileged data without opt-in
    assert main([f"output_dir={out}"]) == 2
    priv = dict(fc_dataset_arrays(m=20, k=4), privileged=np.asarray(True))
    np.savez(tmp_path / "priv.npz", **priv)
    assert main([f"dataset={tmp_path / 'priv.npz'}", f"output_dir={out}", "progress=false"]) == 2
    assert "allow_privileged" in capsys.readouterr().err


def _study_inputs(seed=0, m=120, k=16, s=3, fc_quality=1.0):
    a = fc_dataset_arrays(m=m, k=k, seed=seed)
    rng = np.random.default_rng(seed + 1)
    label = a["no_at_fault_collisions"] * a["drivable_area_compliance"]
    logit = fc_quality * 4 * (label - 0.5)
    fc = 1 / (1 + np.exp(-(logit[None] + rng.normal(0, 1.0, size=(s, m, k)))))
    subs = {key: a[key] for key in ("score", "no_at_fault_collisions", "drivable_area_compliance", "ego_progress",
                                     "time_to_collision_within_bound", "comfort", "driving_direction_compliance")}  # fmt: skip
    return StudyInputs(
        a["base_log_score"], fc, subs, w_fc=[1.0] * s, privileged=False, scoring_time_s=np.full(m, 0.02)
    )


def test_study_methods_and_ci():
    inp = _study_inputs()
    sel = selections(inp)
    assert set(sel) == {"base", "base+fc", "fc", "oracle@K"} and sel["base"].shape == (3, 120)
    res = run_study(inp, n_boot=300)
    rows = {r.method: r for r in res.rows}
    pdms = {k: r.metrics["score"] for k, r in rows.items()}
    # oracle is the upper bound of PDMS; CIs bracket the means
    assert all(pdms["oracle@K"].mean >= p.mean - 1e-12 for p in pdms.values())
    for r in res.rows:
        for st in r.metrics.values():
            assert st.lo <= st.mean + 1e-9 and st.mean <= st.hi + 1e-9
    # informative FC improves on the noisy base selection
    assert pdms["base+fc"].mean > pdms["base"].mean
    assert 0 < res.gap_closed.mean <= 1 and res.gap_closed.lo <= res.gap_closed.mean <= res.gap_closed.hi
    assert rows["base"].mode == "n/a" and rows["base+fc"].mode == "honest"
    md = to_markdown(res)
    assert "| base+fc | honest |" in md and "PDMS" in md and "NC" in md and "20 ms" in md
    assert ("met" in md) and str(res.num_scenes) in md


def test_study_useless_fc_closes_nothing(tmp_path):
    inp = _study_inputs(fc_quality=0.0)
    inp.w_fc = [0.0, 0.0, 0.0]  # what choose_w_fc picks for a useless head
    res = run_study(inp, n_boot=200)
    assert res.gap_closed.mean == pytest.approx(0.0)
    assert not res.target_met
    png = plot_study(res, tmp_path / "study.png")
    assert png.stat().st_size > 1000


def test_study_input_validation():
    inp = _study_inputs(m=10, k=4, s=2)
    with pytest.raises(ValueError, match="w_fc"):
        StudyInputs(inp.base_log_score, inp.fc_prob, inp.subscores, w_fc=[1.0], privileged=False)
    with pytest.raises(ValueError, match="score"):
        StudyInputs(
            inp.base_log_score,
            inp.fc_prob,
            {"comfort": inp.subscores["comfort"]},
            w_fc=[1, 1],
            privileged=False,
        )
    with pytest.raises(ValueError, match="fc_prob"):
        StudyInputs(inp.base_log_score, inp.fc_prob[:, :, :2], inp.subscores, w_fc=[1, 1], privileged=False)


def test_study_cli_round_trip(tmp_path, capsys):
    from inspatio_drive.commands.fc_table import main as study_main
    from scorers.study import load_study_inputs, save_study_inputs

    inp = _study_inputs(m=40, k=8, s=3)
    path = save_study_inputs(inp, tmp_path / "study_in.npz")
    again = load_study_inputs(path)
    np.testing.assert_array_equal(again.fc_prob, inp.fc_prob)
    assert again.subscores.keys() == inp.subscores.keys()
    out = tmp_path / "study"
    assert study_main([f"inputs={path}", f"output_dir={out}", "n_boot=100"]) == 0
    assert "| oracle@K |" in (out / "study.md").read_text()
    assert json.loads((out / "study.json").read_text())["num_seeds"] == 3
    assert (out / "study.png").stat().st_size > 1000
    assert study_main([f"output_dir={out}"]) == 2
    np.savez(tmp_path / "bad.npz", base_log_score=inp.base_log_score)
    with pytest.raises(ValueError, match="missing key"):
        load_study_inputs(tmp_path / "bad.npz")


def test_planners_training_loop_trains_the_fc_head(tmp_path):
    path = tmp_path / "fc.npz"
    arrays = fc_dataset_arrays(m=80, k=16)
    arrays["candidate_mask"] = np.ones((80, 16), dtype=bool)
    arrays["candidate_mask"][:, -3:] = False  # padded candidates must be masked out of the loss
    np.savez(path, **arrays)
    ds = load_dataset(path)
    res = train_head(
        ds.subset("train"),
        ds.subset("val"),
        hidden=[],
        epochs=40,
        lr=0.05,
        progress=False,
        trainer="planners",
    )
    assert res.val_loss[res.best_epoch] < res.val_loss[0]
    test = ds.subset("test")
    m = test.candidate_mask
    assert roc_auc(test.labels[m], predict_dataset(res.head, test)[m]) > 0.85
    with pytest.raises(ValueError, match="trainer"):
        train_head(ds.subset("train"), None, trainer="nope", progress=False)
    # the CLI default is this loop
    out = tmp_path / "run"
    assert (
        main([f"dataset={path}", f"output_dir={out}", "optim.epochs=20", "optim.lr=0.05", "progress=false"])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainer"] == "planners" and metrics["val_auc"] > 0.8
