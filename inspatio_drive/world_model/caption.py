"""Per-scene captions: Florence-2 (transformers' ``Florence2ForConditionalGeneration``) → caption → umT5 embedding.

InSpatio-World's step 1 captions the *middle* frame of the source video with Florence-2's
``<MORE_DETAILED_CAPTION>`` task (greedy decoding, up to 1024 new tokens) and feeds the text to the umT5 encoder.
Here the same runs on request (``generator.caption=florence2``): the source frame of each scene is captioned,
the caption is embedded through the existing :class:`~.text.CaptionEmbeddingCache` (one umT5 run per new
caption, cached on disk) and the generator conditions that scene on it.

Weights: a local folder in the transformers-native Florence-2 format (``config.json`` with
``model_type: florence2``, ``model.safetensors``, the processor files), e.g. the ``florence-community/Florence-2-*``
conversions. The original ``microsoft/Florence-2-*`` repositories need ``trust_remote_code``, which this project
does not allow; they are refused with a message saying so.

Captions are memoised per image (``sha256`` of the pixels) in memory and, with a cache folder, in
``<dir>/florence2/<sha256[:16]>.txt`` so a scene is captioned once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

FLORENCE_TASK = "<MORE_DETAILED_CAPTION>"


def load_florence2(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """``(processor, model)`` of a local transformers-native Florence-2 folder (no remote code).

    Raises:
        FileNotFoundError: no such folder / no ``config.json``.
        ValueError: the folder is a remote-code checkpoint (``auto_map``) or not a Florence-2 model.
    """
    root = Path(path).expanduser()
    cfg_file = root / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"Florence-2 weights not found: {cfg_file.resolve()} (generator.captioner.path=...)")
    cfg = json.loads(cfg_file.read_text())
    if cfg.get("model_type") != "florence2":
        raise ValueError(f"{cfg_file}: model_type {cfg.get('model_type')!r}, expected 'florence2'")
    if "auto_map" in cfg:
        raise ValueError(
            f"{cfg_file}: a remote-code Florence-2 checkpoint (auto_map); use a transformers-native conversion "
            "(e.g. florence-community/Florence-2-large): trust_remote_code is not allowed"
        )
    from transformers import AutoProcessor, Florence2ForConditionalGeneration  # lazy: optional heavy library

    processor = AutoProcessor.from_pretrained(str(root))
    model = Florence2ForConditionalGeneration.from_pretrained(str(root), dtype=dtype).to(device).eval()
    return processor, model


def _to_uint8_image(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 ``[H, W, 3]`` or float ``[3, H, W]`` / ``[H, W, 3]`` in [0, 1] → uint8 ``[H, W, 3]``."""
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] == 3 and t.shape[-1] != 3:
            t = t.permute(1, 2, 0)
        a = t.numpy()
    else:
        a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image must be [H, W, 3] (or [3, H, W] tensor), got {a.shape}")
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def image_key(image: np.ndarray | torch.Tensor) -> str:
    """``sha256`` of the uint8 pixels and shape (the memo key of a scene's caption)."""
    a = _to_uint8_image(image)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


class Florence2Captioner:
    """Caption one image with Florence-2 (greedy, as InSpatio's ``gen_json.py``).

    Args:
        path: local transformers-native Florence-2 folder.
        task: Florence-2 task token (``<MORE_DETAILED_CAPTION>`` as upstream; ``<CAPTION>`` is shorter); the
            angle brackets may be left out (``MORE_DETAILED_CAPTION``: hydra overrides cannot spell ``<``).
        max_new_tokens: generation budget (1024 upstream).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        task: str = FLORENCE_TASK,
        max_new_tokens: int = 1024,
    ) -> None:
        self.processor, self.model = load_florence2(path, device, dtype)
        self.task = task if task.startswith("<") else f"<{task}>"
        self.max_new_tokens = int(max_new_tokens)
        self.device, self.dtype = torch.device(device), dtype

    @torch.no_grad()
    def __call__(self, image: np.ndarray | torch.Tensor) -> str:
        """uint8 ``[H, W, 3]`` (or float in [0, 1]) → the caption (special tokens removed, whitespace collapsed)."""
        inputs = self.processor(text=self.task, images=_to_uint8_image(image), return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
        text = self.processor.batch_decode(out, skip_special_tokens=True)[0]
        return " ".join(text.split())


class SceneCaptions:
    """Scene image → caption → umT5 embedding, memoised per image.

    Args:
        captioner: image → caption (a :class:`Florence2Captioner`).
        embed: caption → ``[n_tokens, text_dim]`` (``CaptionEmbeddingCache.get``).
        cache_dir: where ``florence2/<sha256[:16]>.txt`` captions are kept (None: memory only).
    """

    def __init__(
        self,
        captioner: Callable[[np.ndarray], str],
        embed: Callable[[str], torch.Tensor],
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.captioner, self.embed = captioner, embed
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser() / "florence2"
        self.captions: dict[str, str] = {}
        self.last_caption: str | None = None

    def caption(self, image: np.ndarray | torch.Tensor) -> str:
        key = image_key(image)
        if key not in self.captions:
            file = None if self.cache_dir is None else self.cache_dir / f"{key[:16]}.txt"
            if file is not None and file.is_file():
                self.captions[key] = file.read_text(encoding="utf-8")
            else:
                text = self.captioner(_to_uint8_image(image))
                if not text:
                    log.warning("Florence-2 gave an empty caption for image %s", key[:16])
                if file is not None:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    file.write_text(text, encoding="utf-8")
                self.captions[key] = text
        self.last_caption = self.captions[key]
        return self.last_caption

    def __call__(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``[n_tokens, text_dim]`` umT5 embedding of the image's caption."""
        return self.embed(self.caption(image))
