"""Sandbox clips for the world model (oracle targets, render + mask) and the evaluation metrics / baseline."""

from __future__ import annotations

import torch

from inspatio_drive.evaluation.world_model_sandbox import clip_metrics, inpaint_holes, world_clips


def test_world_clips_pair_the_render_with_the_oracle_view():
    (clip,) = world_clips("plain_cruising", 7, 64, 32, 9, 0.5, 1.5, ["left_1.5m"])
    clip.validate()
    assert clip.source.shape == (1, 3, 32, 64) and clip.target.shape == (9, 3, 32, 64)
    assert clip.meta["trajectory"] == "left_1.5m"
    # frame 0 is now: the oracle target from the current pose is the source image
    assert torch.equal(clip.target[0], clip.source[0])
    valid = clip.mask > 0
    assert 0.05 < float(valid.float().mean()) < 0.95  # the render has content and holes
    # where the render has content it agrees with the oracle far better than where it has none
    err = (clip.render.float() - clip.target.float()).abs().mean(1)
    assert float(err[valid].mean()) < 0.5 * float(err[~valid].mean())


def test_inpainting_fills_every_hole_and_metrics_split_holes():
    target = torch.full((9, 3, 16, 32), 100, dtype=torch.uint8)
    mask = torch.ones(9, 16, 32, dtype=torch.uint8) * 255
    mask[:, 4:10, 8:20] = 0
    render = target * (mask[:, None] > 0)
    filled = inpaint_holes(render, mask)
    assert int((filled.float() - target.float()).abs().max()) <= 2  # a flat image inpaints to itself
    m_render = clip_metrics(render, target, mask)
    m_filled = clip_metrics(filled, target, mask)
    assert m_render["psnr_holes"] < 10 < m_filled["psnr_holes"]
    assert m_render["hole_fraction"] == m_filled["hole_fraction"] == (6 * 12) / (16 * 32)
    assert m_filled["psnr"] > m_render["psnr"]
