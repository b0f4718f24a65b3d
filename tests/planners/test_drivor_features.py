"""DrivoR feature building from AgentInput, and loading timm DINOv2 weights into our ViT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from planners.drivor.features import build_drivor_features, normalize_image, resize_image
from planners.drivor.vit import VisionTransformer, ViTConfig, load_dinov2_weights, resample_abs_pos_embed

CAMS = ("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0")


def _camera(name: str, image: np.ndarray | None) -> Camera:
    return Camera(name, image, np.eye(3), np.eye(3), np.zeros(3))


def _agent_input(images: dict[str, np.ndarray], n_hist: int = 4) -> AgentInput:
    statuses = [
        EgoStatus(
            ego_pose=np.array([-(n_hist - 1 - i) * 2.0, 0.1 * i, 0.01 * i]),
            ego_velocity=np.array([4.0 + i, 0.2], dtype=np.float32),
            ego_acceleration=np.array([0.5, -0.1], dtype=np.float32),
            driving_command=np.array([0, 1, 0, 0]),
        )
        for i in range(n_hist)
    ]
    blank = {n: _camera(n, None) for n in CAMS}
    cams = [blank] * (n_hist - 1) + [{n: _camera(n, im) for n, im in images.items()}]
    return AgentInput(statuses, cams, [Lidar(None)] * n_hist)


def test_normalisation_bit_exact_against_golden(golden_io):
    u8 = golden_io["in.image_uint8_hwc"].numpy()  # [2, 4, H, W, 3], cameras F0 B0 L0 R0
    for b in range(2):
        ai = _agent_input({n: u8[b, c] for c, n in enumerate(CAMS)})
        feats = build_drivor_features(ai, CAMS, image_size=(224, 126))
        assert feats["image"].dtype == torch.float32
        assert torch.equal(feats["image"], golden_io["in.image"][b])


def test_camera_order_and_ego_status():
    rng = np.random.default_rng(0)
    images = {n: rng.integers(0, 255, (28, 42, 3), dtype=np.uint8) for n in reversed(CAMS)}
    feats = build_drivor_features(_agent_input(images), CAMS, image_size=(42, 28))
    for c, n in enumerate(CAMS):
        assert torch.equal(feats["image"][c], normalize_image(images[n]))
    ego = feats["ego_status"]
    assert ego.shape == (4, 11) and ego.dtype == torch.float32
    np.testing.assert_allclose(ego[-1].numpy(), [0, 0.3, 0.03, 7, 0.2, 0.5, -0.1, 0, 1, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(ego[0, :3].numpy(), [-6.0, 0.0, 0.0])


def test_resize_is_pillow_bicubic():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (108, 192, 3), dtype=np.uint8)
    out = resize_image(img, (112, 63))
    assert out.shape == (63, 112, 3)
    assert np.array_equal(out, np.asarray(Image.fromarray(img).resize((112, 63), Image.Resampling.BICUBIC)))
    assert not np.array_equal(
        out, np.asarray(Image.fromarray(img).resize((112, 63), Image.Resampling.BILINEAR))
    )


def test_missing_camera_is_an_error_or_padded():
    rng = np.random.default_rng(2)
    images = {n: rng.integers(0, 255, (14, 28, 3), dtype=np.uint8) for n in CAMS[:3]}
    with pytest.raises(ValueError, match=r"CAM_R0 .* absent"):
        build_drivor_features(_agent_input(images), CAMS, image_size=(28, 14))
    feats = build_drivor_features(_agent_input(images), CAMS, image_size=(28, 14), allow_missing_cameras=True)
    assert torch.equal(feats["image"][3], torch.zeros(3, 14, 28))


def test_dinov2_safetensors_loads_with_resampled_pos_embed(tmp_path):
    """timm's DINOv2 file: keys without LoRA nesting, pos_embed on the 37×37 grid (518 px)."""
    from safetensors.torch import save_file

    cfg = ViTConfig(img_size=(28, 42), depth=2, lora_rank=4)
    vit = VisionTransformer(cfg)
    plain = VisionTransformer(ViTConfig(img_size=(28, 42), depth=2, lora_rank=0))
    timm_sd = {k: torch.randn_like(v) for k, v in plain.state_dict().items()}
    timm_sd["pos_embed"] = torch.randn(1, 37 * 37, 384)
    timm_sd["mask_token"] = torch.zeros(1, 384)
    path = tmp_path / "model.safetensors"
    save_file(timm_sd, str(path))
    lora_before = vit.blocks[0].attn.qkv.linear_a_q.weight.clone()
    load_dinov2_weights(vit, str(path))
    assert torch.equal(vit.blocks[1].attn.qkv.qkv.weight, timm_sd["blocks.1.attn.qkv.weight"])
    assert torch.equal(vit.blocks[0].attn.qkv.linear_a_q.weight, lora_before)
    assert torch.equal(vit.pos_embed, resample_abs_pos_embed(timm_sd["pos_embed"], (2, 3)))
    # with zero LoRA B matrices the LoRA ViT equals the plain one
    plain.load_state_dict(
        {k: v for k, v in timm_sd.items() if k != "mask_token"} | {"pos_embed": vit.pos_embed}
    )
    for blk in vit.blocks:
        torch.nn.init.zeros_(blk.attn.qkv.linear_b_q.weight)
        torch.nn.init.zeros_(blk.attn.qkv.linear_b_v.weight)
    x = torch.randn(2, 3, 28, 42)
    torch.testing.assert_close(vit.forward_features(x), plain.forward_features(x))
    # a wrong file is explained
    bad = tmp_path / "bad.safetensors"
    save_file({"cls_token": torch.zeros(1, 1, 384)}, str(bad))
    with pytest.raises(KeyError, match="missing keys"):
        load_dinov2_weights(vit, str(bad))


def test_resample_pos_embed_identity_and_shape():
    pe = torch.randn(1, 16, 8)
    assert resample_abs_pos_embed(pe, (4, 4)) is pe
    assert resample_abs_pos_embed(pe, (3, 5)).shape == (1, 15, 8)
