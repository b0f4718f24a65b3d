"""Wan VAE (diffusers) wrapper and the TAEHV decoder: shapes, normalisation, exact streaming, loading."""

from __future__ import annotations

import pytest
import safetensors.torch as safetensors_torch
import torch
from safetensors.torch import save_file

from inspatio_drive.world_model.condition import mask_video_to_latent
from inspatio_drive.world_model.taehv import TAEHVDecoder, TAEHVEncoder, load_taehv, load_taehv_encoder
from inspatio_drive.world_model.vae import WanVAE, load_wan_vae, tiny_autoencoder


@pytest.fixture(scope="module")
def vae():
    return WanVAE(tiny_autoencoder())


def test_vae_encode_normalises_with_wan_statistics(vae):
    video = torch.rand(1, 5, 3, 32, 48) * 2 - 1
    z = vae.encode(video)
    assert z.shape == (1, 2, 16, 4, 6)
    raw = vae.autoencoder.encode(video.permute(0, 2, 1, 3, 4)).latent_dist.mode().permute(0, 2, 1, 3, 4)
    mean = torch.tensor(vae.autoencoder.config.latents_mean).view(1, 1, 16, 1, 1)
    std = torch.tensor(vae.autoencoder.config.latents_std).view(1, 1, 16, 1, 1)
    torch.testing.assert_close(z, (raw - mean) / std)
    assert mean[0, 0, 0, 0, 0].item() == pytest.approx(-0.7571) and std[
        0, 0, 0, 0, 0
    ].item() == pytest.approx(2.8184)


def test_vae_streaming_decode_equals_whole_decode(vae):
    z = torch.randn(2, 6, 16, 4, 6)
    whole = vae.decode(z)
    assert whole.shape == (2, 21, 3, 32, 48)
    stream = vae.start_stream()
    parts = [vae.decode_next(z[:, :3], stream), vae.decode_next(z[:, 3:], stream)]
    assert [p.shape[1] for p in parts] == [9, 12]
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=0, atol=0)


def test_vae_loader_accepts_diffusers_folder_and_state_dict(tmp_path, vae):
    vae.autoencoder.save_pretrained(tmp_path / "vae")
    loaded = load_wan_vae(tmp_path / "vae")
    z = torch.randn(1, 3, 16, 4, 6)
    torch.testing.assert_close(WanVAE(loaded).decode(z), vae.decode(z))
    with pytest.raises(FileNotFoundError, match=r"Wan2\.1 VAE not found"):
        load_wan_vae(tmp_path / "nope")
    save_file({"decoder.conv_in.weight": torch.zeros(1)}, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match=r"not a Wan2\.1 VAE state dict"):
        load_wan_vae(tmp_path / "bad.safetensors")


def test_mask_latent_layout():
    mask = torch.ones(1, 9, 16, 16)
    mask[:, 5] = -1  # frame 5 -> latent 2 (frames 5..8), channel 0
    lat = mask_video_to_latent(mask, (2, 2))
    assert lat.shape == (1, 3, 4, 2, 2)
    assert (lat[:, 0] == 1).all() and (lat[:, 1] == 1).all()
    assert (lat[0, 2, 0] == -1).all() and (lat[0, 2, 1:] == 1).all()


def small_tae() -> TAEHVDecoder:
    torch.manual_seed(3)
    return TAEHVDecoder(channels=(16, 8, 8, 8)).eval()


def test_taehv_frame_count_and_streaming_equals_whole():
    tae = small_tae()
    z = torch.randn(2, 6, 16, 4, 6)
    whole = tae.decode_video(z)
    assert whole.shape == (2, 21, 3, 32, 48)
    assert 0 <= whole.min() and whole.max() <= 1
    stream = tae.start_stream()
    parts = [tae.decode_next(z[:, :3], stream), tae.decode_next(z[:, 3:], stream)]
    assert [p.shape[1] for p in parts] == [9, 12]
    torch.testing.assert_close((torch.cat(parts, 1) + 1) / 2, whole, rtol=0, atol=1e-6)


def test_taehv_full_size_layout_and_loader(tmp_path):
    full = TAEHVDecoder()
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert shapes["decoder.1.weight"] == (256, 16, 3, 3)
    assert shapes["decoder.3.conv.0.weight"] == (256, 512, 3, 3)
    assert shapes["decoder.7.conv.weight"] == (256, 256, 1, 1)
    assert shapes["decoder.13.conv.weight"] == (256, 128, 1, 1)
    assert shapes["decoder.19.conv.weight"] == (128, 64, 1, 1)
    assert shapes["decoder.22.weight"] == (3, 64, 3, 3)
    state = {k: torch.randn(v.shape) for k, v in full.state_dict().items()}
    state["decoder.7.conv.weight"] = torch.randn(512, 256, 1, 1)  # trained with stride 2: keep the last 256
    state["encoder.0.weight"] = torch.randn(64, 3, 3, 3)
    torch.save(state, tmp_path / "taew2_1.pth")
    tae = load_taehv(tmp_path / "taew2_1.pth", dtype=torch.float32)
    torch.testing.assert_close(
        tae.state_dict()["decoder.7.conv.weight"], state["decoder.7.conv.weight"][256:]
    )
    del state["decoder.22.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"decoder\.22\.bias"):
        load_taehv(tmp_path / "bad.pth")


def original_wan21_vae_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the original ``Wan2.1_VAE.pth`` (base 96, dim_mult [1,2,4,4], 2 res blocks, z 16):
    the decoder names as listed by third-party loaders validated against the real file, the encoder derived
    from the same module layout (residual ``0/2/3/6``, ``shortcut`` on channel change, ``resample.1`` and a
    ``time_conv`` in the temporally strided resamples)."""
    t = {}

    def add(k, s):
        t[k] = tuple(s)

    def res(p, ci, co):
        add(p + "residual.0.gamma", [ci, 1, 1, 1])
        add(p + "residual.2.weight", [co, ci, 3, 3, 3])
        add(p + "residual.2.bias", [co])
        add(p + "residual.3.gamma", [co, 1, 1, 1])
        add(p + "residual.6.weight", [co, co, 3, 3, 3])
        add(p + "residual.6.bias", [co])
        if ci != co:
            add(p + "shortcut.weight", [co, ci, 1, 1, 1])
            add(p + "shortcut.bias", [co])

    def attn(p, c):
        add(p + "norm.gamma", [c, 1, 1])
        add(p + "to_qkv.weight", [3 * c, c, 1, 1])
        add(p + "to_qkv.bias", [3 * c])
        add(p + "proj.weight", [c, c, 1, 1])
        add(p + "proj.bias", [c])

    def resample(p, c_in, c_out, time):
        add(p + "resample.1.weight", [c_out, c_in, 3, 3])
        add(p + "resample.1.bias", [c_out])
        if time == "down":
            add(p + "time_conv.weight", [c_in, c_in, 3, 1, 1])
            add(p + "time_conv.bias", [c_in])
        elif time == "up":
            add(p + "time_conv.weight", [2 * c_in, c_in, 3, 1, 1])
            add(p + "time_conv.bias", [2 * c_in])

    # encoder: dims 96,192,384,384
    add("encoder.conv1.weight", [96, 3, 3, 3, 3])
    add("encoder.conv1.bias", [96])
    dims = [96, 96, 192, 384, 384]
    i = 0
    for s in range(4):
        ci, co = dims[s], dims[s + 1]
        for r in range(2):
            res(f"encoder.downsamples.{i}.", ci if r == 0 else co, co)
            i += 1
        if s < 3:
            resample(f"encoder.downsamples.{i}.", co, co, "down" if s >= 1 else None)
            i += 1
    res("encoder.middle.0.", 384, 384)
    attn("encoder.middle.1.", 384)
    res("encoder.middle.2.", 384, 384)
    add("encoder.head.0.gamma", [384, 1, 1, 1])
    add("encoder.head.2.weight", [32, 384, 3, 3, 3])
    add("encoder.head.2.bias", [32])
    add("conv1.weight", [32, 32, 1, 1, 1])
    add("conv1.bias", [32])
    add("conv2.weight", [16, 16, 1, 1, 1])
    add("conv2.bias", [16])
    # decoder
    add("decoder.conv1.weight", [384, 16, 3, 3, 3])
    add("decoder.conv1.bias", [384])
    res("decoder.middle.0.", 384, 384)
    attn("decoder.middle.1.", 384)
    res("decoder.middle.2.", 384, 384)
    for m in (0, 1, 2):
        res(f"decoder.upsamples.{m}.", 384, 384)
    resample("decoder.upsamples.3.", 384, 192, "up")
    res("decoder.upsamples.4.", 192, 384)
    for m in (5, 6):
        res(f"decoder.upsamples.{m}.", 384, 384)
    resample("decoder.upsamples.7.", 384, 192, "up")
    for m in (8, 9, 10):
        res(f"decoder.upsamples.{m}.", 192, 192)
    resample("decoder.upsamples.11.", 192, 96, None)
    for m in (12, 13, 14):
        res(f"decoder.upsamples.{m}.", 96, 96)
    add("decoder.head.0.gamma", [96, 1, 1, 1])
    add("decoder.head.2.weight", [3, 96, 3, 3, 3])
    add("decoder.head.2.bias", [3])
    return t


def test_original_wan21_vae_keys_convert_to_diffusers_exactly():
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    orig = original_wan21_vae_shapes()
    assert len(orig) == 194
    converted = convert_wan_vae_to_diffusers({k: torch.empty(s, device="meta") for k, s in orig.items()})
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in AutoencoderKLWan().state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items()} == expected


def small_tae_encoder() -> TAEHVEncoder:
    torch.manual_seed(5)
    return TAEHVEncoder(channels=8).eval()


def test_taehv_encoder_frame_alignment_and_streaming_equals_whole():
    enc = small_tae_encoder()
    video = torch.rand(2, 21, 3, 32, 48)
    whole = enc.encode_video(video)
    assert whole.shape == (2, 6, 16, 4, 6)  # 4L - 3 frames -> L latents, like the Wan VAE
    stream = enc.start_encode_stream()
    parts = [enc.encode_next(video[:, :9] * 2 - 1, stream), enc.encode_next(video[:, 9:] * 2 - 1, stream)]
    assert [p.shape[1] for p in parts] == [3, 3]
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=0, atol=1e-6)
    # latent 0 sees frame 0 only (padded in front); changing frame 1 leaves it and changes latent 1
    other = video.clone()
    other[:, 1] = 1 - other[:, 1]
    moved = enc.encode_video(other)
    torch.testing.assert_close(moved[:, 0], whole[:, 0], rtol=0, atol=0)
    assert (moved[:, 1] - whole[:, 1]).abs().max() > 0
    with pytest.raises(ValueError, match=r"1 \+ 4m frames on the first call"):
        enc.encode_next(video[:, :8], enc.start_encode_stream())
    with pytest.raises(ValueError, match="a multiple of 4 frames"):
        enc.encode_next(video[:, 9:15], stream)


def test_taehv_encoder_full_size_layout_and_loader(tmp_path):
    full = TAEHVEncoder()
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert shapes["encoder.0.weight"] == (64, 3, 3, 3)
    assert shapes["encoder.2.conv.weight"] == (64, 128, 1, 1)  # TPool stride 2
    assert shapes["encoder.12.conv.weight"] == (64, 64, 1, 1)  # TPool stride 1
    assert shapes["encoder.3.weight"] == (64, 64, 3, 3) and "encoder.3.bias" not in shapes
    assert shapes["encoder.17.weight"] == (16, 64, 3, 3)
    state = {k: torch.randn(v.shape) for k, v in full.state_dict().items()}
    state.update({k: torch.randn(v.shape) for k, v in TAEHVDecoder().state_dict().items()})
    safetensors_torch.save_file(state, str(tmp_path / "taew2_1.safetensors"))
    enc = load_taehv_encoder(tmp_path / "taew2_1.safetensors", dtype=torch.float32)
    torch.testing.assert_close(enc.state_dict()["encoder.17.weight"], state["encoder.17.weight"])
    load_taehv(tmp_path / "taew2_1.safetensors", dtype=torch.float32)  # the same file holds both halves
    del state["encoder.5.conv.0.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"not a taew2_1 TAEHV encoder: missing \['encoder\.5\.conv\.0\.weight'\]"):
        load_taehv_encoder(tmp_path / "bad.pth")
