"""``inspatio-drive train-world-model``: JDMD training / LoRA fine-tuning / distillation of the world model
(configs/train_world_model.yaml); with ``sandbox.build=true`` the V2V clips are first written from the sandbox
oracle, and with ``eval.enabled`` the trained model is evaluated on ``data.val_split`` against the clips' targets
beside the geometric render with hole filling. With ``decoder_refiner.enabled`` a learned decoder refinement of the
block-PCA codec is trained after the DiT (or for the given ``decoder_refiner.dit``, DiT training skipped) and the
evaluation uses the refined codec. Runs under ``torchrun`` for several GPUs (DDP)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from inspatio_drive.commands.base import compose_and_run
from inspatio_drive.evaluation.world_model_decoder import train_decoder_refiner
from inspatio_drive.evaluation.world_model_sandbox import build_sandbox_clips, evaluate_world_model
from inspatio_drive.world_model.codec import BLOCK_PCA
from inspatio_drive.world_model.condition import VAE_SPACE_STRIDE, check_image_size
from inspatio_drive.world_model.factory import build_generator, dit_config, resolve_device
from inspatio_drive.world_model.training.step_timing import benchmark_training
from inspatio_drive.world_model.training.trainer import EXPORT_FILE, train_world_model


def run(cfg: DictConfig) -> dict[str, Any]:
    c = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(c, dict)
    rank = int(os.environ.get("RANK", "0"))
    if c["bench"]["enabled"]:
        return bench(c)
    if c["sandbox"]["build"] and rank == 0:

        counts = build_sandbox_clips(c["data"]["dir"], c["sandbox"], progress=c["progress"])
        print(f"sandbox clips in {c['data']['dir']}: {counts}")
    if c["sandbox"]["build"] and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        raise ValueError("sandbox.build=true under torchrun: build the clips in a single process first")

    rcfg = c["decoder_refiner"]
    if rcfg["enabled"] and rcfg["dit"]:  # refiner for an existing DiT: no DiT training
        if not rcfg["codec"]:
            raise ValueError("decoder_refiner.dit is set: give its block-PCA codec file as decoder_refiner.codec")
        summary: dict[str, Any] = {"checkpoint": rcfg["dit"], "vae": f"{BLOCK_PCA}:{rcfg['codec']}"}
    else:
        summary = train_world_model(c)
        summary["checkpoint"] = str(Path(c["output_dir"]) / EXPORT_FILE)
    if rank == 0:
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    if rcfg["enabled"] and rank == 0:
        codec = rcfg["codec"] or (summary["vae"][len(BLOCK_PCA) + 1 :] if summary["vae"].startswith(BLOCK_PCA + ":") else None)
        if codec is None:
            raise ValueError(f"decoder_refiner.enabled=true needs a block-PCA codec (vae=block-pca), got vae={summary['vae']}")
        summary["decoder_refiner"] = train_decoder_refiner(c, summary["checkpoint"], codec)
        summary["vae"] = summary["decoder_refiner"]["vae"]
        print(json.dumps({k: v for k, v in summary["decoder_refiner"].items()}, indent=1))
    if c["eval"]["enabled"] and rank == 0:

        gen = build_generator({
            "name": "inspatio", "model": c["model"], "checkpoint": summary["checkpoint"],
            "vae": summary["vae"], "device": "cpu" if c["device"] == "cpu" else "auto", "dtype": "float32",
            "max_batch": 1, "caption": None,
        })  # fmt: skip
        ev = evaluate_world_model(gen, c["data"]["dir"], c["data"]["val_split"], c["output_dir"],
                                  seed=c["eval"]["seed"], figure_frames=c["eval"]["figure_frames"],
                                  progress=c["progress"])
        summary["eval"] = ev["mean"]
        print(json.dumps({"eval": ev["mean"], "clips": ev["clips"]}, indent=1))
    return summary


def bench(c: dict[str, Any]) -> dict[str, Any]:
    """``bench.enabled=true``: training-step benchmark on random latents (see :mod:`...training.step_timing`)."""

    b, t = c["bench"], c["train"]
    w, h = check_image_size((b["width"], b["height"]), "bench.width x bench.height")
    if b["latent_frames"] % 3:
        raise ValueError(f"bench.latent_frames={b['latent_frames']}: expected a multiple of 3")
    res = benchmark_training(
        dit_config(c["model"]), resolve_device(c["device"]), b["batch"], b["latent_frames"],
        (h // VAE_SPACE_STRIDE, w // VAE_SPACE_STRIDE), b["steps"], b["warmup"],
        c["lora"]["rank"] if c["lora"]["enabled"] else None, t["gradient_checkpointing"], t["context_grad"], t["bf16"],
    )  # fmt: skip
    out = Path(c["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return res


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive train-world-model data.dir=… [model=sandbox_small vae=block-pca …]``."""
    return 0 if compose_and_run("train-world-model", "train_world_model", overrides, run, (ValueError,)) is not None else 2
