"""The multi-output FC head (issue 21): one logit per sub-score, masked BCE each, and the legacy single-output
checkpoints that keep loading."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scorers_synthetic import fc_dataset_arrays

from scorers.dataset import load_dataset
from scorers.head import (
    FORMAT_V1,
    SUBSCORE_OUTPUTS,
    FCHead,
    combined_log_prob,
    load_head,
    logit_from_log_prob,
    save_head,
)
from scorers.train import output_targets, predict_dataset, roc_auc, train_head


@pytest.fixture()
def ds(tmp_path):
    path = tmp_path / "fc.npz"
    np.savez(path, **fc_dataset_arrays(m=80, k=16))
    return load_dataset(path)


def test_multi_output_head_learns_every_subscore(ds):
    res = train_head(ds.subset("train"), ds.subset("val"), hidden=[], epochs=120, lr=0.05, progress=False)
    head = res.head
    assert head.outputs == SUBSCORE_OUTPUTS and head.multi_output
    test = ds.subset("test")
    x = torch.from_numpy(test.features)
    logits = head.logits(x)
    assert set(logits) == set(SUBSCORE_OUTPUTS) and logits["NC"].shape == x.shape[:2]
    targets = output_targets(test, head.outputs)
    assert roc_auc(targets["NC"].ravel() >= 1, logits["NC"].detach().numpy().ravel()) > 0.85  # clearance → NC
    assert roc_auc(targets["DAC"].ravel() >= 1, logits["DAC"].detach().numpy().ravel()) > 0.85  # observed → DAC
    # the FC logit fusion reads is DrivoR's v1 surrogate of the sub-scores, as a logit of a probability
    with torch.no_grad():
        fc = head(x)
        expected = logit_from_log_prob(combined_log_prob(head.logits(x), "v1"))
    torch.testing.assert_close(fc, expected)
    p = predict_dataset(head, test)
    assert p.shape == test.labels.shape and ((p > 0) & (p < 1)).all()
    assert roc_auc(test.labels, p) > 0.85


def test_multi_output_targets_follow_drivor_rules(ds):
    sub = ds.subset("train")
    sub.subscores["no_at_fault_collisions"][0, 0] = 0.5
    sub.candidate_mask[0, 1] = False
    t = output_targets(sub, ("NC", "EP", "FC"))
    assert t["NC"][0, 0] == 0.0  # NC 0.5 counts as 0 (DrivoR)
    assert np.isnan(t["EP"][0, 1]) and np.isnan(t["FC"][0, 1])  # padded candidates are masked
    assert t["EP"][1, 0] == pytest.approx(sub.subscores["ego_progress"][1, 0])
    del sub.subscores["comfort"]
    with pytest.raises(ValueError, match="comfort"):
        output_targets(sub, ("C",))


def test_checkpoint_round_trip_and_planners_trainer(ds, tmp_path):
    res = train_head(ds.subset("train"), ds.subset("val"), hidden=[8], epochs=5, progress=False, trainer="planners",
                     combine="v2")
    path = save_head(tmp_path / "h.safetensors", res.head, privileged=False)
    head, info = load_head(path)
    assert info["outputs"] == SUBSCORE_OUTPUTS and head.combine == "v2"
    x = torch.from_numpy(ds.features[:3])
    torch.testing.assert_close(head(x), res.head(x))


def test_single_output_checkpoint_of_format_1_still_loads(tmp_path):
    torch.manual_seed(0)
    legacy = FCHead(["a", "b"], hidden=[], outputs=("FC",))
    path = tmp_path / "old.safetensors"
    meta = {"format": FORMAT_V1, "feature_names": json.dumps(["a", "b"]), "hidden": "[]", "dropout": "0.0",
            "privileged": "0", "extra": json.dumps({"w_fc": 0.5})}  # a checkpoint written before issue 21
    save_file({k: v.contiguous() for k, v in legacy.state_dict().items()}, str(path), metadata=meta)
    head, info = load_head(path)
    assert info["outputs"] == ("FC",) and not head.multi_output and info["extra"]["w_fc"] == 0.5
    x = torch.randn(4, 2)
    torch.testing.assert_close(head(x), legacy(x))
    assert head(x).shape == (4,)
    bad = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in legacy.state_dict().items()}, str(bad), metadata={**meta, "format": "x"})
    with pytest.raises(ValueError, match="not an FC-head checkpoint"):
        load_head(bad)
    with pytest.raises(ValueError, match="outputs"):
        FCHead(["a"], outputs=("NC", "nope"))


def test_logit_from_log_prob_is_stable():
    lp = torch.tensor([-50.0, -1.0, -1e-9, 0.0])
    logit = logit_from_log_prob(lp)
    assert torch.isfinite(logit).all()
    torch.testing.assert_close(torch.nn.functional.logsigmoid(logit[:2]), lp[:2])
