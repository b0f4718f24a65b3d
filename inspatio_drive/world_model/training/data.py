"""Training clips of the world model: files, dataset and latent encoding.

A clip is one safetensors file (``<name>.safetensors``) with uint8 pixel tensors and JSON metadata:

* ``source`` [Ts, 3, H, W]: the source (reference) video; Ts = 1 is a static world (the frame is repeated, as the
  generator does with a single source frame) or Ts = T;
* ``target`` [T, 3, H, W]: the video to generate (V2V: the true view along the new trajectory, e.g. the sandbox
  oracle; T2V: the real video);
* ``render`` [T, 3, H, W] and ``mask`` [T, H, W] (255 = rendered, 0 = hole): the geometric condition (V2V clips
  only; a clip without them is T2V only);
* optional ``text`` [Lt, text_dim] float: the caption's text-encoder embedding (umT5 for the 1.3B model; see
  :class:`~inspatio_drive.world_model.text.CaptionEmbeddingCache`);
* metadata ``split`` (train / val / test), ``scene``, ``caption`` (free text).

T = 4·L - 3 with L a multiple of 3 (9, 21, 33 ...), H and W multiples of 16 (the generator's rules).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset

from ..condition import check_image_size, check_num_frames, encode_condition, mask_to_signed

CLIP_SUFFIX = ".safetensors"


@dataclass
class Clip:
    """One training clip (see the module docstring); tensors uint8 except ``text``."""

    source: torch.Tensor
    target: torch.Tensor
    render: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    text: torch.Tensor | None = None
    meta: dict[str, Any] | None = None

    @property
    def has_condition(self) -> bool:
        return self.render is not None and self.mask is not None

    def validate(self, where: str = "clip") -> None:
        """Raise ``ValueError`` naming ``where`` and the field when shapes do not follow the rules."""
        if self.target.ndim != 4 or self.target.shape[1] != 3:
            raise ValueError(f"{where}: target must be [T, 3, H, W] uint8, got {tuple(self.target.shape)}")
        t, _, h, w = self.target.shape
        check_num_frames(t)
        check_image_size((w, h), f"{where}: frame size (W x H)")
        if self.source.ndim != 4 or self.source.shape[1:] != (3, h, w) or self.source.shape[0] not in (1, t):
            raise ValueError(f"{where}: source must be [1 or {t}, 3, {h}, {w}], got {tuple(self.source.shape)}")
        if (self.render is None) != (self.mask is None):
            raise ValueError(f"{where}: render and mask go together (V2V), or neither (T2V)")
        if self.render is not None and self.render.shape != self.target.shape:
            raise ValueError(f"{where}: render must be {tuple(self.target.shape)}, got {tuple(self.render.shape)}")
        if self.mask is not None and self.mask.shape != (t, h, w):
            raise ValueError(f"{where}: mask must be [{t}, {h}, {w}], got {tuple(self.mask.shape)}")


def save_clip(path: str | os.PathLike[str], clip: Clip) -> Path:
    """Write a clip file (validated first)."""
    clip.validate(str(path))
    dense = torch.contiguous_format  # clone: views may share storage or be permuted
    tensors = {"source": clip.source.clone(memory_format=dense), "target": clip.target.clone(memory_format=dense)}
    if clip.has_condition:
        tensors["render"] = clip.render.clone(memory_format=dense)  # type: ignore[union-attr]
        tensors["mask"] = clip.mask.to(torch.uint8).contiguous()  # type: ignore[union-attr]
    if clip.text is not None:
        tensors["text"] = clip.text.float().contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"meta": json.dumps(clip.meta or {})})
    return path


def load_clip(path: str | os.PathLike[str]) -> Clip:
    """Read a clip file; ``ValueError`` naming the file when a tensor is missing or mis-shaped."""
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing = {"source", "target"} - keys
        if missing:
            raise ValueError(f"{path}: clip file lacks {sorted(missing)}; expected source, target[, render, mask, text]")
        get = {k: f.get_tensor(k) for k in keys}
        meta = json.loads((f.metadata() or {}).get("meta", "{}"))
    clip = Clip(get["source"], get["target"], get.get("render"), get.get("mask"), get.get("text"), meta)
    clip.validate(str(path))
    return clip


class ClipDataset(Dataset):
    """Clips of one split in a folder (``*.safetensors``; metadata ``split``), sorted by file name.

    Args:
        root: folder of clip files.
        split: keep clips whose metadata ``split`` equals it (None = all).
    """

    def __init__(self, root: str | os.PathLike[str], split: str | None = "train") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"training data folder {self.root} does not exist (data.dir)")
        files = sorted(self.root.glob("*" + CLIP_SUFFIX))
        self.files = [p for p in files if split is None or _split_of(p) == split]
        if not self.files:
            raise ValueError(f"{self.root}: no clip files of split {split!r} (*.safetensors with metadata split)")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Clip:
        return load_clip(self.files[i])


def _split_of(path: Path) -> str | None:
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}")).get("split")


def collate_clips(clips: Sequence[Clip]) -> list[Clip]:
    """The DataLoader keeps a list (encoding happens on the training device)."""
    return list(clips)


Encoder = Callable[[torch.Tensor], torch.Tensor]
"""``video [B, T, 3, H, W] in [-1, 1] -> latents [B, L, C, H/8, W/8]`` (``WanVAE.encode`` or the codec's)."""


@dataclass
class LatentBatch:
    """Encoded clips: ``ref``, ``target`` [B, L, C, h, w]; ``cond`` [B, L, 4 + C, h, w]; ``text`` [B, Lt, D];
    ``has_condition`` [B] bool (V2V possible)."""

    ref: torch.Tensor
    target: torch.Tensor
    cond: torch.Tensor
    text: torch.Tensor
    has_condition: torch.Tensor


def _unit(video: torch.Tensor) -> torch.Tensor:
    return video.float() / 255.0 if video.dtype == torch.uint8 else video.float()


def encode_clips(
    clips: Sequence[Clip], encode: Encoder, text_dim: int, device: torch.device | str = "cpu"
) -> LatentBatch:
    """Encode a batch of clips of equal size (T2V clips get zero condition channels)."""
    t = clips[0].target.shape[0]
    src = torch.stack([c.source.expand(t, -1, -1, -1) for c in clips])
    target = torch.stack([c.target for c in clips])
    ref = encode(_unit(src).to(device) * 2 - 1)
    tgt = encode(_unit(target).to(device) * 2 - 1)
    cond = torch.zeros(*tgt.shape[:2], 4 + tgt.shape[2], *tgt.shape[3:], device=tgt.device)
    has = torch.tensor([c.has_condition for c in clips], device=tgt.device)
    if bool(has.any()):
        rows = [i for i, c in enumerate(clips) if c.has_condition]
        render = torch.stack([clips[i].render for i in rows]).to(device)  # type: ignore[misc]
        mask = torch.stack([clips[i].mask for i in rows]).to(device)  # type: ignore[misc]
        signed = mask_to_signed(mask.float() / 255.0 if mask.dtype == torch.uint8 else mask)
        cond[rows] = encode_condition(encode, _unit(render), signed)
    lt = max((c.text.shape[0] for c in clips if c.text is not None), default=0)
    text = torch.zeros(len(clips), lt, text_dim, device=tgt.device)
    for i, c in enumerate(clips):
        if c.text is not None:
            if c.text.shape[-1] != text_dim:
                raise ValueError(f"clip text embedding width {c.text.shape[-1]} != model text_dim {text_dim}")
            text[i, : c.text.shape[0]] = c.text.to(tgt.device)
    return LatentBatch(ref, tgt, cond, text, has)
