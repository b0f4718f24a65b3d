"""``planner=drivor fc=features`` (issue 21): FC embedding + sub-score heads trained on a frozen DrivoR port."""

import pytest
import torch
from safetensors.torch import save_file

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE, Candidates, FCOutput
from planners.drivor.model import DRIVOR_HEADS, DrivoRConfig, DrivoRModel, Scorer
from planners.scoring.drivor_fc import DrivoRFCHeads, DrivoRFCScorer, load_fc_heads, save_fc_heads
from planners.training import pdm_targets
from scorers.head_training import TrainConfig, train_heads

TINY = DrivoRConfig(image_size=(224, 126), cameras=("CAM_F0",), proposal_num=6, ref_num=1, scorer_ref_num=1,
                    tf_d_model=32, tf_d_ffn=64, num_scene_tokens=4, lora_rank=2)


def test_full_size_shapes_with_random_weights(tmp_path):
    full = DrivoRConfig()
    heads = DrivoRFCHeads(Scorer(full.tf_d_model, full.tf_d_ffn), ["a", "b", "c"])
    out = heads({"tokens": torch.randn(2, full.proposal_num, full.tf_d_model), "fc": torch.randn(2, full.proposal_num, 3)})
    assert set(out) == {"NC", "DAC", "DDC", "TTC", "EP", "C"} and out["EP"].shape == (2, full.proposal_num)
    with pytest.raises(ValueError, match="tokens"):
        heads({"tokens": torch.randn(2, 64, 32), "fc": torch.randn(2, 64, 3)})
    # the file round trip and the evaluation scorer at full size (a stand-in FC term gives the three features)
    torch.nn.init.normal_(heads.fc_embed[2].weight)
    heads.fit_normalization(torch.randn(4, full.proposal_num, 3))
    path = save_fc_heads(tmp_path / "h.safetensors", heads, {"fc_model": {"cameras": ["CAM_F0"]}})
    loaded, info = load_fc_heads(path)
    assert info["fc_names"] == ["a", "b", "c"] and info["fc_model"] == {"cameras": ["CAM_F0"]}
    k = full.proposal_num
    cands = Candidates(torch.randn(k, full.num_poses, 3), {n: torch.zeros(k) for n in out},
                       torch.randn(k, full.tf_d_model), {"pdm_score": torch.zeros(k)})
    fc = torch.randn(k, 3)
    feats = {n: fc[:, i] for i, n in enumerate("abc")} | {"unused": torch.zeros(k)}
    scored = DrivoRFCScorer(loaded, lambda _ai, _c: FCOutput(logit=torch.zeros(k), features=feats))(cands, None)
    with torch.no_grad():
        want = heads({"tokens": cands.features[None], "fc": fc[None]})
    for name in out:
        torch.testing.assert_close(scored.logits[name], want[name][0])
    assert "pdm_score" not in scored.extras and "drivor_pdm_score" in scored.extras
    with pytest.raises(ValueError, match="gives no"):
        DrivoRFCScorer(loaded, lambda _ai, _c: FCOutput(logit=torch.zeros(k), features={"a": fc[:, 0]}))(cands, None)
    with pytest.raises(ValueError, match="not a DrivoR FC heads file"):
        save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
        load_fc_heads(tmp_path / "other.safetensors")


def test_tiny_drivor_end_to_end_trains_only_the_new_parts():
    torch.manual_seed(0)
    model = DrivoRModel(TINY).eval()
    n, k = 6, TINY.proposal_num
    with torch.no_grad():
        out = model({"image": torch.randn(n, 1, 3, 126, 224), "ego_status": torch.randn(n, 4, 11)})
    tokens = out["scorer_tokens"]
    assert tokens.shape == (n, k, TINY.tf_d_model)
    fc = torch.randn(n, k, 2)
    heads = DrivoRFCHeads(model.scorer, ["clearance", "observed"], hidden=16)
    heads.fit_normalization(fc)
    with torch.no_grad():  # before training: DrivoR's own logits (the embedding starts at zero)
        start = heads({"tokens": tokens, "fc": fc})
    for name in DRIVOR_HEADS:
        torch.testing.assert_close(start[DRIVOR_HEAD_TO_SUBSCORE[name]], out["pred_logit"][name])
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    # targets that depend on the FC feature only: NC is 1 where "clearance" > 0
    subs = {s: torch.ones(n, k) for s in ("NC", "DAC", "DDC", "TTC", "EP", "C")}
    subs["NC"] = (fc[..., 0] > 0).float()
    targets = pdm_targets({s: v.numpy() for s, v in subs.items()})
    batch = {"tokens": tokens, "fc": fc}
    res = train_heads(heads, batch, targets, TrainConfig(epochs=30, batch_size=3, lr=1e-2, progress=False))
    assert res.train_parts[-1]["NC"] < res.train_parts[0]["NC"]
    with torch.no_grad():
        nc = heads(batch)["NC"]
    assert ((nc > nc.median()) == (fc[..., 0] > fc[..., 0].median())).float().mean() > 0.7
    for key, v in model.state_dict().items():  # the port is untouched
        torch.testing.assert_close(v, frozen[key], rtol=0, atol=0)
