"""Decoder fine-tuning of the block-PCA codec (``train-world-model decoder_refiner.enabled=true``): end to end on
tiny clips (pairs, training, resume, refined codec loaded by build_generator), the hold-out split, the refusal of
validation clips, and a refiner that learns to remove block artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inspatio_drive.commands.train_world_model import main
from inspatio_drive.evaluation.world_model_decoder import (
    REFINED_CODEC_FILE,
    check_train_clip,
    holdout_worlds,
    train_refiner,
)
from inspatio_drive.world_model.codec import BlockPCACodec, BlockRefiner
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.training.data import Clip, load_clip, save_clip


def _clips(root: Path, val_seed: int | None = None) -> Path:
    g = torch.Generator().manual_seed(0)
    for i, (split, seed) in enumerate([("train", 0), ("train", 1), ("train", 2), ("val", 1000)]):
        tgt = (torch.rand(9, 3, 32, 48, generator=g) * 255).to(torch.uint8)
        mask = (torch.rand(9, 32, 48, generator=g) > 0.3).to(torch.uint8) * 255
        seed = val_seed if (val_seed is not None and i == 0) else seed
        save_clip(root / f"{split}-c{i}.safetensors",
                  Clip(tgt[:1], tgt, tgt * (mask[:, None] > 0), mask, meta={"split": split, "seed": seed}))
    return root


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    return [f"data.dir={data}", f"output_dir={out}", "model=sandbox_small", "vae=block-pca", "train.steps=1",
            "train.batch_size=2", "device=cpu", "eval.enabled=false", "progress=false", "train.cpu_threads=1",
            "decoder_refiner.enabled=true", "decoder_refiner.channels=4", "decoder_refiner.blocks=1",
            "decoder_refiner.batch_size=2", "decoder_refiner.crop=16", "decoder_refiner.eval_every=2",
            "decoder_refiner.holdout=0.3", "sandbox.val_seeds=[1000,1008]", *extra]


def test_decoder_refiner_stage_end_to_end_and_resume(tmp_path):
    data = _clips(tmp_path / "data")
    out = tmp_path / "run"
    assert main(_args(data, out, "decoder_refiner.steps=3")) == 0
    m = json.loads((out / "refiner_metrics.json").read_text())
    assert m["steps"] == 3 and m["holdout_worlds"] == [2]
    assert m["pairs_train"] == 2 * 2 * 8 and m["pairs_holdout"] == 8  # 2 train worlds x (generated + recon) x 8
    assert [e["step"] for e in m["evals"]] == [0, 2, 3]
    assert (out / "refiner_loss.png").is_file()
    # resume: 2 more steps from the saved state and the cached pairs
    assert main(_args(data, out, "decoder_refiner.steps=5")) == 0
    m = json.loads((out / "refiner_metrics.json").read_text())
    assert m["steps"] == 5 and m["steps_this_run"] == 2 and len(m["history"]) == 5
    codec = BlockPCACodec.load(out / REFINED_CODEC_FILE)
    assert isinstance(codec.refiner, BlockRefiner) and codec.refiner.channels == 4
    gen = build_generator({"name": "inspatio", "model": "sandbox_small", "checkpoint": str(out / "dit.safetensors"),
                           "vae": f"block-pca:{out / REFINED_CODEC_FILE}", "device": "cpu", "dtype": "float32",
                           "max_batch": 1})
    clip = load_clip(data / "train-c0.safetensors")
    (block,) = gen.generate(clip.source, clip.render[None], clip.mask[None] > 0)
    assert block.frames.shape == (1, 9, 3, 32, 48)
    # a refiner for an existing DiT and codec: no DiT training
    other = tmp_path / "existing"
    assert main(_args(data, other, "decoder_refiner.steps=1", f"decoder_refiner.dit={out / 'dit.safetensors'}",
                      f"decoder_refiner.codec={out / 'codec.safetensors'}")) == 0
    assert not (other / "dit.safetensors").exists() and (other / REFINED_CODEC_FILE).is_file()


def test_validation_worlds_are_refused(tmp_path, capsys):
    data = _clips(tmp_path / "data", val_seed=1003)  # a train-split clip of a validation world
    assert main(_args(data, tmp_path / "run", "decoder_refiner.steps=1")) == 2
    assert "seed 1003 is a validation world" in capsys.readouterr().err
    with pytest.raises(ValueError, match="validation split"):
        check_train_clip({"split": "val"}, Path("x"), "train", "val", None)


def test_holdout_takes_the_last_worlds():
    worlds = torch.tensor([5, 5, 1, 9, 3, 3, 7])
    assert holdout_worlds(worlds, 0.2) == {9}
    assert holdout_worlds(worlds, 0.5) == {5, 7, 9}
    assert holdout_worlds(worlds, 0.0) == set() and holdout_worlds(torch.tensor([4, 4]), 0.5) == set()


def test_the_refiner_learns_to_remove_block_artefacts(tmp_path):
    g = torch.Generator().manual_seed(0)
    # smooth targets; inputs = targets + a constant offset per 8x8 block (the codec's block artefact)
    base = torch.nn.functional.interpolate(torch.rand(48, 3, 4, 6, generator=g), size=(32, 48), mode="bilinear")
    offset = torch.nn.functional.interpolate((torch.rand(48, 3, 4, 6, generator=g) - 0.5) * 0.3, size=(32, 48),
                                             mode="nearest")
    targets = (base * 0.6 + 0.2) * 255
    inputs = ((base * 0.6 + 0.2 + offset).clamp(0, 1)) * 255
    pairs = {"inputs": inputs.round().to(torch.uint8), "targets": targets.round().to(torch.uint8),
             "world": torch.arange(48) // 8, "generated": torch.ones(48, dtype=torch.bool)}
    rcfg = {"channels": 8, "blocks": 2, "steps": 150, "batch_size": 8, "crop": 16, "lr": 3e-3, "ssim_weight": 0.5,
            "recon_ratio": 0.0, "holdout": 0.2, "eval_every": 50, "max_minutes": None, "seed": 0}
    torch.set_num_threads(1)
    _, summary = train_refiner(pairs, rcfg, tmp_path, progress=False, plot=False)
    ident, best = summary["holdout_identity"], summary["holdout_best"]
    assert summary["best_step"] > 0
    assert best["loss"] < 0.8 * ident["loss"] and best["psnr"] > ident["psnr"] + 1.0
