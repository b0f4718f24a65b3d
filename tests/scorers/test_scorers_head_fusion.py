import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scorers_synthetic import fc_dataset_arrays

from scorers.dataset import FCDataset, load_dataset
from scorers.fusion import ValidationData, choose_w_fc, fused_score, fused_score_from_logits, select
from scorers.head import FCHead, load_head, save_head


def test_head_shapes_normalisation_and_round_trip(tmp_path):
    torch.manual_seed(0)
    head = FCHead(["a", "b", "c"], hidden=[8, 4])
    x = torch.randn(100, 3) * torch.tensor([1.0, 10.0, 0.1]) + 5
    head.set_normalisation(x)
    torch.testing.assert_close(((x - head.mean) / head.std).mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    logits = head(x.view(10, 10, 3))
    assert logits.shape == (10, 10)
    p = head.predict_proba(x)
    assert ((p > 0) & (p < 1)).all()
    path = save_head(tmp_path / "h.safetensors", head, privileged=True, extra={"w_fc": 0.5})
    loaded, info = load_head(path)
    torch.testing.assert_close(loaded(x), head.eval()(x))
    assert info["feature_names"] == ("a", "b", "c") and info["hidden"] == (8, 4)
    assert info["privileged"] is True and info["extra"]["w_fc"] == 0.5
    logistic = FCHead(["a"], hidden=[])
    assert len(list(logistic.net)) == 1
    with pytest.raises(ValueError, match="expected 3 features"):
        head(torch.zeros(2, 4))


def test_load_head_rejects_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_head(tmp_path / "missing.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not an FC-head"):
        load_head(other)
    head = FCHead(["a", "b"], hidden=[4])
    path = save_head(tmp_path / "h.safetensors", head, privileged=False)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    meta["hidden"] = json.dumps([5])
    save_file({k: v for k, v in head.state_dict().items()}, str(path), metadata=meta)
    with pytest.raises((ValueError, RuntimeError)):
        load_head(path)


def test_fused_score_and_select():
    base = torch.tensor([[0.0, -0.1, -0.2]])
    p = torch.tensor([[0.1, 0.9, 0.99]])
    np.testing.assert_array_equal(select(fused_score(base, p, 0.0)), [0])
    np.testing.assert_array_equal(select(fused_score(base, p, 1.0)), [1])
    np.testing.assert_array_equal(select(fused_score(base, p, 5.0)), [2])
    torch.testing.assert_close(fused_score(base, p, 2.0), base + 2 * torch.log(p))
    logit = torch.logit(p.double())
    torch.testing.assert_close(
        fused_score_from_logits(base.double(), logit, 2.0), fused_score(base.double(), p.double(), 2.0)
    )
    assert torch.isfinite(fused_score(base, torch.zeros_like(p), 1.0)).all()  # clamped
    with pytest.raises(ValueError, match="w_fc"):
        fused_score(base, p, -1.0)
    np.testing.assert_array_equal(select([[3.0, 5.0, 4.0]], mask=[[True, False, True]]), [2])
    with pytest.raises(ValueError, match="no valid candidate"):
        select([[1.0, 2.0]], mask=[[False, False]])


def test_choose_w_fc_on_validation_only():
    rng = np.random.default_rng(0)
    M, K = 200, 8
    target = rng.uniform(size=(M, K))
    base = np.log(target + rng.normal(0, 0.5, size=(M, K)).clip(-0.5, 0.5) + 1.0)  # noisy view of the target
    fc = 1 / (1 + np.exp(-10 * (target - 0.5)))  # informative FC
    choice = choose_w_fc(ValidationData(base, fc, target), [0.0, 0.5, 1.0, 2.0])
    assert choice.w_fc > 0
    assert choice.mean_target[choice.grid.index(choice.w_fc)] == max(choice.mean_target)
    assert choice.mean_target[choice.grid.index(choice.w_fc)] > choice.mean_target[0]
    # useless FC → the smallest weight wins the tie
    flat = np.full((M, K), 0.5)
    assert choose_w_fc(ValidationData(base, flat, target), [2.0, 0.0, 1.0]).w_fc == 0.0
    with pytest.raises(ValueError, match="never on 'test'"):
        choose_w_fc(ValidationData(base, fc, target, split="test"), [0.0, 1.0])
    with pytest.raises(ValueError, match="grid"):
        choose_w_fc(ValidationData(base, fc, target), [])
    with pytest.raises(ValueError, match=r"\[M, K\]"):
        ValidationData(base, fc[:, :3], target)


def test_dataset_round_trip_and_validation(tmp_path):
    arrays = fc_dataset_arrays(m=12, k=4)
    path = tmp_path / "fc.npz"
    np.savez(path, **arrays)
    ds = load_dataset(path)
    assert ds.features.shape == (12, 4, 3) and not ds.privileged
    np.testing.assert_array_equal(
        ds.labels, (arrays["no_at_fault_collisions"] == 1) & (arrays["drivable_area_compliance"] == 1)
    )
    assert ds.subset("val").features.shape[0] == 3
    with pytest.raises(ValueError, match="no scenes with split"):
        ds.subset("nope")
    again = load_dataset(ds.save(tmp_path / "again.npz"))
    np.testing.assert_array_equal(again.features, ds.features)
    assert again.feature_names == ds.feature_names
    # errors name the file and the field
    bad = dict(arrays)
    del bad["drivable_area_compliance"]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="drivable_area_compliance"):
        load_dataset(tmp_path / "bad.npz")
    bad = dict(arrays, no_at_fault_collisions=arrays["no_at_fault_collisions"] * 3)
    np.savez(tmp_path / "bad2.npz", **bad)
    with pytest.raises(ValueError, match="no_at_fault_collisions"):
        load_dataset(tmp_path / "bad2.npz")
    obj = dict(arrays, feature_names=np.array(["a", None, "c"], dtype=object))
    np.savez(tmp_path / "obj.npz", **obj)
    with pytest.raises(ValueError, match="pickles"):
        load_dataset(tmp_path / "obj.npz")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="feature_names"):
        FCDataset(ds.features, ("a",), ds.split, ds.subscores, False)
    nan = ds.features.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        FCDataset(nan, ds.feature_names, ds.split, ds.subscores, False)


def test_dataset_builder_pads_and_checks(tmp_path):
    from scorers.dataset import DatasetBuilder
    from scorers.features import ScorerInputs, compute_features

    b = DatasetBuilder()
    names = ("a", "b")

    def sub(k):
        return {
            "no_at_fault_collisions": np.ones(k),
            "drivable_area_compliance": np.zeros(k),
            "score": np.zeros(k),
        }

    b.add_scene("s0", "train", np.ones((3, 2)), names, sub(3), privileged=False, base_log_score=np.zeros(3))
    b.add_scene("s1", "val", np.ones((2, 2)), names, sub(2), privileged=False, base_log_score=np.zeros(2))
    ds = b.build()
    assert ds.features.shape == (2, 3, 2) and ds.candidate_mask.tolist() == [[True] * 3, [True, True, False]]
    assert ds.scene_tokens.tolist() == ["s0", "s1"] and (ds.base_log_score[1, 2] < -1e8)
    again = load_dataset(ds.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(again.candidate_mask, ds.candidate_mask)
    with pytest.raises(ValueError, match="differ"):
        b.add_scene("s2", "val", np.ones((2, 2)), names, sub(2), privileged=True, base_log_score=np.zeros(2))
    with pytest.raises(ValueError, match="missing"):
        b.add_scene("s3", "val", np.ones((2, 2)), names, {"score": np.zeros(2)}, privileged=False)
    with pytest.raises(ValueError, match=r"\[K, 2\]"):
        b.add_scene("s4", "val", np.ones((2, 3)), names, sub(2), privileged=False)
    # a FeatureTable goes in directly
    t = DatasetBuilder()
    table = compute_features(
        ScorerInputs(candidates=torch.zeros(4, 8, 3) + torch.arange(1, 9).view(1, 8, 1) * 0.1)
    )
    t.add_scene("x", "train", table, None, sub(4), privileged=False)
    assert t.build().feature_names == table.names
    with pytest.raises(ValueError, match="privileged"):
        t.add_scene("y", "train", table, None, sub(4), privileged=True)
    with pytest.raises(ValueError, match="no scenes"):
        DatasetBuilder().build()


def test_choose_w_fc_keeps_subscores():
    """A weight that raises the target but lowers a kept quantity (e.g. comfort) is not eligible; the best
    weight that keeps every kept mean is chosen, and the lowered names are reported per weight."""
    M = 50
    # candidate 0: the planner's favourite; 1: FC's favourite, best target but uncomfortable; 2: FC's second,
    # better target than 0 and comfortable
    base = np.tile(np.array([0.0, -0.5, -0.6]), (M, 1))
    fc = np.tile(np.array([0.2, 0.99, 0.9]), (M, 1))
    target = np.tile(np.array([0.5, 0.9, 0.8]), (M, 1))
    comfort = np.tile(np.array([1.0, 0.0, 1.0]), (M, 1))
    grid = [0.0, 1.0, 8.0]
    free = choose_w_fc(ValidationData(base, fc, target), grid)
    assert free.w_fc == 1.0 and free.feasible is None  # unconstrained: candidate 1 wins from w = 1 on
    kept = choose_w_fc(ValidationData(base, fc, target, keep={"comfort": comfort}), grid)
    fused = {w: int(np.argmax(base[0] + w * np.log(fc[0]))) for w in grid}
    assert fused == {0.0: 0, 1.0: 1, 8.0: 1}
    assert kept.feasible == [True, False, False] and kept.lowered["1.0"] == ["comfort"]
    assert kept.w_fc == 0.0
    # a candidate 2 that FC prefers more strongly becomes the eligible choice
    fc2 = np.tile(np.array([0.2, 0.6, 0.99]), (M, 1))
    kept2 = choose_w_fc(ValidationData(base, fc2, target, keep={"comfort": comfort}), grid)
    assert kept2.w_fc == 1.0 and kept2.feasible == [True, True, True]
    with pytest.raises(ValueError, match=r"\[M, K\]"):
        ValidationData(base, fc, target, keep={"comfort": comfort[:, :2]})
