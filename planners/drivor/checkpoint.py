"""Loading DrivoR checkpoints strictly.

A released DrivoR checkpoint is a PyTorch Lightning file: a dict whose ``state_dict`` maps
``agent._drivor_model.<model key>`` to float32 tensors (``drivor_agent.py`` strips ``agent.`` and loads
strictly). We read it with ``torch.load(weights_only=True)`` (no arbitrary pickles) or, for ``.safetensors``
files, with safetensors; both prefixed and bare model keys are accepted. Every key and shape is checked
before loading, and a mismatch raises one error listing the missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

CHECKPOINT_PREFIXES: tuple[str, ...] = ("agent._drivor_model.", "_drivor_model.")


class CheckpointError(KeyError):
    """A checkpoint does not match the model (missing / unexpected / mis-shaped keys)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a DrivoR checkpoint with model keys (prefixes stripped).

    Accepts a Lightning ``.ckpt`` / ``.pth`` (dict with ``state_dict``), a bare state dict saved with
    ``torch.save``, or a ``.safetensors`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no tensor dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DrivoR checkpoint {path}: no such file")
    if path.suffix == ".safetensors":

        raw: object = load_file(str(path))
    else:
        try:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"DrivoR checkpoint {path}: cannot be read with torch.load(weights_only=True) ({exc}); "
                "expected a Lightning checkpoint or a state dict of tensors"
            ) from exc
    if isinstance(raw, Mapping) and "state_dict" in raw:
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ValueError(f"DrivoR checkpoint {path}: expected a 'state_dict' mapping of tensors")
    return strip_prefix(raw)


def strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DrivoR's Lightning prefixes (``agent._drivor_model.`` / ``_drivor_model.``) from keys."""
    out = {}
    for key, value in state_dict.items():
        for prefix in CHECKPOINT_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        out[key] = value
    return out


def _listing(name: str, items: list[str], limit: int = 30) -> str:
    if not items:
        return ""
    shown = ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")
    return f"\n  {name} ({len(items)}): {shown}"


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """Check keys and shapes, then ``model.load_state_dict(strict=True)``.

    Raises:
        CheckpointError: listing missing, unexpected and mis-shaped keys.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k} {tuple(v.shape)} (model {tuple(own[k].shape)})"
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        hint = ""
        if any(s.startswith("image_backbone.model.lora_vit.pos_embed") for s in shapes):
            hint = (
                "\n  hint: pos_embed depends on image_size; build the model with the checkpoint's image_size"
            )
        raise CheckpointError(
            f"{source} does not match the DrivoR model"
            + _listing("missing keys", missing)
            + _listing("unexpected keys", unexpected)
            + _listing("shape mismatches", shapes)
            + hint
        )
    model.load_state_dict(dict(state_dict), strict=True)
