"""The shipped small sandbox world model: ``generator=inspatio generator.model=sandbox_small`` loads the asset
(its block-PCA codec with the decoder refiner, no caption) and imagines a held-out sandbox world better than the
hole-filled render, in PSNR and SSIM."""

from __future__ import annotations

import pytest
import torch

from inspatio_drive.assets import asset
from inspatio_drive.config import compose
from inspatio_drive.evaluation.world_model_sandbox import (
    clip_metrics,
    generate_clip,
    inpaint_holes,
    world_clips,
)
from inspatio_drive.world_model.codec import BlockPCACodec, BlockRefiner
from inspatio_drive.world_model.factory import SANDBOX_SMALL_ASSET, SANDBOX_SMALL_CODEC, build_generator


def test_the_assets_are_small():
    sizes = [asset(name).stat().st_size for name in (SANDBOX_SMALL_ASSET, SANDBOX_SMALL_CODEC)]
    assert sum(sizes) < 5 * 2**20


@pytest.fixture(scope="module")
def generator():
    torch.set_num_threads(1)
    cfg = compose("world_model", ["generator.model=sandbox_small", "generator.device=cpu", "generator.dtype=float32"])
    return build_generator(cfg.generator)


def test_sandbox_small_builds_from_the_generator_config(generator):
    assert isinstance(generator.vae, BlockPCACodec)
    assert isinstance(generator.vae.refiner, BlockRefiner)  # the learned decoder ships inside the codec file
    assert generator.dit.config.out_dim == generator.vae.channels == 32


def test_sandbox_small_imagines_a_held_out_world(generator):
    # a world seed outside the training (0-39) and validation (1000-1007) worlds
    (clip,) = world_clips("lead_vehicle_braking", 5001, 128, 64, 21, 0.2, 1.5, ["right_1.5m"])
    blocks = list(generator.generate(clip.source, clip.render[None], clip.mask[None] > 0, seed=0))
    assert [b.frames.shape for b in blocks] == [(1, 9, 3, 64, 128), (1, 12, 3, 64, 128)]
    gen = generate_clip(generator, clip)
    model = clip_metrics(gen, clip.target, clip.mask)
    render = clip_metrics(inpaint_holes(clip.render, clip.mask), clip.target, clip.mask)
    # measured when shipped: PSNR holes 16.59 vs 10.32 dB, whole 16.50 vs 11.44 dB; SSIM whole 0.527 vs 0.422,
    # holes 0.618 vs 0.428 (0.361 / 0.408 without the decoder refiner)
    assert model["psnr_holes"] > render["psnr_holes"] + 2.0
    assert model["psnr"] > render["psnr"]
    assert model["ssim"] > render["ssim"] + 0.05
    assert model["ssim_holes"] > render["ssim_holes"] + 0.1
