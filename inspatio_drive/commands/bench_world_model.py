"""``inspatio-drive bench-world-model``: frames/s of the InSpatio-World DiT rollout.

Measures, with random weights and random inputs (``pipeline=dit``: the DiT rollout on latents;
``pipeline=full``: Wan VAE encode of source and renders + rollout + streaming decode with the Wan VAE or
``generator.decoder=taehv``):

* one stream: frames/s of a single rollout;
* for each K in ``ks``: aggregate frames/s of K candidates in one batched rollout sharing the source context
  (reference latents, text K/V, block 0's context pass), against K separate single-stream runs;
* peak device memory of each configuration (CUDA only) next to the analytic estimate.

Frames are decoded pixel frames: a rollout of ``n`` blocks yields ``12·n - 3`` frames per stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.world_model.condition import pixel_frames
from inspatio_drive.world_model.factory import (
    compile_blocks,
    dit_config,
    random_dit,
    resolve_device,
    resolve_dtype,
)
from inspatio_drive.world_model.generator import InSpatioGenerator
from inspatio_drive.world_model.memory import GIB, estimate_memory
from inspatio_drive.world_model.taehv import TAEHVDecoder
from inspatio_drive.world_model.vae import WanVAE, _autoencoder_cls, tiny_autoencoder


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run(gen: InSpatioGenerator, inputs: dict[str, torch.Tensor], streams: slice, pipeline: str) -> float:
    """Seconds for one rollout of the streams ``streams`` (DiT only, or encode + DiT + decode)."""
    _sync(gen.device)
    start = time.perf_counter()
    if pipeline == "dit":
        for _ in gen.generate_latents(inputs["ref"], inputs["cond"][streams]):
            pass
    else:
        for _ in gen.generate(inputs["source"], inputs["render"][streams], inputs["mask"][streams]):
            pass
    _sync(gen.device)
    return time.perf_counter() - start


def _timed(
    gen: InSpatioGenerator, inputs: dict[str, torch.Tensor], streams: slice, pipeline: str, repeats: int
) -> tuple[float, float | None]:
    """(best seconds, peak GiB or None off CUDA) of a rollout."""
    if gen.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(gen.device)
    best = min(_run(gen, inputs, streams, pipeline) for _ in range(repeats))
    peak = torch.cuda.max_memory_allocated(gen.device) / GIB if gen.device.type == "cuda" else None
    return best, peak


def _random_codecs(cfg: Any, device: torch.device, dtype: torch.dtype) -> tuple[WanVAE, TAEHVDecoder | None]:
    """Random-weight Wan VAE (full size, or tiny with ``vae=tiny-random``) and TAEHV decoder."""

    with torch.device(device):
        ae = tiny_autoencoder() if cfg.vae == "tiny-random" else _autoencoder_cls()()
        tae = TAEHVDecoder() if cfg.generator.decoder == "taehv" else None
    vae = WanVAE(ae.to(dtype=dtype)).to(device)
    return vae, None if tae is None else tae.to(dtype=dtype).eval()


def run_benchmark(cfg: Any) -> dict[str, Any]:
    """Run the benchmark described by a ``bench_world_model`` config; returns the results dict."""
    g = cfg.generator
    pipeline = str(cfg.pipeline)
    if pipeline not in ("dit", "full"):
        raise ValueError(f"pipeline must be 'dit' or 'full', got {pipeline!r}")
    device, dtype = resolve_device(g.device), resolve_dtype(g.dtype)
    config = dit_config(g.model)
    dit = random_dit(config, device, dtype, int(g.seed))
    if g.compile:
        compile_blocks(dit)
    h, w = cfg.height // 8, cfg.width // 8
    n_lat = 3 * int(cfg.blocks)
    frames = pixel_frames(n_lat)
    rng = torch.Generator(device=device).manual_seed(0)
    n_text = min(int(cfg.text_tokens), config.text_len)
    text = torch.randn(n_text, config.text_dim, generator=rng, device=device)
    ks = sorted({int(k) for k in cfg.ks})
    kmax = max(ks)
    vae, tae = _random_codecs(cfg, device, dtype) if pipeline == "full" else (None, None)
    if pipeline == "dit":
        inputs = {
            "ref": torch.randn(1, n_lat, config.out_dim, h, w, generator=rng, device=device),
            "cond": torch.randn(
                kmax, n_lat, config.in_dim - config.out_dim, h, w, generator=rng, device=device
            ),
        }
    else:
        shape = (kmax, frames, 3, cfg.height, cfg.width)
        inputs = {
            "source": torch.rand(1, 3, cfg.height, cfg.width, generator=rng, device=device),
            "render": torch.rand(shape, generator=rng, device=device),
            "mask": torch.rand((kmax, frames, cfg.height, cfg.width), generator=rng, device=device) > 0.2,
        }

    def make(max_batch: int) -> InSpatioGenerator:
        return InSpatioGenerator(dit, vae, text, max_batch=max_batch, decoder=tae)

    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": g.model,
        "dtype": str(dtype).removeprefix("torch."),
        "compile": bool(g.compile),
        "pipeline": pipeline if pipeline == "dit" else f"full (VAE encode + DiT + {g.decoder} decode)",
        "size": [int(cfg.height), int(cfg.width)],
        "tokens_per_latent_frame": (h // 2) * (w // 2),
        "blocks": int(cfg.blocks),
        "frames_per_stream": frames,
        "runs": [],
    }
    single = make(1)
    for _ in tqdm(range(int(cfg.warmup)), desc="warm-up", disable=int(cfg.warmup) == 0):
        _run(single, inputs, slice(0, 1), pipeline)
        _run(make(kmax), inputs, slice(0, kmax), pipeline)
    t1, peak1 = _timed(single, inputs, slice(0, 1), pipeline, int(cfg.repeats))
    results["one_stream"] = {
        "seconds": t1,
        "fps": frames / t1,
        "ms_per_block": 1000 * t1 / cfg.blocks,
        "peak_gib": peak1,
    }
    for k in tqdm(ks, desc="K"):
        tk, peak = _timed(make(k), inputs, slice(0, k), pipeline, int(cfg.repeats))
        row = {
            "K": k,
            "shared_seconds": tk,
            "shared_fps": k * frames / tk,
            "peak_gib": peak,
            "estimate_gib": estimate_memory(config, k, cfg.height, cfg.width, dtype).total / GIB,
        }
        if cfg.separate:
            ts = sum(_run(single, inputs, slice(i, i + 1), pipeline) for i in range(k))
            row |= {"separate_seconds": ts, "separate_fps": k * frames / ts, "speedup": ts / tk}
        results["runs"].append(row)
    return results


def _gib(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def format_results(res: dict[str, Any]) -> str:
    one = res["one_stream"]
    lines = [
        f"InSpatio-World DiT rollout on {res['device']} ({res['model']}, {res['dtype']}, compile={res['compile']}), "
        f"{res['size'][0]}x{res['size'][1]} ({res['tokens_per_latent_frame']} tokens/latent frame), "
        f"{res['blocks']} blocks = {res['frames_per_stream']} frames/stream; timed: {res['pipeline']}",
        f"one stream: {one['fps']:.2f} frames/s ({one['ms_per_block']:.1f} ms/block, peak {_gib(one['peak_gib'])} GiB)",
        "",
        "| K | shared: aggregate frames/s | separate: aggregate frames/s | speed-up | peak GiB | estimate GiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        sep = f"{r['separate_fps']:.2f} | {r['speedup']:.2f}x" if "separate_fps" in r else "- | -"
        lines.append(
            f"| {r['K']} | {r['shared_fps']:.2f} | {sep} | {_gib(r['peak_gib'])} | {r['estimate_gib']:.2f} |"
        )
    return "\n".join(lines)


@handles_user_errors("bench-world-model")
def main(overrides: Sequence[str] = ()) -> int:
    cfg = compose_command("bench-world-model", "bench_world_model", overrides)
    if cfg is None:
        return 2
    print(OmegaConf.to_yaml(cfg), flush=True)
    res = run_benchmark(cfg)
    print(format_results(res))
    if cfg.output:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(json.dumps(res, indent=2))
    return 0
