"""Decoder fine-tuning of a small world model's block-PCA codec (``train-world-model decoder_refiner.enabled=true``).

The block-PCA codec (:class:`~inspatio_drive.world_model.codec.BlockPCACodec`) decodes each 8x8 block on its own,
so the generator's frames are blocky, and the DiT's x0 is noisy. As video VAEs fine-tune their decoder on the
latents the generator produces, a :class:`~inspatio_drive.world_model.codec.BlockRefiner` (a small residual conv
net applied to each decoded frame) is trained here with the DiT and the codec's projection frozen:

* pairs (:func:`refiner_pairs`): for every TRAIN V2V clip, the plain block-PCA decoding of the DiT's generated
  latents (the 4-step sampler, as the generator runs at inference) and of ``encode(target)``, each frame 1..T-1
  paired with the true frame (the sandbox oracle); uint8 [N, 3, H, W];
* a share ``holdout`` of the train WORLDS (by seed) is held out: the step with the lowest hold-out loss on their
  generated pairs (at most ``holdout_frames`` of them, evenly spaced) is the one kept. The validation split (``data.val_split``, ``sandbox.val_seeds``) is never read;
* loss ``L1 + ssim_weight·(1 - SSIM)`` (pixels in [0, 1]; the SSIM of :func:`~inspatio_drive.render.metrics.masked_ssim`,
  the evaluation's SSIM) on random block-aligned crops; AdamW;
* outputs in ``output_dir``: ``refiner_pairs.pt`` (the pairs, reused on resume), ``refiner_state.pt`` (resume
  point), ``codec_refined.safetensors`` (the codec with the best refiner), ``refiner_metrics.json`` and
  ``refiner_loss.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from inspatio_drive.render.metrics import masked_ssim
from inspatio_drive.world_model.codec import BLOCK_PCA, BlockPCACodec, BlockRefiner
from inspatio_drive.world_model.condition import VAE_SPACE_STRIDE
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.training.data import ClipDataset, load_clip

PAIRS_FILE = "refiner_pairs.pt"
STATE_FILE = "refiner_state.pt"
REFINED_CODEC_FILE = "codec_refined.safetensors"


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 [..., 3, H, W] -> float in [-1, 1]."""
    return x.float() / 127.5 - 1.0


def _uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8 (rounded)."""
    return ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)


def check_train_clip(meta: Mapping[str, Any] | None, path: Path, train_split: str, val_split: str,
                     val_seeds: Sequence[int] | None) -> None:
    """Refuse a clip of the validation split or of a validation world (``range(*val_seeds)``)."""
    meta = meta or {}
    if meta.get("split", train_split) == val_split:
        raise ValueError(f"{path}: clip of the validation split {val_split!r} among the refiner's training clips")
    if val_seeds is not None and "seed" in meta and int(val_seeds[0]) <= int(meta["seed"]) < int(val_seeds[1]):
        raise ValueError(f"{path}: world seed {meta['seed']} is a validation world (sandbox.val_seeds={list(val_seeds)})")


def refiner_pairs(generator: Any, codec: BlockPCACodec, files: Sequence[Path], seed: int = 0,
                  train_split: str = "train", val_split: str = "val", val_seeds: Sequence[int] | None = None,
                  progress: bool = True) -> dict[str, torch.Tensor]:
    """Refiner training pairs of V2V clip files (see the module docstring).

    Returns ``inputs`` / ``targets`` uint8 [N, 3, H, W], ``world`` int64 [N] (world seed, -1 if unknown) and
    ``generated`` bool [N] (True: the DiT's generated frame, False: the codec reconstruction of the target).
    """
    raw = codec.with_refiner(None)
    inputs, targets, world, generated = [], [], [], []
    for path in tqdm(files, desc="refiner pairs", unit="clip", disable=not progress):
        clip = load_clip(path)
        check_train_clip(clip.meta, path, train_split, val_split, val_seeds)
        if not clip.has_condition:
            continue
        lat = [b.latents for b in generator.generate(clip.source, clip.render[None], clip.mask[None] > 0,
                                                     seed=seed, decode=False)]
        gen = raw.decode_raw(torch.cat(lat, dim=1).to(raw.device))[0, 1:]
        rec = raw.decode_raw(raw.encode(_unit(clip.target)[None]))[0, 1:]
        truth = clip.target[1:]
        w = int((clip.meta or {}).get("seed", -1))
        for video, is_gen in ((gen, True), (rec, False)):
            inputs.append(_uint8(video.cpu()))
            targets.append(truth)
            world.append(torch.full((len(truth),), w, dtype=torch.int64))
            generated.append(torch.full((len(truth),), is_gen, dtype=torch.bool))
    if not inputs:
        raise ValueError("refiner_pairs: no V2V clips (with render and mask) among the training clips")
    return {"inputs": torch.cat(inputs), "targets": torch.cat(targets), "world": torch.cat(world),
            "generated": torch.cat(generated)}


def holdout_worlds(worlds: torch.Tensor, share: float) -> set[int]:
    """The last ``ceil(share · n)`` distinct world seeds (at least 1 when ``share`` > 0 and n > 1)."""
    seeds = sorted(set(worlds.tolist()))
    if share <= 0 or len(seeds) < 2:
        return set()
    n = min(len(seeds) - 1, max(1, math.ceil(share * len(seeds))))
    return set(seeds[-n:])


def refiner_loss(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """``L1 + ssim_weight·(1 - SSIM)`` of frames [N, 3, H, W] in [-1, 1] (both terms on [0, 1] pixels)."""
    p, t = (pred + 1) / 2, (target + 1) / 2
    l1 = (p - t).abs().mean()
    loss = l1
    parts = {"l1": float(l1.detach())}
    if ssim_weight > 0:
        hwc = (p.clamp(0, 1).permute(0, 2, 3, 1), t.permute(0, 2, 3, 1))  # [0, 1]: masked_ssim's float range
        ssim = masked_ssim(*hwc, torch.ones(p.shape[0], p.shape[2], p.shape[3], dtype=torch.bool)).mean()
        loss = loss + ssim_weight * (1 - ssim.float())
        parts["ssim"] = float(ssim.detach())
    parts["loss"] = float(loss.detach())
    return loss, parts


def _crop_batch(pairs: Mapping[str, torch.Tensor], idx: torch.Tensor, crop: int,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = pairs["inputs"][idx], pairs["targets"][idx]
    h, w = x.shape[-2:]
    if crop and crop < min(h, w):
        s = VAE_SPACE_STRIDE  # block-aligned: the refiner's block phase stays the decoded frame's
        oy = int(torch.randint(0, (h - crop) // s + 1, (1,), generator=gen)) * s
        ox = int(torch.randint(0, (w - crop) // s + 1, (1,), generator=gen)) * s
        x, y = x[..., oy : oy + crop, ox : ox + crop], y[..., oy : oy + crop, ox : ox + crop]
    return _unit(x), _unit(y)


@torch.no_grad()
def holdout_metrics(refiner: BlockRefiner, inputs: torch.Tensor, targets: torch.Tensor, ssim_weight: float,
                    batch: int = 32) -> dict[str, float]:
    """Loss, L1, SSIM and PSNR of the refined frames against the targets (uint8 [N, 3, H, W]), whole frames."""
    refiner.eval()
    sums: dict[str, float] = {}
    se, n = 0.0, 0
    for i in range(0, len(inputs), batch):
        x, y = _unit(inputs[i : i + batch]), _unit(targets[i : i + batch])
        p = refiner(x).clamp(-1, 1)
        _, parts = refiner_loss(p, y, ssim_weight if ssim_weight > 0 else 1.0)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v * len(x)
        se += float((((p - y) / 2) ** 2).sum())
        n += len(x)
    refiner.train()
    out = {k: v / n for k, v in sums.items()}
    out["loss"] = out["l1"] + ssim_weight * (1 - out["ssim"])
    out["psnr"] = float(10 * math.log10(1.0 / max(se / (n * 3 * inputs.shape[-1] * inputs.shape[-2]), 1e-12)))
    return out


def train_refiner(pairs: Mapping[str, torch.Tensor], rcfg: Mapping[str, Any], out_dir: str | Path,
                  resume: bool = True, progress: bool = True, plot: bool = True) -> tuple[BlockRefiner, dict[str, Any]]:
    """Train a :class:`BlockRefiner` on ``pairs`` (:func:`refiner_pairs`) with the ``decoder_refiner`` knobs;
    returns the best refiner (lowest hold-out loss, step 0 = identity included) and the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    crop = int(rcfg["crop"])
    if crop % VAE_SPACE_STRIDE:
        raise ValueError(f"decoder_refiner.crop={crop}: expected a multiple of {VAE_SPACE_STRIDE} (or 0)")
    ssim_weight = float(rcfg["ssim_weight"])
    held = holdout_worlds(pairs["world"], float(rcfg["holdout"]))
    in_held = torch.tensor([int(w) in held for w in pairs["world"].tolist()], dtype=torch.bool)
    train_idx = torch.nonzero(~in_held).flatten()
    gen_train = train_idx[pairs["generated"][train_idx]]
    rec_train = train_idx[~pairs["generated"][train_idx]]
    hold_idx = torch.nonzero(in_held & pairs["generated"]).flatten()
    max_hold = int(rcfg.get("holdout_frames") or 0)
    if 0 < max_hold < len(hold_idx):  # evenly spaced: the hold-out evaluation stays cheap on CPU
        hold_idx = hold_idx[torch.linspace(0, len(hold_idx) - 1, max_hold).round().long()]
    if len(gen_train) == 0:
        raise ValueError("decoder_refiner: no generated training pairs left after the hold-out")
    torch.manual_seed(int(rcfg["seed"]))
    refiner = BlockRefiner(int(rcfg["channels"]), int(rcfg["blocks"])).train()
    opt = torch.optim.AdamW(refiner.parameters(), lr=float(rcfg["lr"]), weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(rcfg["seed"]))
    step, history, evals = 0, [], []
    best: dict[str, Any] = {"step": 0, "loss": math.inf, "state": None}
    state_path = out / STATE_FILE
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        refiner.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        gen.set_state(st["rng"])
        step, history, evals = int(st["step"]), json.loads(st["history"]), json.loads(st["evals"])
        best = {"step": int(st["best_step"]), "loss": float(st["best_loss"]), "state": st["best_model"]}

    def evaluate() -> None:
        if len(hold_idx) == 0:
            return
        m = holdout_metrics(refiner, pairs["inputs"][hold_idx], pairs["targets"][hold_idx], ssim_weight)
        evals.append({"step": step, **m})
        if m["loss"] < best["loss"]:
            best.update(step=step, loss=m["loss"], state={k: v.clone() for k, v in refiner.state_dict().items()})

    if not evals:
        evaluate()  # step 0: the identity, the plain block-PCA decoding
    steps, batch = int(rcfg["steps"]), int(rcfg["batch_size"])
    n_rec = round(batch * float(rcfg["recon_ratio"])) if len(rec_train) else 0
    deadline = time.monotonic() + 60 * float(rcfg["max_minutes"]) if rcfg.get("max_minutes") else math.inf
    bar = tqdm(total=steps, initial=step, desc="decoder refiner", unit="step", disable=not progress)
    start, first = time.monotonic(), step
    stopped_early = False
    while step < steps:
        if time.monotonic() > deadline:
            stopped_early = True
            break
        idx = torch.cat([gen_train[torch.randint(len(gen_train), (batch - n_rec,), generator=gen)],
                         rec_train[torch.randint(max(1, len(rec_train)), (n_rec,), generator=gen)]])
        x, y = _crop_batch(pairs, idx, crop, gen)
        loss, parts = refiner_loss(refiner(x), y, ssim_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        history.append({"step": step, **parts})
        bar.update(1)
        bar.set_postfix(loss=f"{parts['loss']:.4f}")
        if step % int(rcfg["eval_every"]) == 0 or step == steps:
            evaluate()
            _save_state(state_path, refiner, opt, gen, step, history, evals, best)
    bar.close()
    if not evals or evals[-1]["step"] != step:
        evaluate()
    _save_state(state_path, refiner, opt, gen, step, history, evals, best)
    if best["state"] is not None:
        refiner.load_state_dict(best["state"])
    elapsed = time.monotonic() - start
    summary = {
        "steps": step, "steps_this_run": step - first, "seconds": elapsed, "stopped_early_max_minutes": stopped_early,
        "best_step": best["step"], "holdout_worlds": sorted(held), "pairs_train": len(train_idx),
        "pairs_holdout": len(hold_idx), "parameters": sum(p.numel() for p in refiner.parameters()),
        "holdout_identity": evals[0] if evals else None,
        "holdout_best": next((e for e in evals if e["step"] == best["step"]), None),
    }  # fmt: skip
    (out / "refiner_metrics.json").write_text(json.dumps({**summary, "evals": evals, "history": history}, indent=1))
    if plot:
        plot_refiner(history, evals, out / "refiner_loss.png")
    return refiner.eval(), summary


def _save_state(path: Path, refiner, opt, gen, step, history, evals, best) -> None:
    state = {"model": refiner.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state(), "step": step,
             "history": json.dumps(history), "evals": json.dumps(evals), "best_step": best["step"],
             "best_loss": best["loss"], "best_model": best["state"] if best["state"] is not None else refiner.state_dict()}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic


def plot_refiner(history: list[dict[str, float]], evals: list[dict[str, float]], path: Path) -> Path:
    """Training loss (moving average) and hold-out loss per step; hold-out SSIM on the right axis."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    fig, ax = plt.subplots(figsize=(7, 4))
    if history:
        vals = torch.tensor([r["loss"] for r in history])
        k = max(1, min(50, len(vals) // 10))
        smooth = F.avg_pool1d(vals[None, None], k, 1).flatten()
        ax.plot([r["step"] for r in history][k - 1 :], smooth.tolist(), label="train loss (crops, moving average)")
    if evals:
        ax.plot([e["step"] for e in evals], [e["loss"] for e in evals], "o-", label="hold-out loss (generated frames)")
        ax2 = ax.twinx()
        ax2.plot([e["step"] for e in evals], [e["ssim"] for e in evals], "s--", color="tab:green", label="hold-out SSIM")
        ax2.set_ylabel("hold-out SSIM")
        ax2.legend(loc="center right")
    ax.set_xlabel("step")
    ax.set_ylabel("L1 + w·(1 - SSIM)")
    ax.set_title("decoder refiner of the block-PCA codec")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def train_decoder_refiner(c: Mapping[str, Any], dit: str, codec_path: str) -> dict[str, Any]:
    """The ``decoder_refiner`` stage of ``train-world-model`` (config ``c``) for DiT checkpoint ``dit`` and its
    block-PCA codec file: pairs (cached), training, and ``output_dir/codec_refined.safetensors``; returns the
    summary with ``vae`` = ``block-pca:<refined codec>``."""
    rcfg, dcfg = c["decoder_refiner"], c["data"]
    out = Path(c["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    if dcfg["split"] == dcfg["val_split"]:
        raise ValueError(f"data.split == data.val_split == {dcfg['split']!r}: the refiner never trains on the val clips")
    if c["train"].get("cpu_threads"):
        torch.set_num_threads(int(c["train"]["cpu_threads"]))
    codec = BlockPCACodec.load(codec_path)
    files = ClipDataset(dcfg["dir"], dcfg["split"]).files
    val_seeds = c["sandbox"]["val_seeds"] if c.get("sandbox") else None
    pairs_path = out / PAIRS_FILE
    names = [f.name for f in files]
    pairs = None
    if c["checkpoint"]["resume"] and pairs_path.is_file():
        cached = torch.load(pairs_path, map_location="cpu", weights_only=True)
        if json.loads(cached["files"]) == names and cached.get("dit") == dit:
            pairs = cached["pairs"]
    if pairs is None:
        gen = build_generator({
            "name": "inspatio", "model": c["model"], "checkpoint": dit, "vae": f"{BLOCK_PCA}:{codec_path}",
            "device": "cpu", "dtype": "float32", "max_batch": 1, "caption": None,
        })  # fmt: skip
        pairs = refiner_pairs(gen, codec, files, seed=int(c["eval"]["seed"]), train_split=dcfg["split"],
                              val_split=dcfg["val_split"], val_seeds=val_seeds, progress=bool(c["progress"]))
        tmp = pairs_path.with_suffix(".tmp")
        torch.save({"pairs": pairs, "files": json.dumps(names), "dit": dit}, tmp)
        tmp.replace(pairs_path)
    refiner, summary = train_refiner(pairs, rcfg, out, resume=bool(c["checkpoint"]["resume"]),
                                     progress=bool(c["progress"]), plot=bool(c["plot"]))
    path = codec.with_refiner(refiner).save(out / REFINED_CODEC_FILE)
    return {**summary, "codec": str(path), "vae": f"{BLOCK_PCA}:{path}"}
