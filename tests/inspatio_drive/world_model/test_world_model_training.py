"""World-model training pieces: codec, teacher-forced layout = the rollout's, JDMD losses, gradient checkpointing,
LoRA, ODE distillation and the training memory estimate (tiny sizes, CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from inspatio_drive.world_model.codec import BlockPCACodec, PixelUnshuffleCodec, fit_block_pca
from inspatio_drive.world_model.config import WanDiTConfig
from inspatio_drive.world_model.kv_cache import KVCache
from inspatio_drive.world_model.memory import parameter_count
from inspatio_drive.world_model.model import CausalWanDiT
from inspatio_drive.world_model.rollout import DENOISE_FRAME_OFFSET, context_input
from inspatio_drive.world_model.scheduler import DistilledSampler
from inspatio_drive.world_model.training.distill import ODEDistillObjective, ode_sigma_grid
from inspatio_drive.world_model.training.jdmd import JDMDObjective, teacher_forced_groups, valid_weight
from inspatio_drive.world_model.training.lora import apply_lora, lora_parameter_count, merged_state_dict
from inspatio_drive.world_model.training.memory import lora_parameters, training_memory

C = 16  # tiny model latent channels


def _model(seed: int = 0) -> CausalWanDiT:
    torch.manual_seed(seed)
    return CausalWanDiT(WanDiTConfig.tiny()).float()


def _batch(b: int = 2, n_lat: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(b, n_lat, C, 4, 6, generator=g)
    target = torch.randn(b, n_lat, C, 4, 6, generator=g)
    mask = torch.where(torch.rand(b, n_lat, 4, 4, 6, generator=g) > 0.5, 1.0, -1.0)
    cond = torch.cat([mask, torch.randn(b, n_lat, C, 4, 6, generator=g)], dim=2)
    return ref, target, cond, torch.zeros(b, 0, 32), torch.tensor([True, False][:b])


def test_codec_is_lossless_and_streams_like_whole_videos():
    codec = PixelUnshuffleCodec()
    video = torch.rand(2, 21, 3, 32, 48) * 2 - 1
    lat = codec.encode(video)
    assert lat.shape == (2, 6, PixelUnshuffleCodec.channels, 4, 6)
    assert torch.equal(codec.decode(lat), video)
    enc, dec = codec.start_encode_stream(), codec.start_stream()
    parts = [codec.encode_next(video[:, :9], enc), codec.encode_next(video[:, 9:], enc)]
    assert torch.equal(torch.cat(parts, 1), lat)
    frames = torch.cat([codec.decode_next(lat[:, :3], dec), codec.decode_next(lat[:, 3:], dec)], 1)
    assert torch.equal(frames, video)
    with pytest.raises(ValueError, match="multiple of the codec stride"):
        codec.encode(torch.zeros(1, 9, 3, 30, 48))


def test_block_pca_codec_projects_on_the_leading_components(tmp_path):
    g = torch.Generator().manual_seed(0)
    raw = PixelUnshuffleCodec()
    # every block is a combination of 5 patterns (each the same on its 4 frames): 8 channels reconstruct exactly
    pattern = torch.rand(5, 1, 3, 8, 8, generator=g).expand(5, 4, 3, 8, 8)
    pattern = raw.encode(pattern.reshape(5, 1, 4, 3, 8, 8)[:, 0, 3:])[:, 0, :, 0, 0]  # [5, 768] (one frame -> block)
    videos = []
    for _ in range(6):
        coef = torch.rand(1, 3, 2, 3, 5, generator=g) / 5
        u = (coef @ pattern).permute(0, 1, 4, 2, 3)  # [1, L=3, 768, 2, 3]
        videos.append((raw.decode(u * 2 - 1)[0] + 1) / 2)
    videos = [v * 5 for v in videos]
    codec = fit_block_pca([v / 5 for v in videos], channels=8)
    assert codec.channels == 8
    video = (videos[0] / 5)[None] * 2 - 1
    lat = codec.encode(video)
    assert lat.shape == (1, 3, 8, 2, 3)
    torch.testing.assert_close(codec.decode(lat), video.clamp(-1, 1), atol=1e-4, rtol=0)
    enc, dec = codec.start_encode_stream(), codec.start_stream()
    torch.testing.assert_close(codec.encode_next(video, enc), lat)
    torch.testing.assert_close(codec.decode_next(lat, dec), codec.decode(lat))
    loaded = BlockPCACodec.load(codec.save(tmp_path / "codec.safetensors"))
    torch.testing.assert_close(loaded.encode(video), lat)


def test_teacher_forced_groups_follow_the_rollout_context_layout():
    ref, target, cond, _, _ = _batch(b=2, n_lat=9)
    g0, g1 = teacher_forced_groups(ref, target, cond)
    assert g0.context.shape[1] == 3 and torch.equal(g0.context, ref[:, :3])
    assert g1.context.shape == (4, 6, C, 4, 6)  # blocks 1, 2 of both clips, block-major
    # block 2 of clip 1: reference block 2, then the clean target block 1
    assert torch.equal(g1.context[3], torch.cat([ref[1, 6:9], target[1, 3:6]]))
    assert torch.equal(g1.clean[3], target[1, 6:9]) and torch.equal(g1.cond[3], cond[1, 6:9])
    assert g1.sample.tolist() == [0, 1, 0, 1]


def test_training_pass_equals_the_inference_cache_pass():
    """The differentiable ConcatKVCache path gives the flow of the rollout's KVCache path (same keys, RoPE)."""
    model = _model().eval()
    ref, target, cond, text, _ = _batch(b=2, n_lat=6)
    group = teacher_forced_groups(ref, target, cond)[1]
    text_kv = model.text_kv(text)
    x_t = torch.randn_like(group.clean)
    sigma = torch.tensor([0.9375, 0.625, 0.9375, 0.625])[: group.clean.shape[0]]
    obj = JDMDObjective(model)
    with torch.no_grad():
        ours = obj.predict_flow(group, x_t, sigma, text_kv, obj.context_pass(group, text_kv))
        cache = KVCache(2, 2, 9 * 6, 2, 32)
        model(context_input(model, group.context).permute(0, 2, 1, 3, 4), torch.zeros(2), text_kv, cache=cache,
              write_cache=True)
        x = torch.cat([x_t, group.cond], 2).permute(0, 2, 1, 3, 4)
        ref_flow = model(x, 1000 * sigma, text_kv, cache=cache, frame_offset=DENOISE_FRAME_OFFSET).permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(ours, ref_flow, rtol=1e-5, atol=1e-5)


def test_jdmd_losses_and_gradient_checkpointing_give_the_same_gradients():
    batch = _batch()
    grads = []
    for ckpt in (False, True):
        model = _model()
        model.train()
        model.gradient_checkpointing = ckpt
        obj = JDMDObjective(model, lambda_ctrl=2.0)
        out = obj(*batch, generator=torch.Generator().manual_seed(1))
        assert torch.isfinite(out["loss"]) and out["ctrl"] > 0
        torch.testing.assert_close(out["loss"], out["vis"] + 2.0 * out["ctrl"])
        out["loss"].backward()
        assert all(p.grad is not None for p in model.parameters())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_control_loss_weighs_only_rendered_positions_of_v2v_clips():
    ref, target, cond, text, _ = _batch()
    cond[:, :, :4] = -1.0  # everything a hole
    assert float(valid_weight(cond).max()) == 0.0
    out = JDMDObjective(_model())(ref, target, cond, text, torch.tensor([True, True]))
    assert float(out["ctrl"]) == 0.0
    cond[:, :, :4] = 1.0
    out = JDMDObjective(_model())(ref, target, cond, text, torch.tensor([False, False]))
    assert float(out["ctrl"]) == 0.0  # T2V rows never enter L_ctrl
    out = JDMDObjective(_model())(ref, target, cond, text, torch.tensor([True, True]), torch.Generator().manual_seed(0))
    assert float(out["ctrl"]) > 0.0


def test_sampler_sigmas_mode_draws_the_4_step_sigmas():
    from inspatio_drive.world_model.training.jdmd import sample_sigmas

    s = DistilledSampler()
    sig = sample_sigmas(200, "sampler", 5.0, s, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert set(sig.tolist()) <= set(s.sigmas().tolist())
    sh = sample_sigmas(200, "shifted", 5.0, s, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert 0 < float(sh.min()) and float(sh.max()) <= 1


def test_ode_distillation_trains_the_student_only():
    teacher = _model(seed=1).eval()
    student = _model(seed=2)
    before = copy.deepcopy(teacher.state_dict())
    obj = ODEDistillObjective(student, teacher, ode_steps=4)
    assert all(n.startswith("dit.") for n, _ in obj.named_parameters())  # teacher not registered
    out = obj(*_batch(), generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    grid = ode_sigma_grid(4, DistilledSampler().sigmas(), 5.0)
    assert grid[0] == 1 and grid[-1] == 0 and bool((grid[1:] < grid[:-1]).all())
    for s in DistilledSampler().sigmas().double():
        assert bool((grid - s).abs().min() < 1e-9)


def test_lora_counts_merge_and_memory_estimate():
    pytest.importorskip("peft")
    cfg = WanDiTConfig.tiny()
    model = _model()
    n_params = sum(p.numel() for p in model.parameters())
    assert parameter_count(cfg) == n_params == 152_320
    expected = lora_parameter_count(model, rank=4)
    assert lora_parameters(cfg, 4) == expected
    apply_lora(model, rank=4, alpha=8.0)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    x = torch.randn(1, cfg.in_dim, 3, 4, 6)
    text_kv = model.text_kv(torch.zeros(1, 0, cfg.text_dim))
    with torch.no_grad():
        y_lora = model(x, 500.0, text_kv)
    plain = CausalWanDiT(cfg)
    plain.load_state_dict(merged_state_dict(model), strict=True)
    with torch.no_grad():
        y_merged = plain(x, 500.0, plain.text_kv(torch.zeros(1, 0, cfg.text_dim)))
    torch.testing.assert_close(y_lora, y_merged, rtol=1e-4, atol=1e-5)

    full = training_memory(cfg, 1, 6, (4, 6), lora_rank=None, compute_dtype=torch.float32)
    lora = training_memory(cfg, 1, 6, (4, 6), lora_rank=4, compute_dtype=torch.float32)
    assert full.parameters == lora.parameters == n_params
    assert full.trainable == n_params and lora.trainable == expected
    assert full.optimizer == 8 * n_params and lora.optimizer == 8 * expected
    assert full.weights == 4 * n_params
    ckpt = training_memory(cfg, 1, 6, (4, 6), gradient_checkpointing=True)
    no_ckpt = training_memory(cfg, 1, 6, (4, 6), gradient_checkpointing=False)
    assert ckpt.activations < no_ckpt.activations
