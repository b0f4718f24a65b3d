"""Caption-embedding cache (umT5 through transformers) and the hydra generator configs."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.config import compose
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.generator import GeometricGenerator, InSpatioGenerator
from inspatio_drive.world_model.text import (
    CaptionEmbeddingCache,
    encode_tokens,
    load_caption_embedding,
    save_caption_embedding,
)


def tiny_umt5():
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2)
    torch.manual_seed(0)
    return UMT5EncoderModel(cfg).eval()


def test_encode_tokens_keeps_real_tokens_only():
    enc = tiny_umt5()
    ids = torch.tensor([[5, 6, 7, 1, 0, 0], [9, 1, 0, 0, 0, 0]])
    mask = (ids > 0).long()
    out = encode_tokens(enc, ids, mask)
    assert [o.shape for o in out] == [(4, 32), (2, 32)]
    alone = encode_tokens(enc, ids[1:, :2], mask[1:, :2])[0]
    torch.testing.assert_close(out[1], alone)  # padding does not leak into real tokens


def test_caption_cache_roundtrip_and_errors(tmp_path):
    cache = CaptionEmbeddingCache(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"generator\.text_encoder"):
        cache.get("a road")
    emb = torch.randn(7, 32)
    save_caption_embedding(cache.path("a road"), "a road", emb)
    torch.testing.assert_close(cache.get("a road"), emb)
    with pytest.raises(ValueError, match="not of 'another'"):
        load_caption_embedding(cache.path("a road"), "another")


def test_generator_configs_compose_and_build(tmp_path):
    from inspatio_drive.world_model.text import save_caption_embedding as save

    cfg = compose("world_model", ["generator=geometric"])
    assert isinstance(build_generator(cfg.generator), GeometricGenerator)
    caption = "tiny caption"
    cache = CaptionEmbeddingCache(tmp_path)
    save(cache.path(caption), caption, torch.randn(3, 32))
    cfg = compose(
        "bench_world_model",
        [
            "generator=inspatio", "generator.model=tiny", "generator.random_weights=true", "generator.vae=tiny-random",
            "generator.device=cpu", "generator.dtype=float32", f"generator.text_cache_dir={tmp_path}",
            f"generator.caption='{caption}'", "generator.max_batch=2",
        ],
    )  # fmt: skip
    gen = build_generator(cfg.generator)
    assert isinstance(gen, InSpatioGenerator) and gen.max_batch == 2
    src, render, mask = (
        torch.rand(1, 3, 32, 48),
        torch.rand(3, 9, 3, 32, 48),
        torch.ones(3, 9, 32, 48, dtype=torch.bool),
    )
    (block,) = list(gen.generate(src, render, mask))
    assert block.frames.shape == (3, 9, 3, 32, 48) and torch.isfinite(block.frames).all()
    with pytest.raises(FileNotFoundError, match=r"InSpatio-World-1\.3B\.safetensors"):
        build_generator(
            compose("bench_world_model", ["generator.model=tiny", "generator.random_weights=false"]).generator
        )


def test_max_batch_auto_needs_cuda():
    from inspatio_drive.world_model.config import WanDiTConfig
    from inspatio_drive.world_model.factory import resolve_max_batch

    cpu = torch.device("cpu")
    assert resolve_max_batch(4, WanDiTConfig.tiny(), cpu, torch.float32, None) == 4
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_max_batch("auto", WanDiTConfig.tiny(), cpu, torch.float32, None)


def test_use_tae_builds_without_a_wan_vae(tmp_path):
    """generator.encoder=taehv generator.decoder=taehv (InSpatio's --use_tae): one taew2_1 file, no Wan VAE."""
    from safetensors.torch import save_file

    from inspatio_drive.world_model.taehv import TAEHVDecoder, TAEHVEncoder

    state = {**TAEHVEncoder().state_dict(), **TAEHVDecoder().state_dict()}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "taew2_1.safetensors"))
    base = ["generator=inspatio", "generator.model=tiny", "generator.random_weights=true", "generator.device=cpu",
            "generator.dtype=float32", "generator.caption=null", "generator.max_batch=1"]  # fmt: skip
    tae = [f"generator.taehv={tmp_path / 'taew2_1.safetensors'}", "generator.encoder=taehv", "generator.decoder=taehv"]
    gen = build_generator(compose("bench_world_model", [*base, *tae]).generator)
    assert gen.vae is None and isinstance(gen.encoder, TAEHVEncoder) and isinstance(gen.decoder, TAEHVDecoder)
    (block,) = list(gen.generate(torch.rand(1, 3, 32, 48), torch.rand(1, 9, 3, 32, 48), torch.ones(1, 9, 32, 48)))
    assert block.frames.shape == (1, 9, 3, 32, 48)
    with pytest.raises(ValueError, match=r"generator\.encoder/decoder=taehv needs generator\.taehv"):
        build_generator(compose("bench_world_model", [*base, "generator.encoder=taehv"]).generator)
    with pytest.raises(ValueError, match=r"generator\.encoder must be 'vae' or 'taehv'"):
        build_generator(compose("bench_world_model", [*base, "generator.encoder=wan"]).generator)
    with pytest.raises(ValueError, match=r"generator\.vae is not set"):
        build_generator(compose("bench_world_model", [*base, tae[0], "generator.encoder=taehv"]).generator)
