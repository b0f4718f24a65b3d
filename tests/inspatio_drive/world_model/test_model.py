"""DiT building blocks: any resolution, shared-K/V attention folding, RoPE anchoring, KV cache bounds."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.world_model.attention import full_attention
from inspatio_drive.world_model.kv_cache import KVCache
from inspatio_drive.world_model.rollout import causal_rollout, torch_noise
from inspatio_drive.world_model.rope import rope_grid_freqs, rope_split, rope_tables


def test_rope_split_matches_wan():
    assert rope_split(128) == (22, 21, 21)
    assert rope_split(32) == (6, 5, 5)


def test_rope_frame_offset_shifts_only_the_time_part():
    tab = rope_tables(32)
    base, shifted = rope_grid_freqs(tab, 32, (3, 2, 3)), rope_grid_freqs(tab, 32, (3, 2, 3), frame_offset=6)
    assert torch.equal(base[:, 6:], shifted[:, 6:])
    assert torch.equal(shifted[:6, :6], tab[6:7, :6].expand(6, 6))  # first frame's 6 tokens at index 6


def test_shared_keys_fold_equals_expanded_keys():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 5, 2, 8, generator=g)
    k, v = torch.randn(1, 7, 2, 8, generator=g), torch.randn(1, 7, 2, 8, generator=g)
    folded = full_attention(q, k, v)
    expanded = full_attention(q, k.expand(3, -1, -1, -1), v.expand(3, -1, -1, -1))
    torch.testing.assert_close(folded, expanded)
    with pytest.raises(ValueError, match="keys batch 2"):
        full_attention(q, k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1))


@pytest.mark.parametrize("latent_hw", [(6, 8), (2, 10)])
def test_rollout_runs_at_other_resolutions(tiny_model, golden, latent_hw):
    h, w = latent_hw
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(1, 6, 16, h, w, generator=g)
    cond = torch.randn(2, 6, 20, h, w, generator=g)
    text_kv = tiny_model.text_kv(golden["in.prompt_embeds"])
    blocks = list(causal_rollout(tiny_model, text_kv, ref, cond, torch_noise()))
    assert [b.x0.shape for b in blocks] == [(2, 3, 16, h, w)] * 2
    assert all(torch.isfinite(b.x0).all() for b in blocks)


def test_odd_latent_size_is_rejected(tiny_model, golden):
    text_kv = tiny_model.text_kv(golden["in.prompt_embeds"])
    ref, cond = torch.zeros(1, 3, 16, 5, 6), torch.zeros(1, 3, 20, 5, 6)
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        next(causal_rollout(tiny_model, text_kv, ref, cond, torch_noise()))


def test_kv_cache_capacity_and_batch_checks():
    cache = KVCache(1, 2, 10, 1, 4)
    with pytest.raises(ValueError, match="exceeds the cache capacity"):
        cache.write_context(0, torch.zeros(1, 11, 1, 4), torch.zeros(1, 11, 1, 4))
    cache.set_active(1)
    assert cache.batch == 1
    with pytest.raises(ValueError, match="allocated for 2 streams"):
        cache.set_active(3)
