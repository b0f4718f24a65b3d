"""The shipped study assets load with the planner / scorer readers and are what their README says."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.assets import FC_HEAD_SANDBOX, VOCAB_SANDBOX, asset


def test_vocabulary_asset() -> None:
    from planners.vocabulary import Vocabulary

    vocab = Vocabulary.load(asset("vocab_sandbox.safetensors"))
    assert tuple(vocab.trajectories.shape) == (4, 5, 64, 8, 3)  # command x speed bin x K x T x (x, y, heading)
    assert torch.isfinite(vocab.trajectories).all()
    assert vocab.meta["k"] == 64 and vocab.meta["num_samples"] >= 64


def test_fc_head_asset_is_honest_with_w_fc() -> None:
    from scorers.head import load_head

    head, info = load_head(FC_HEAD_SANDBOX)
    assert not info["privileged"]
    assert info["extra"]["w_fc"] is not None and float(info["extra"]["w_fc"]) >= 0
    x = torch.zeros(3, len(head.feature_names))
    p = head.predict_proba(x)
    assert p.shape == (3,) and bool(((p > 0) & (p < 1)).all())


def test_missing_asset_error() -> None:
    assert VOCAB_SANDBOX.is_file()
    with pytest.raises(FileNotFoundError, match="shipped"):
        asset("nope.safetensors")
