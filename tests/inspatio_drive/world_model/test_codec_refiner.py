"""The block-PCA codec's optional decoder refiner: old codec files load and decode exactly as before, the refiner
changes no shape and streams like whole videos, and it round-trips through the codec file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from inspatio_drive.assets import asset
from inspatio_drive.world_model.codec import BlockPCACodec, BlockRefiner, block_phase
from inspatio_drive.world_model.factory import SANDBOX_SMALL_CODEC

OLD_CODEC = Path(__file__).resolve().parents[2] / "data" / "world_model" / "block_pca_v1.safetensors"


def _latents(channels: int = 32, n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, n, channels, 4, 6, generator=torch.Generator().manual_seed(seed))


def _formula(t: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """The block-PCA decoding written out: u = (z·scale) @ basisᵀ + mean, pixel shuffle, frame 0 once."""
    u = (z.permute(0, 1, 3, 4, 2) * t["scale"]) @ t["basis"].T + t["mean"]
    px = F.pixel_shuffle(u.permute(0, 1, 4, 2, 3).flatten(0, 1), 8)
    return px.reshape(1, -1, 3, px.shape[-2], px.shape[-1])[:, 3:].clamp(-1, 1)


def _random_refiner(seed: int = 0, blocks: int = 2) -> BlockRefiner:
    torch.manual_seed(seed)
    r = BlockRefiner(channels=8, blocks=blocks)
    torch.nn.init.normal_(r.head.weight, std=0.05)  # not the identity
    return r


def test_an_old_codec_file_loads_without_refiner_and_decodes_as_before():
    codec = BlockPCACodec.load(OLD_CODEC)
    assert codec.refiner is None and codec.channels == 32
    z = _latents()
    expected = _formula(load_file(str(OLD_CODEC)), z)
    assert torch.equal(codec.decode(z), expected)
    assert torch.equal(codec.decode_raw(z), expected)
    assert torch.equal(codec.with_refiner(None).decode(z), expected)


def test_the_shipped_codec_keeps_the_projection_the_dit_was_trained_on():
    old, new = load_file(str(OLD_CODEC)), load_file(str(asset(SANDBOX_SMALL_CODEC)))
    for key in ("mean", "basis", "scale"):
        assert torch.equal(old[key], new[key]), key
    codec = BlockPCACodec.load(asset(SANDBOX_SMALL_CODEC))
    assert isinstance(codec.refiner, BlockRefiner)
    z = _latents()
    assert torch.equal(codec.decode_raw(z), _formula(old, z))
    assert not torch.equal(codec.decode(z), codec.decode_raw(z))


def test_the_refiner_changes_no_shape_and_streams_like_whole_videos():
    base = BlockPCACodec.load(OLD_CODEC)
    codec = base.with_refiner(_random_refiner())
    z = _latents(n=3)
    whole = codec.decode(z)
    assert whole.shape == base.decode(z).shape == (1, 9, 3, 32, 48)
    assert float(whole.min()) >= -1 and float(whole.max()) <= 1
    stream = codec.start_stream()
    parts = torch.cat([codec.decode_next(z[:, :1], stream), codec.decode_next(z[:, 1:], stream)], dim=1)
    torch.testing.assert_close(parts, whole)
    # encoding is untouched by the refiner
    video = base.decode(z)
    assert torch.equal(codec.encode(video), base.encode(video))


def test_an_untrained_refiner_is_the_identity_and_sees_beyond_one_block():
    base = BlockPCACodec.load(OLD_CODEC)
    z = _latents()
    assert torch.equal(base.with_refiner(BlockRefiner()).decode(z), base.decode(z))
    r = _random_refiner(blocks=3).eval()  # the default depth: receptive field 4·3 + 5 = 17 px, over two blocks
    x = torch.zeros(1, 3, 32, 48)
    y = x.clone()
    y[..., 16, 16] = 1.0
    with torch.no_grad():
        diff = (r(y) - r(x)).abs().sum(1)[0]
    assert float(diff[16, 16 + 8]) > 0 and float(diff[16 - 8, 16]) > 0  # seen 8 px away
    assert float(diff[16, 16 + 9]) == 0 and float(diff[16 + 9, 16]) == 0
    phase = block_phase(16, 24)
    assert phase.shape == (4, 16, 24) and torch.equal(phase[:, :, :8], phase[:, :, 8:16])


def test_a_codec_with_refiner_round_trips_and_bad_metadata_is_named(tmp_path):
    codec = BlockPCACodec.load(OLD_CODEC).with_refiner(_random_refiner())
    path = codec.save(tmp_path / "refined.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["refiner"]) == {"channels": 8, "blocks": 2}
    loaded = BlockPCACodec.load(path)
    z = _latents()
    assert torch.equal(loaded.decode(z), codec.decode(z))
    # float16 refiner tensors (a smaller file) load, cast to float32
    t = load_file(str(path))
    half = {k: (v.half() if k.startswith("refiner.") else v) for k, v in t.items()}
    save_file(half, str(tmp_path / "half.safetensors"), metadata={"codec": "block-pca", "refiner": '{"channels": 8, "blocks": 2}'})
    torch.testing.assert_close(BlockPCACodec.load(tmp_path / "half.safetensors").decode(z), codec.decode(z),
                               atol=2e-3, rtol=0)
    save_file(t, str(tmp_path / "bad.safetensors"), metadata={"codec": "block-pca", "refiner": '{"channels": 16, "blocks": 2}'})
    with pytest.raises(ValueError, match=r"bad\.safetensors: refiner tensors"):
        BlockPCACodec.load(tmp_path / "bad.safetensors")
