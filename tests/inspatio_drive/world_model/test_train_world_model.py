"""``inspatio-drive train-world-model`` at the tiny size on CPU: export loadable by build_generator, exact resume,
LoRA and distillation stages, torchrun (DDP, gloo, one process), one-line user errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from inspatio_drive.commands.train_world_model import main
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.training.data import Clip, ClipDataset, load_clip, save_clip

ROOT = Path(__file__).resolve().parents[3]


def _clips(root: Path, frames: int = 9) -> Path:
    g = torch.Generator().manual_seed(0)
    for i in range(5):
        tgt = (torch.rand(frames, 3, 32, 48, generator=g) * 255).to(torch.uint8)
        mask = (torch.rand(frames, 32, 48, generator=g) > 0.3).to(torch.uint8) * 255
        split = "val" if i == 4 else "train"
        clip = Clip(tgt[:1], tgt, meta={"split": split}) if i == 3 else \
            Clip(tgt[:1], tgt, tgt * (mask[:, None] > 0), mask, meta={"split": split})
        save_clip(root / f"c{i}.safetensors", clip)
    return root


def _args(data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [f"data.dir={data}", f"output_dir={out}", f"train.steps={steps}", "train.batch_size=2", "device=cpu",
            "checkpoint.every=1", "eval.enabled=false", "progress=false", "train.cpu_threads=1", *extra]


def test_clip_files_round_trip_and_validate(tmp_path):
    data = _clips(tmp_path)
    assert len(ClipDataset(data, "train")) == 4 and len(ClipDataset(data, "val")) == 1
    clip = load_clip(data / "c0.safetensors")
    assert clip.has_condition and clip.meta == {"split": "train"}
    assert not load_clip(data / "c3.safetensors").has_condition
    with pytest.raises(ValueError, match="do not make whole blocks"):
        save_clip(tmp_path / "bad.safetensors", Clip(clip.source, clip.target[:8]))


def test_train_exports_a_generator_checkpoint_and_resumes_exactly(tmp_path):
    data = _clips(tmp_path / "data")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(_args(data, straight, 4)) == 0
    assert main(_args(data, resumed, 2)) == 0
    assert main(_args(data, resumed, 4)) == 0
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["steps_this_run"] == 2 and len(metrics["history"]) == 4
    assert (straight / "loss.png").is_file()
    a, b = load_file(straight / "dit.safetensors"), load_file(resumed / "dit.safetensors")
    assert a.keys() == b.keys() and all(k.startswith("model.") for k in a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)

    gen = build_generator({"name": "inspatio", "model": "tiny", "checkpoint": str(straight / "dit.safetensors"),
                           "vae": "tiny-random", "device": "cpu", "dtype": "float32", "max_batch": 2,
                           "caption": None})
    clip = load_clip(data / "c0.safetensors")
    blocks = list(gen.generate(clip.source, clip.render[None], clip.mask[None] > 0))
    assert blocks[0].frames.shape == (1, 9, 3, 32, 48) and bool(torch.isfinite(blocks[0].frames).all())


def test_lora_and_distillation_stages(tmp_path):
    pytest.importorskip("peft")
    data = _clips(tmp_path / "data", frames=21)
    teacher = tmp_path / "teacher"
    assert main(_args(data, teacher, 1)) == 0
    lora = tmp_path / "lora"
    assert main(_args(data, lora, 1, "lora.enabled=true", "lora.rank=2",
                      f"init_checkpoint={teacher / 'dit.safetensors'}")) == 0
    assert load_file(lora / "dit.safetensors").keys() == load_file(teacher / "dit.safetensors").keys()
    distill = tmp_path / "distill"
    assert main(_args(data, distill, 1, "distill.enabled=true", "distill.ode_steps=2",
                      f"distill.teacher={teacher / 'dit.safetensors'}")) == 0
    assert json.loads((distill / "metrics.json").read_text())["distill"] is True


def test_user_errors_are_one_line(tmp_path, capsys):
    data = _clips(tmp_path / "data")
    assert main(_args(data, tmp_path / "o", 1, "distill.enabled=true")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "distill.teacher" in err[0]
    assert main(_args(tmp_path / "nowhere", tmp_path / "o", 1)) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(_args(data, tmp_path / "o", 1, "model=sandbox_small")) == 2  # tiny-random VAE vs 32 channels
    assert "gives 16-channel latents but the DiT predicts 32" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_one_process_on_cpu_uses_ddp(tmp_path):
    data = _clips(tmp_path / "data")
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", f"--master_port={_free_port()}",
           "-m", "inspatio_drive", "train-world-model", *_args(data, out, 2)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distributed"] is True and metrics["world_size"] == 1 and metrics["steps"] == 2
    assert (out / "dit.safetensors").is_file()


def test_block_pca_codec_is_fitted_on_the_train_clips(tmp_path):
    data = _clips(tmp_path / "data")
    out = tmp_path / "pca"
    assert main(_args(data, out, 1, "model=sandbox_small", "vae=block-pca")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vae"] == f"block-pca:{out / 'codec.safetensors'}"
    gen = build_generator({"name": "inspatio", "model": "sandbox_small", "checkpoint": str(out / "dit.safetensors"),
                           "vae": metrics["vae"], "device": "cpu", "dtype": "float32", "max_batch": 1})
    clip = load_clip(data / "c0.safetensors")
    (block,) = gen.generate(clip.source, clip.render[None], clip.mask[None] > 0)
    assert block.frames.shape == (1, 9, 3, 32, 48)


def test_training_benchmark_runs_on_cpu_at_the_tiny_size(tmp_path):
    out = tmp_path / "bench"
    assert main([f"output_dir={out}", "device=cpu", "bench.enabled=true", "bench.height=32", "bench.width=48",
                 "bench.latent_frames=6", "bench.steps=1", "bench.warmup=0", "train.gradient_checkpointing=true"]) == 0
    res = json.loads((out / "bench.json").read_text())
    assert res["steps_per_second"] > 0 and res["peak_memory_gib"] is None and res["estimate_gib"]["total"] > 0
