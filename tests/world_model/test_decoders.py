"""Wan VAE (diffusers) wrapper and the TAEHV decoder: shapes, normalisation, exact streaming, loading."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from inspatio_drive.world_model.condition import mask_video_to_latent
from inspatio_drive.world_model.taehv import TAEHVDecoder, load_taehv
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
