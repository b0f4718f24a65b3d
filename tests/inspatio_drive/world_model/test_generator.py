"""Planner-facing generator: shared source context across K candidates, batching, streaming."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.world_model.condition import block_frame_range, check_num_frames
from inspatio_drive.world_model.config import WanDiTConfig
from inspatio_drive.world_model.generator import GeometricGenerator, InSpatioGenerator
from inspatio_drive.world_model.kv_cache import KVCache
from inspatio_drive.world_model.memory import estimate_memory, max_batch_for_memory, parameter_count
from inspatio_drive.world_model.vae import WanVAE, tiny_autoencoder

K, T, H, W = 3, 33, 32, 48


@pytest.fixture(scope="module")
def scene():
    g = torch.Generator().manual_seed(7)
    source = torch.rand(1, 3, H, W, generator=g)
    render = torch.rand(K, T, 3, H, W, generator=g)
    mask = torch.rand(K, T, H, W, generator=g) > 0.3
    return source, render, mask


@pytest.fixture(scope="module")
def vae():
    return WanVAE(tiny_autoencoder())


def make(tiny_model, vae, golden, max_batch):
    return InSpatioGenerator(tiny_model, vae, golden["in.prompt_embeds"][0, :5], max_batch=max_batch)


@pytest.fixture(scope="module")
def batched(tiny_model, vae, golden, scene):
    return list(make(tiny_model, vae, golden, max_batch=K).generate(*scene, seed=11))


def test_blocks_stream_with_frame_ranges(batched):
    assert [b.index for b in batched] == [0, 1, 2]
    assert [b.frame_indices for b in batched] == [range(0, 9), range(9, 21), range(21, 33)]
    for b in batched:
        assert b.frames.shape == (K, len(b.frame_indices), 3, H, W)
        assert b.latents.shape == (K, 3, 16, H // 8, W // 8)
        assert 0 <= b.frames.min() and b.frames.max() <= 1
    # candidates have different conditions and noise, so different futures
    assert (batched[-1].latents[0] - batched[-1].latents[1]).abs().max() > 1e-2


def test_shared_context_batch_equals_separate_runs(tiny_model, vae, golden, scene, batched):
    source, render, mask = scene
    gen = make(tiny_model, vae, golden, max_batch=1)
    for i in range(K):
        alone = list(gen.generate(source, render[i : i + 1], mask[i : i + 1], seed=11 + i))
        for a, b in zip(alone, batched):
            torch.testing.assert_close(a.latents[0], b.latents[i], rtol=0, atol=1e-5)
            torch.testing.assert_close(a.frames[0], b.frames[i], rtol=0, atol=1e-5)


def test_max_batch_chunking_does_not_change_results(tiny_model, vae, golden, scene, batched):
    chunked = list(make(tiny_model, vae, golden, max_batch=2).generate(*scene, seed=11))
    for a, b in zip(chunked, batched):
        torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=1e-5)
        torch.testing.assert_close(a.frames, b.frames, rtol=0, atol=1e-5)


def test_streamed_frames_equal_whole_video_decode(vae, batched):
    latents = torch.cat([b.latents for b in batched], dim=1)
    whole = (vae.decode(latents) + 1) / 2
    torch.testing.assert_close(torch.cat([b.frames for b in batched], dim=1), whole, rtol=0, atol=1e-6)


def test_single_source_frame_is_the_repeated_video(tiny_model, vae, golden, scene, batched):
    source, render, mask = scene
    rep = list(
        make(tiny_model, vae, golden, K).generate(
            source.expand(T, -1, -1, -1), render, mask, seed=11, decode=False
        )
    )
    for a, b in zip(rep, batched):
        assert a.frames is None
        torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=0)


def test_bad_inputs_raise_clear_errors(tiny_model, vae, golden, scene):
    source, render, mask = scene
    gen = make(tiny_model, vae, golden, 2)
    with pytest.raises(ValueError, match="4·L - 3"):
        next(gen.generate(source, render[:, :30], mask[:, :30]))
    with pytest.raises(ValueError, match=r"mask must be \[K, T, H, W\]"):
        next(gen.generate(source, render, mask[:, :, :-1]))
    with pytest.raises(ValueError, match="multiple of 16"):
        next(gen.generate(source[..., :40], render[..., :40], mask[..., :40]))
    with pytest.raises(ValueError, match="max_batch"):
        InSpatioGenerator(tiny_model, vae, max_batch=0)


def test_geometric_generator_streams_the_masked_render(scene):
    source, render, mask = scene
    blocks = list(GeometricGenerator().generate(source, render, mask))
    video = torch.cat([b.frames for b in blocks], dim=1)
    torch.testing.assert_close(video, render * mask[:, :, None])


def test_frame_rules():
    assert [check_num_frames(t) for t in (9, 21, 33, 45)] == [3, 6, 9, 12]
    assert block_frame_range(3) == range(33, 45)


def test_memory_estimate_matches_allocations():
    cfg = WanDiTConfig.inspatio_1_3b()
    assert parameter_count(cfg) == 1_419_119_680
    est = estimate_memory(cfg, 2, 480, 832, torch.bfloat16)
    cache = KVCache(cfg.num_layers, 2, 3 * 3 * 1560, cfg.num_heads, cfg.head_dim, torch.bfloat16, "meta")
    assert est.kv_cache == cache.nbytes()
    # 6 cached frames of 1560 tokens = the official 1.725 GB / stream; we add the block in flight (x 1.5)
    assert est.kv_cache / 2 == pytest.approx(1.5 * 30 * 2 * 9360 * 1536 * 2)
    assert est.weights == 2 * 1_419_119_680
    budget = estimate_memory(cfg, 5, 480, 832).total
    assert max_batch_for_memory(cfg, budget, 480, 832) == 5


def test_taehv_decoder_option_streams_frames(tiny_model, vae, golden, scene, batched):
    from inspatio_drive.world_model.taehv import TAEHVDecoder

    torch.manual_seed(3)
    tae = TAEHVDecoder(channels=(16, 8, 8, 8)).eval()
    gen = InSpatioGenerator(tiny_model, vae, golden["in.prompt_embeds"][0, :5], max_batch=2, decoder=tae)
    blocks = list(gen.generate(*scene, seed=11))
    for a, b in zip(blocks, batched):
        torch.testing.assert_close(
            a.latents, b.latents, rtol=0, atol=1e-5
        )  # the decoder does not change latents
        assert a.frames.shape == b.frames.shape
    latents = torch.cat([b.latents for b in blocks], dim=1)
    torch.testing.assert_close(
        torch.cat([b.frames for b in blocks], dim=1), tae.decode_video(latents), atol=1e-5, rtol=0
    )


def test_trim_uint8_and_render_batch_adapter(tiny_model, vae, golden, scene, batched):
    from types import SimpleNamespace

    from inspatio_drive.world_model.condition import largest_valid_frames
    from inspatio_drive.world_model.generator import condition_from_render_batch

    assert [largest_valid_frames(n) for n in (9, 20, 33, 44, 97)] == [9, 9, 33, 33, 93]
    with pytest.raises(ValueError, match="fewer than one block"):
        largest_valid_frames(8)
    source, render, mask = scene
    rgb8 = (render * 255).round().to(torch.uint8)
    extra = torch.cat([rgb8, rgb8[:, :4]], dim=1)  # 37 frames -> trimmed to 33
    rb = SimpleNamespace(
        rgb=torch.stack([extra, extra.flip(-1)], dim=2),
        valid=torch.stack([torch.cat([mask, mask[:, :4]], 1)] * 2, dim=2),
        camera_names=("CAM_F0", "CAM_L0"),
    )
    r, m = condition_from_render_batch(rb, "CAM_F0")
    assert r.dtype == torch.float32 and r.shape == (K, 37, 3, H, W) and m.dtype == torch.bool
    gen = make(tiny_model, vae, golden, max_batch=K)
    with pytest.raises(ValueError, match="4·L - 3"):
        next(gen.generate(source, r, m))
    blocks = list(gen.generate(source, rgb8.float() / 255, mask, seed=11))
    trimmed = list(gen.generate(source, extra, torch.cat([mask, mask[:, :4]], 1), seed=11, trim=True))
    assert [b.frame_indices for b in trimmed] == [range(0, 9), range(9, 21), range(21, 33)]
    for a, b in zip(trimmed, blocks):
        torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=0)  # uint8 input == its float version
    geo = list(GeometricGenerator().generate(source, extra, torch.cat([mask, mask[:, :4]], 1), trim=True))
    assert geo[-1].frame_indices == range(21, 33) and geo[0].frames.dtype == torch.float32


def test_streamed_encoding_equals_whole_video_encoding(tiny_model, vae, golden, scene, batched):
    """generate() encodes block by block; the official code encodes whole videos: same latents."""
    from inspatio_drive.world_model.condition import condition_latent, mask_to_signed, mask_video_to_latent

    source, render, mask = scene
    gen = make(tiny_model, vae, golden, max_batch=K)
    ref = vae.encode(source.expand(T, -1, -1, -1)[None] * 2 - 1)
    signed = mask_to_signed(mask)
    rl = vae.encode(torch.where(signed[:, :, None] > 0, render, 0.0) * 2 - 1)
    cond = condition_latent(mask_video_to_latent(signed, (H // 8, W // 8)), rl)
    whole = list(gen.generate_latents(ref, cond, seed=11))
    for a, b in zip(whole, batched):
        torch.testing.assert_close(a, b.latents, rtol=0, atol=1e-5)


def test_taehv_encoder_and_decoder_replace_the_vae(tiny_model, golden, scene):
    """InSpatio's --use_tae: TAEHV encodes the source and the renders too; no Wan VAE is needed."""
    from inspatio_drive.world_model.taehv import TAEHVDecoder, TAEHVEncoder

    torch.manual_seed(4)
    enc, dec = TAEHVEncoder(channels=8).eval(), TAEHVDecoder(channels=(16, 8, 8, 8)).eval()
    gen = InSpatioGenerator(tiny_model, None, golden["in.prompt_embeds"][0, :5], max_batch=2, decoder=dec, encoder=enc)
    blocks = list(gen.generate(*scene, seed=11))
    assert [b.frames.shape[1] for b in blocks] == [9, 12, 12]
    source, render, mask = scene
    # the conditioning latents are TAEHV's: the same rollout fed with them by hand gives the same latents
    held = torch.where(mask[:, :, None], render, 0.0)
    cond_render = gen.encode(held)
    from inspatio_drive.world_model.condition import condition_latent, mask_to_signed, mask_video_to_latent

    mask_lat = mask_video_to_latent(mask_to_signed(mask), cond_render.shape[-2:])
    ref = gen.encode(source[:1].expand(T, -1, -1, -1)[None])
    by_hand = torch.cat(list(gen.generate_latents(ref, condition_latent(mask_lat, cond_render), seed=11)), 1)
    torch.testing.assert_close(torch.cat([b.latents for b in blocks], 1), by_hand, rtol=0, atol=1e-5)
    with pytest.raises(RuntimeError, match="no VAE or decoder"):
        next(InSpatioGenerator(tiny_model, None, None, encoder=enc).generate(*scene))
