"""Build a generator from its hydra config (``configs/generator/{geometric,inspatio}.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch._dynamo

from inspatio_drive.assets import asset

from .caption import FLORENCE_TASK, Florence2Captioner, SceneCaptions
from .checkpoint import load_dit
from .codec import BLOCK_PCA, PIXEL_UNSHUFFLE, BlockPCACodec, PixelUnshuffleCodec
from .config import WanDiTConfig
from .generator import GeometricGenerator, InSpatioGenerator
from .memory import estimate_memory, max_batch_for_memory
from .model import CausalWanDiT
from .scheduler import DistilledSampler
from .taehv import load_taehv, load_taehv_encoder
from .text import CaptionEmbeddingCache
from .vae import WanVAE, load_wan_vae, tiny_autoencoder

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
PRESETS = {
    "inspatio_1_3b": WanDiTConfig.inspatio_1_3b,
    "tiny": WanDiTConfig.tiny,
    "sandbox_small": WanDiTConfig.sandbox_small,
}
SANDBOX_SMALL_ASSET = "world_model_sandbox_small.safetensors"
"""The shipped small world model (``inspatio_drive/assets``), loaded when ``model=sandbox_small`` and the
checkpoint is left at the 1.3B default."""
SANDBOX_SMALL_CODEC = "world_model_sandbox_small_codec.safetensors"
"""Its block-PCA codec (``generator.vae=block-pca:<file>``), used when ``vae`` is not given."""
DEFAULT_1_3B_CHECKPOINT = "InSpatio-World-1.3B.safetensors"


def preset_defaults(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Knobs implied by the DiT preset: ``sandbox_small`` uses the shipped checkpoint (unless another is given),
    the shipped block-PCA codec (unless ``vae`` is given) and no caption (it was trained without text)."""
    out = dict(cfg)
    if cfg.get("model") == "sandbox_small":

        if cfg.get("checkpoint") in (None, DEFAULT_1_3B_CHECKPOINT) and not cfg.get("random_weights", False):
            out["checkpoint"] = str(asset(SANDBOX_SMALL_ASSET))
        if cfg.get("vae") is None:
            out["vae"] = f"{BLOCK_PCA}:{asset(SANDBOX_SMALL_CODEC)}"
        out["caption"] = None
    return out


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} not one of {sorted(DTYPES)}")
    return DTYPES[name]


def dit_config(name: str) -> WanDiTConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown DiT preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()


def random_dit(config: WanDiTConfig, device: torch.device, dtype: torch.dtype, seed: int = 0) -> CausalWanDiT:
    """A DiT with random weights, initialised directly on ``device`` (speed does not depend on the values)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.device(device):
        torch.manual_seed(seed)
        model = CausalWanDiT(config)
    return model.to(dtype).eval()


def compile_blocks(model: CausalWanDiT, mode: str | None = None) -> CausalWanDiT:
    """``torch.compile`` every transformer block in place (the cache bookkeeping stays eager).

    The blocks share one code object and see several shapes (context pass of batch 1 or K with 3 or 6
    frames, denoising passes, several K), so dynamo's recompile limit is raised (the official code uses 32)
    to keep every variant compiled instead of silently falling back to eager.
    """

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    torch._dynamo.config.accumulated_cache_size_limit = max(
        torch._dynamo.config.accumulated_cache_size_limit, 512
    )
    for blk in model.blocks:
        blk.compile(mode=mode, dynamic=False)
    return model


def build_generator(cfg: Mapping[str, Any]) -> GeometricGenerator | InSpatioGenerator:
    """Generator from a ``generator`` config node."""
    name = cfg["name"]
    if name == "geometric":
        return GeometricGenerator(hole_fill=str(cfg.get("hole_fill") or "none"))
    if name != "inspatio":
        raise ValueError(f"generator.name must be 'geometric' or 'inspatio', got {name!r}")

    cfg = preset_defaults(cfg)
    device, dtype = resolve_device(cfg["device"]), resolve_dtype(cfg["dtype"])
    config = dit_config(cfg["model"])
    if cfg.get("random_weights", False):
        dit = random_dit(config, device, dtype, int(cfg.get("seed", 0)))
    else:
        dit = load_dit(
            cfg["checkpoint"], config, device, dtype, search_dirs=list(cfg.get("checkpoint_dirs") or [])
        )
    if cfg.get("compile", False):
        compile_blocks(dit)
    encoder_name, decoder_name = cfg.get("encoder", "vae"), cfg.get("decoder", "vae")
    for knob, value in (("encoder", encoder_name), ("decoder", decoder_name)):
        if value not in ("vae", "taehv"):
            raise ValueError(f"generator.{knob} must be 'vae' or 'taehv', got {value!r}")
    if "taehv" in (encoder_name, decoder_name) and not cfg.get("taehv"):
        raise ValueError(
            f"generator.encoder/decoder=taehv needs generator.taehv=<taew2_1.pth> (encoder={encoder_name}, decoder={decoder_name})"
        )
    vae = build_codec(cfg.get("vae"), config, device, dtype) if "vae" in (encoder_name, decoder_name) else None
    decoder = load_taehv(cfg["taehv"], device=device, dtype=dtype) if decoder_name == "taehv" else None
    encoder = load_taehv_encoder(cfg["taehv"], device=device, dtype=dtype) if encoder_name == "taehv" else None
    text, scene_text = None, None
    if cfg.get("caption") == "florence2":
        scene_text = scene_captions(cfg, device, dtype)
    elif cfg.get("caption") is not None:
        cache = CaptionEmbeddingCache(cfg["text_cache_dir"], cfg.get("text_encoder"), str(device))
        text = cache.get(cfg["caption"])
        cache.release_encoder()
    s = cfg.get("sampler") or {}
    sampler = DistilledSampler(
        denoising_step_list=tuple(float(x) for x in s.get("denoising_step_list", (1000, 750, 500, 250))),
        shift=float(s.get("shift", 5.0)),
        warp_denoising_step=bool(s.get("warp_denoising_step", True)),
    )
    max_batch = resolve_max_batch(cfg["max_batch"], config, device, dtype, cfg.get("memory_budget"))
    return InSpatioGenerator(
        dit, vae, text, sampler=sampler, max_batch=max_batch, decoder=decoder, encoder=encoder, scene_text=scene_text
    )


def scene_captions(cfg: Mapping[str, Any], device: torch.device, dtype: torch.dtype) -> SceneCaptions:
    """``generator.caption=florence2``: Florence-2 from ``generator.captioner.path`` captions each scene's source
    frame; captions go through the umT5 embedding cache (``text_cache_dir``, ``text_encoder`` for new ones)."""
    cap = cfg.get("captioner") or {}
    if not cap.get("path"):
        raise ValueError(
            "generator.caption=florence2 needs generator.captioner.path=<local Florence-2 folder (transformers format)>"
        )
    captioner = Florence2Captioner(
        cap["path"], device, dtype, task=str(cap.get("task", FLORENCE_TASK)),
        max_new_tokens=int(cap.get("max_new_tokens", 1024)),
    )  # fmt: skip
    cache = CaptionEmbeddingCache(cfg["text_cache_dir"], cfg.get("text_encoder"), str(device))
    return SceneCaptions(captioner, cache.get, cfg["text_cache_dir"])


def build_codec(
    vae_path: str | None, config: WanDiTConfig, device: torch.device, dtype: torch.dtype
) -> WanVAE | PixelUnshuffleCodec:
    """The latent codec named by ``generator.vae``: a Wan VAE path, ``tiny-random``, ``pixel-unshuffle`` or
    ``block-pca:<codec.safetensors>`` (the small models' codecs); its latent channels must equal the DiT's
    ``out_dim``."""
    if vae_path is None:
        raise ValueError(
            "generator.vae is not set: pass the Wan2.1 VAE (diffusers 'vae' folder or Wan2.1_VAE.pth), "
            f"{PIXEL_UNSHUFFLE} / {BLOCK_PCA}:<codec.safetensors> for models trained on their latents, "
            "or encode and decode with TAEHV (generator.encoder=taehv generator.decoder=taehv)"
        )
    if vae_path == PIXEL_UNSHUFFLE:
        codec: WanVAE | PixelUnshuffleCodec = PixelUnshuffleCodec(device)
        channels = PixelUnshuffleCodec.channels
    elif vae_path.startswith(BLOCK_PCA + ":"):
        codec = BlockPCACodec.load(vae_path[len(BLOCK_PCA) + 1 :], device)
        channels = codec.channels
    else:
        ae = tiny_autoencoder() if vae_path == "tiny-random" else load_wan_vae(vae_path, dtype=dtype, device=str(device))
        codec = WanVAE(ae.to(device=device, dtype=dtype)).to(device)
        channels = int(codec.mean.shape[2])
    if channels != config.out_dim:
        raise ValueError(
            f"generator.vae={vae_path} gives {channels}-channel latents but the DiT predicts {config.out_dim} "
            f"(generator.model); the codec must be the one the model was trained with"
        )
    return codec


def resolve_max_batch(
    value: int | str, config: WanDiTConfig, device: torch.device, dtype: torch.dtype, budget: Mapping | None
) -> int:
    """``max_batch`` as given, or ``auto``: the largest batch whose DiT memory estimate (K/V cache, activations,
    latents) fits ``memory_budget.fraction`` of the free device memory, measured after the weights are loaded,
    at ``memory_budget.height`` x ``memory_budget.width`` (CUDA only). The margin is left for the VAE."""
    if value != "auto":
        return int(value)
    if device.type != "cuda":
        raise ValueError(
            "generator.max_batch=auto needs a CUDA device (free memory is measured); give a number"
        )

    budget = budget or {}
    height, width = int(budget.get("height", 480)), int(budget.get("width", 832))
    free, _ = torch.cuda.mem_get_info(device)
    usable = int(free * float(budget.get("fraction", 0.8)))
    weights = estimate_memory(config, 1, height, width, dtype).weights  # already resident, not in ``free``
    n = max_batch_for_memory(config, usable + weights, height, width, dtype)
    if n < 1:
        raise RuntimeError(f"not even one stream fits in {usable / 2**30:.1f} GiB of free device memory")
    return int(n)
