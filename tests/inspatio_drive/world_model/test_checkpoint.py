"""Strict checkpoint loading: the ``model.`` prefix, the 1.3B key manifest, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from wm_golden import GOLDEN

from inspatio_drive.world_model.checkpoint import checkpoint_manifest, load_dit, resolve_checkpoint
from inspatio_drive.world_model.config import WanDiTConfig


def test_full_size_manifest_matches_official_keys():
    official = json.loads((GOLDEN / "keys_1.3b.json").read_text())
    ours = checkpoint_manifest(WanDiTConfig.inspatio_1_3b())
    theirs = {key: tuple(shape) for key, shape in official["keys"]}
    assert WanDiTConfig.from_mapping(official["model_config"]) == WanDiTConfig.inspatio_1_3b()
    assert ours == theirs
    assert len(ours) == official["num_tensors"] == 825
    assert sum(torch.Size(s).numel() for s in ours.values()) == official["num_params"] == 1_419_119_680


def test_tiny_weights_load_strictly(tiny_model):
    ref = load_file(GOLDEN / "tiny_weights.safetensors")
    state = tiny_model.state_dict()
    assert len(state) == len(ref) == 69
    for k, v in ref.items():
        assert torch.equal(state[k.removeprefix("model.")], v)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    ref = load_file(GOLDEN / "tiny_weights.safetensors")
    bad = dict(ref)
    bad.pop("model.head.head.weight")
    bad["model.blocks.0.extra"] = torch.zeros(1)
    save_file(bad, tmp_path / "bad.safetensors")
    with pytest.raises(
        ValueError, match=r"1 missing keys: head\.head\.weight[\s\S]*1 unexpected keys: blocks\.0\.extra"
    ):
        load_dit(tmp_path / "bad.safetensors", WanDiTConfig.tiny())


def test_wrong_prefix_and_wrong_config_are_rejected(tmp_path):
    ref = load_file(GOLDEN / "tiny_weights.safetensors")
    save_file({k.removeprefix("model."): v for k, v in ref.items()}, tmp_path / "noprefix.safetensors")
    with pytest.raises(ValueError, match=r"no tensor key starts with 'model\.'"):
        load_dit(tmp_path / "noprefix.safetensors", WanDiTConfig.tiny())
    with pytest.raises(ValueError, match="shape mismatches"):
        load_dit(
            GOLDEN / "tiny_weights.safetensors",
            WanDiTConfig(**{**WanDiTConfig.tiny().to_dict(), "ffn_dim": 96}),
        )


def test_missing_file_names_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPATIO_CHECKPOINT_DIR", str(tmp_path / "env_dir"))
    with pytest.raises(FileNotFoundError) as err:
        resolve_checkpoint("InSpatio-World-1.3B.safetensors", [tmp_path / "a"])
    msg = str(err.value)
    assert "InSpatio-World-1.3B.safetensors" in msg
    assert str(tmp_path / "a") in msg and str(tmp_path / "env_dir") in msg and "inspatio/world" in msg
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "InSpatio-World-1.3B.safetensors").write_bytes(b"")
    assert resolve_checkpoint("InSpatio-World-1.3B.safetensors", [tmp_path / "a"]) == tmp_path / "a" / (
        "InSpatio-World-1.3B.safetensors"
    )
