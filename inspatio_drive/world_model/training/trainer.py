"""The training loop of ``inspatio-drive train-world-model`` (configs/train_world_model.yaml).

* one process per GPU under ``torchrun`` (``torch.distributed`` + ``DistributedDataParallel``; NCCL on CUDA,
  gloo on CPU); a plain ``python -m inspatio_drive train-world-model`` runs single-process;
* JDMD (:mod:`.jdmd`) or, with ``distill.enabled``, ODE-regression distillation to the 4-step sampler
  (:mod:`.distill`) from a frozen teacher checkpoint;
* full fine-tuning or LoRA (:mod:`.lora`), AdamW with linear warm-up, gradient clipping, bf16 autocast on CUDA
  (fp32 on CPU), gradient checkpointing, EMA of the trained weights (``torch.optim.swa_utils.AveragedModel``);
* outputs in ``output_dir``: ``train_state.pt`` (model, EMA, optimizer, scheduler, step, RNG; loaded back with
  ``torch.load(weights_only=True)`` when ``checkpoint.resume``), ``dit.safetensors`` (the EMA weights, LoRA
  merged, in the official checkpoint format: ``build_generator`` loads it with ``generator.checkpoint=``),
  ``metrics.json`` and ``loss.png`` (the command's evaluation adds ``eval.json`` and ``samples.png``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from ..checkpoint import load_dit, save_dit
from ..codec import BLOCK_PCA, fit_block_pca
from ..config import WanDiTConfig
from ..factory import build_codec, dit_config, random_dit, resolve_device
from ..model import CausalWanDiT
from ..scheduler import DistilledSampler
from .data import ClipDataset, collate_clips, encode_clips
from .distill import ODEDistillObjective
from .jdmd import JDMDObjective
from .lora import apply_lora, merged_state_dict

STATE_FILE = "train_state.pt"
CODEC_FILE = "codec.safetensors"
EXPORT_FILE = "dit.safetensors"
EXPORT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def setup_distributed(device_name: str) -> tuple[torch.device, int, int, bool]:
    """Initialise the process group under torchrun; returns (device, rank, world size, distributed)."""
    rank, world, local = _dist_env()
    device = resolve_device(device_name)
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, world, distributed


def build_dit(cfg: Mapping[str, Any], device: torch.device) -> tuple[CausalWanDiT, WanDiTConfig]:
    """The trained DiT: preset sizes, weights from ``init_checkpoint`` (fine-tuning) or a seeded random init."""
    config = dit_config(cfg["model"])
    if cfg.get("init_checkpoint"):
        dit = load_dit(cfg["init_checkpoint"], config, device, torch.float32)
    else:
        dit = random_dit(config, device, torch.float32, int(cfg["train"]["seed"]))
    return dit.train(), config


def resolve_codec(cfg: Mapping[str, Any], config: WanDiTConfig, out: Path, rank: int, distributed: bool) -> str:
    """``vae=block-pca`` (no file): fit the block-PCA codec with ``out_dim`` channels on the training clips'
    targets and sources (rank 0), write ``output_dir/codec.safetensors`` and return ``block-pca:<that file>``;
    any other value is returned as is."""
    vae = str(cfg["vae"])
    if vae != BLOCK_PCA:
        return vae
    path = out / CODEC_FILE
    if rank == 0 and not path.is_file():
        clips = ClipDataset(cfg["data"]["dir"], cfg["data"]["split"])
        videos = (v for clip in (clips[i] for i in range(len(clips))) for v in (clip.target, clip.source))
        fit_block_pca(videos, config.out_dim).save(path)
    if distributed:
        dist.barrier()
    return f"{BLOCK_PCA}:{path}"


def _infinite(loader: DataLoader, sampler: DistributedSampler, start_step: int) -> Iterator[list]:
    per_epoch = len(loader)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if i >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


def _lr_lambda(warmup: int):
    return lambda step: min(1.0, (step + 1) / max(1, warmup))


def train_world_model(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Run training from a ``train_world_model`` config; returns the summary written to ``metrics.json``."""
    tcfg, dcfg, lcfg, kcfg = cfg["train"], cfg["data"], cfg["lora"], cfg["checkpoint"]
    out = Path(cfg["output_dir"])
    dataset = ClipDataset(dcfg["dir"], dcfg["split"])  # a missing or empty data folder fails before any model is built
    device, rank, world, distributed = setup_distributed(cfg["device"])
    main = rank == 0
    if main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(int(tcfg["seed"]) + rank)
    if tcfg.get("cpu_threads") and device.type == "cpu":
        torch.set_num_threads(int(tcfg["cpu_threads"]))

    dit, config = build_dit(cfg, device)
    if lcfg["enabled"]:
        apply_lora(dit, int(lcfg["rank"]), float(lcfg["alpha"]), list(lcfg["targets"]), float(lcfg["dropout"]))
    dit.gradient_checkpointing = bool(tcfg["gradient_checkpointing"])
    vae = resolve_codec(cfg, config, out, rank, distributed)
    codec = build_codec(vae, config, device, torch.float32)
    sampler = DistilledSampler()
    common = dict(
        lambda_ctrl=float(tcfg["lambda_ctrl"]), sigmas=str(tcfg["sigmas"]), shift=float(tcfg["shift"]),
        sampler=sampler, context_grad=bool(tcfg["context_grad"]), context_noise=float(tcfg["context_noise"]),
    )  # fmt: skip
    if cfg["distill"]["enabled"]:
        if not cfg["distill"]["teacher"]:
            raise ValueError("distill.enabled=true needs distill.teacher=<dit.safetensors of the teacher>")
        teacher = load_dit(cfg["distill"]["teacher"], config, device, torch.float32)
        objective: JDMDObjective = ODEDistillObjective(dit, teacher, int(cfg["distill"]["ode_steps"]), **common)
    else:
        objective = JDMDObjective(dit, **common)
    model: torch.nn.Module = objective
    if distributed:
        model = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)

    trainable = [p for p in dit.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(int(tcfg["warmup"])))
    ema = AveragedModel(dit, multi_avg_fn=get_ema_multi_avg_fn(float(tcfg["ema_decay"])), use_buffers=False)

    gen = torch.Generator().manual_seed(int(tcfg["seed"]) * 1000 + rank)
    history: list[dict[str, float]] = []
    step = 0
    state_path = out / STATE_FILE
    if kcfg["resume"] and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        dit.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        step = int(state["step"])
        history = json.loads(state["history"])

    dsampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=int(tcfg["seed"]),
                                  drop_last=True)
    batch_size = int(tcfg["batch_size"])
    if len(dataset) < batch_size * world:
        raise ValueError(f"data.dir has {len(dataset)} {dcfg['split']} clips, fewer than train.batch_size x "
                         f"GPUs = {batch_size * world}")
    loader = DataLoader(dataset, batch_size=batch_size, sampler=dsampler, collate_fn=collate_clips,
                        num_workers=int(dcfg["num_workers"]), drop_last=True)
    batches = _infinite(loader, dsampler, step)
    autocast = device.type == "cuda" and bool(tcfg["bf16"])
    steps = int(tcfg["steps"])
    deadline = time.monotonic() + 60 * float(tcfg["max_minutes"]) if tcfg.get("max_minutes") else math.inf
    v2v_ratio = float(dcfg["v2v_ratio"])
    bar = _progress(steps, step, bool(cfg["progress"]) and main)
    start, first_step = time.monotonic(), step
    stopped_early = False
    while step < steps:
        if time.monotonic() > deadline:
            stopped_early = True
            break
        lat = encode_clips(next(batches), codec.encode, config.text_dim, device)
        pick = torch.rand(lat.has_condition.shape[0], generator=gen).to(device) < v2v_ratio
        v2v = lat.has_condition & pick
        cond = lat.cond * v2v.view(-1, 1, 1, 1, 1).to(lat.cond.dtype)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            losses = model(lat.ref, lat.target, cond, lat.text, v2v, generator=gen)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if float(tcfg["grad_clip"]) > 0:
            torch.nn.utils.clip_grad_norm_(trainable, float(tcfg["grad_clip"]))
        opt.step()
        sched.step()
        ema.update_parameters(dit)
        step += 1
        row = {"step": step, **{k: float(v.detach()) for k, v in losses.items()}, "v2v": float(v2v.float().mean())}
        history.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}", vis=f"{row['vis']:.4f}", ctrl=f"{row['ctrl']:.4f}")
        if step % int(kcfg["every"]) == 0 or step == steps:
            _save_state(state_path, dit, ema, opt, sched, step, gen, history, distributed, main)
    if bar is not None:
        bar.close()
    elapsed = time.monotonic() - start
    _save_state(state_path, dit, ema, opt, sched, step, gen, history, distributed, main)
    summary: dict[str, Any] = {}
    if main:
        export = save_dit(
            out / EXPORT_FILE, merged_state_dict(ema.module), EXPORT_DTYPES[str(kcfg["export_dtype"])],
            metadata={"model": str(cfg["model"]), "config": json.dumps(config.to_dict()), "step": str(step),
                      "vae": vae.replace(str(out / CODEC_FILE), CODEC_FILE)},  # the codec beside the checkpoint
        )  # fmt: skip
        summary = {
            "steps": step, "steps_this_run": step - first_step, "seconds": elapsed,
            "steps_per_second": (step - first_step) / elapsed if elapsed > 0 else None,
            "stopped_early_max_minutes": stopped_early, "world_size": world, "distributed": distributed,
            "device": str(device),
            "final": _mean_tail(history), "checkpoint": str(export), "model": cfg["model"],
            "lora": bool(lcfg["enabled"]), "distill": bool(cfg["distill"]["enabled"]), "vae": vae,
        }  # fmt: skip
        (out / "metrics.json").write_text(json.dumps({**summary, "history": history}, indent=1))
        if cfg["plot"]:
            plot_losses(history, out / "loss.png")
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _mean_tail(history: list[dict[str, float]], n: int = 50) -> dict[str, float]:
    tail = history[-n:]
    if not tail:
        return {}
    return {k: sum(r[k] for r in tail) / len(tail) for k in ("loss", "vis", "ctrl")}


def _save_state(path: Path, dit, ema, opt, sched, step, gen, history, distributed: bool, main: bool) -> None:
    rngs = [gen.get_state()]
    if distributed:
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, gen.get_state())
        rngs = gathered
    if not main:
        return
    state = {
        "model": dit.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "step": step, "rng": rngs, "history": json.dumps(history),
    }  # fmt: skip
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a crash mid-write keeps the previous state


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None

    return tqdm(total=total, initial=initial, desc="train-world-model", unit="step")


def plot_losses(history: list[dict[str, float]], path: Path) -> Path:
    """Training losses (L, L_vis, L_ctrl) per step, with a moving average, log scale."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in history]
    for key, label in (("loss", "L = L_vis + λ·L_ctrl"), ("vis", "L_vis (flow matching)"), ("ctrl", "L_ctrl (valid region, V2V)")):
        vals = torch.tensor([r[key] for r in history])
        k = max(1, min(50, len(vals) // 10))
        smooth = torch.nn.functional.avg_pool1d(vals[None, None], k, 1).flatten() if len(vals) >= k else vals
        ax.plot(steps[k - 1 :], smooth.tolist(), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (moving average)")
    ax.set_yscale("log")
    ax.set_title("world-model training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
