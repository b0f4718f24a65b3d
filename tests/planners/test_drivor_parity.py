"""Parity of the DrivoR port with the official model's golden outputs (random weights, 224×126)."""

from __future__ import annotations

import json

import pytest
import torch

from inspatio_drive.contracts.selection import DRIVOR_V1, DRIVOR_V2
from planners.drivor.checkpoint import CheckpointError, load_state_dict_strict, read_checkpoint
from planners.drivor.model import DRIVOR_HEADS, DrivoRConfig, DrivoRModel
from planners.drivor.planner import DrivoRPlanner

TOL = {"rtol": 1e-4, "atol": 1e-4}  # tolerance recommended in tests/data/golden/drivor/README.md


@pytest.fixture(scope="module")
def outputs(golden_model, golden_io):
    feats = {"image": golden_io["in.image"], "ego_status": golden_io["in.ego_status"]}
    with torch.no_grad():
        v1 = golden_model(feats, weights=DRIVOR_V1, debug=True)
        v2 = golden_model(feats, weights=DRIVOR_V2)
    return v1, v2


def test_proposals_and_stages(outputs, golden_io):
    v1, _ = outputs
    torch.testing.assert_close(v1["proposals"], golden_io["out.proposals"], **TOL)
    torch.testing.assert_close(torch.stack(v1["proposal_list"]), golden_io["out.proposal_list"], **TOL)


def test_logits(outputs, golden_io):
    v1, _ = outputs
    assert tuple(v1["pred_logit"]) == DRIVOR_HEADS
    for head in DRIVOR_HEADS:
        torch.testing.assert_close(v1["pred_logit"][head], golden_io[f"out.pred_logit.{head}"], **TOL)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_pdm_score_and_selection(outputs, golden_io, version):
    out = outputs[0] if version == "v1" else outputs[1]
    torch.testing.assert_close(out["pdm_score"], golden_io[f"out.pdm_score_{version}"], **TOL)
    assert torch.equal(out["selected_index"], golden_io[f"out.selected_index_{version}"])
    torch.testing.assert_close(out["trajectory"], golden_io[f"out.trajectory_{version}"], **TOL)


def test_intermediates(outputs, golden_io):
    v1, _ = outputs
    for key, ref in golden_io.items():
        if key.startswith("dbg."):
            torch.testing.assert_close(v1[key].reshape(ref.shape), ref, **TOL, msg=key)


def test_lightning_checkpoint_round_trip(tmp_path, golden_ckpt_state, golden_io):
    """A Lightning-style file (``state_dict`` + bookkeeping) loads strictly through from_checkpoint."""
    path = tmp_path / "drivor.ckpt"
    torch.save({"state_dict": golden_ckpt_state, "epoch": 3, "global_step": 10}, path)
    planner = DrivoRPlanner.from_checkpoint(path, config=DrivoRConfig(image_size=(224, 126)))
    cands = planner.propose_features(
        {"image": golden_io["in.image"], "ego_status": golden_io["in.ego_status"]}
    )
    torch.testing.assert_close(cands.poses, golden_io["out.proposals"], **TOL)
    torch.testing.assert_close(
        cands.logits["TTC"], golden_io["out.pred_logit.time_to_collision_within_bound"], **TOL
    )
    assert torch.equal(cands.extras["selected_index"], golden_io["out.selected_index_v1"])
    assert cands.features is not None and cands.features.shape == (2, 64, 256)


def test_safetensors_checkpoint(tmp_path, golden_ckpt_state):
    from safetensors.torch import save_file

    path = tmp_path / "drivor.safetensors"
    save_file({k: v.contiguous() for k, v in golden_ckpt_state.items()}, str(path))
    sd = read_checkpoint(path)
    assert len(sd) == 467 and "scene_embeds" in sd


def test_mismatch_lists_keys(tmp_path, golden_ckpt_state):
    bad = dict(golden_ckpt_state)
    bad.pop("agent._drivor_model.scene_embeds")
    bad["agent._drivor_model.extra_head.weight"] = torch.zeros(2)
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": bad}, path)
    with pytest.raises(CheckpointError) as info:
        DrivoRPlanner.from_checkpoint(path, config=DrivoRConfig(image_size=(224, 126)))
    msg = str(info.value)
    assert "missing keys (1): scene_embeds" in msg
    assert "unexpected keys (1): extra_head.weight" in msg
    assert str(path) in msg


def test_wrong_image_size_is_explained(golden_ckpt_state):
    with torch.device("meta"):
        model = DrivoRModel(DrivoRConfig())  # 1148×672: pos_embed [1, 3936, 384]
    with pytest.raises(CheckpointError, match=r"pos_embed.*image_size"):
        from planners.drivor.checkpoint import strip_prefix

        load_state_dict_strict(model, strip_prefix(golden_ckpt_state))


def test_full_size_manifest_loads_strictly(golden_dir):
    """Every key/shape of a real (1148×672) DrivoR checkpoint matches the default model, strict."""
    manifest = json.loads((golden_dir / "checkpoint_keys.json").read_text())
    from planners.drivor.checkpoint import strip_prefix

    with torch.device("meta"):
        model = DrivoRModel()
        state = {
            e["key"]: torch.empty(e["shape"], dtype=getattr(torch, e["dtype"])) for e in manifest["keys"]
        }
    load_state_dict_strict(model, strip_prefix(state))
    assert sum(p.numel() for p in model.parameters()) == manifest["num_params_full"]
    assert len(state) == manifest["num_tensors"]


def test_bfloat16_autocast_stays_close(golden_model, golden_io):
    planner = DrivoRPlanner(golden_model, amp_dtype="bfloat16")
    cands = planner.propose_features(
        {"image": golden_io["in.image"], "ego_status": golden_io["in.ego_status"]}
    )
    assert cands.poses.dtype == torch.float32
    err = (cands.poses - golden_io["out.proposals"]).abs().max()
    assert 0 < err < 0.1  # bf16 really ran (measured 0.02; golden proposals span ±1.8)
    with pytest.raises(ValueError, match="amp_dtype"):
        DrivoRPlanner(golden_model, amp_dtype="int8")


def test_bad_features_are_explained(golden_model, golden_io):
    with pytest.raises(KeyError, match="ego_status"):
        golden_model({"image": golden_io["in.image"]})
    with pytest.raises(ValueError, match=r"ego_status.*\[B, T_hist, 11\]"):
        golden_model({"image": golden_io["in.image"], "ego_status": golden_io["in.ego_status"][..., :7]})
    with pytest.raises(ValueError, match="image"):
        golden_model({"image": golden_io["in.image"][:, :3], "ego_status": golden_io["in.ego_status"]})
