"""``inspatio-drive bench-world-model``: frames/s of the InSpatio-World DiT rollout.

Measures, with random weights and random latents (the VAE / TAEHV are not timed):

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

from ..config import compose
from .condition import pixel_frames
from .factory import compile_blocks, dit_config, random_dit, resolve_device, resolve_dtype
from .generator import InSpatioGenerator
from .memory import GIB, estimate_memory


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rollout(gen: InSpatioGenerator, ref: torch.Tensor, cond: torch.Tensor) -> float:
    _sync(gen.device)
    start = time.perf_counter()
    for _ in gen.generate_latents(ref, cond):
        pass
    _sync(gen.device)
    return time.perf_counter() - start


def _timed(
    gen: InSpatioGenerator, ref: torch.Tensor, cond: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """(best seconds, peak GiB) of a batched rollout."""
    if gen.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(gen.device)
    best = min(_rollout(gen, ref, cond) for _ in range(repeats))
    peak = torch.cuda.max_memory_allocated(gen.device) / GIB if gen.device.type == "cuda" else None
    return best, peak


def run_benchmark(cfg: Any) -> dict[str, Any]:
    """Run the benchmark described by a ``bench_world_model`` config; returns the results dict."""
    g = cfg.generator
    device, dtype = resolve_device(g.device), resolve_dtype(g.dtype)
    config = dit_config(g.model)
    dit = random_dit(config, device, dtype, int(g.seed))
    if g.compile:
        compile_blocks(dit)
    h, w = cfg.height // 8, cfg.width // 8
    n_lat = 3 * int(cfg.blocks)
    frames = pixel_frames(n_lat)
    gen_rng = torch.Generator(device=device).manual_seed(0)
    n_text = min(int(cfg.text_tokens), config.text_len)
    text = torch.randn(n_text, config.text_dim, generator=gen_rng, device=device)
    ks = sorted({int(k) for k in cfg.ks})
    kmax = max(ks)
    ref = torch.randn(1, n_lat, config.out_dim, h, w, generator=gen_rng, device=device)
    cond = torch.randn(kmax, n_lat, config.in_dim - config.out_dim, h, w, generator=gen_rng, device=device)
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": g.model,
        "dtype": str(dtype).removeprefix("torch."),
        "compile": bool(g.compile),
        "size": [int(cfg.height), int(cfg.width)],
        "tokens_per_latent_frame": (h // 2) * (w // 2),
        "blocks": int(cfg.blocks),
        "frames_per_stream": frames,
        "runs": [],
    }
    single = InSpatioGenerator(dit, None, text, max_batch=1)
    for _ in tqdm(range(int(cfg.warmup)), desc="warm-up", disable=int(cfg.warmup) == 0):
        _rollout(single, ref, cond[:1])
        _rollout(InSpatioGenerator(dit, None, text, max_batch=kmax), ref, cond)
    t1, peak1 = _timed(single, ref, cond[:1], int(cfg.repeats))
    results["one_stream"] = {
        "seconds": t1,
        "fps": frames / t1,
        "ms_per_block": 1000 * t1 / cfg.blocks,
        "peak_gib": peak1,
    }
    for k in tqdm(ks, desc="K"):
        gen = InSpatioGenerator(dit, None, text, max_batch=k)
        tk, peak = _timed(gen, ref, cond[:k], int(cfg.repeats))
        row = {
            "K": k,
            "shared_seconds": tk,
            "shared_fps": k * frames / tk,
            "peak_gib": peak,
            "estimate_gib": estimate_memory(config, k, cfg.height, cfg.width, dtype).total / GIB,
        }
        if cfg.separate:
            ts = sum(_rollout(single, ref, cond[i : i + 1]) for i in range(k))
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
        f"{res['blocks']} blocks = {res['frames_per_stream']} frames/stream; VAE not timed",
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


def main(overrides: Sequence[str] = ()) -> int:
    cfg = compose("bench_world_model", overrides)
    print(OmegaConf.to_yaml(cfg), flush=True)
    res = run_benchmark(cfg)
    print(format_results(res))
    if cfg.output:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(json.dumps(res, indent=2))
    return 0
