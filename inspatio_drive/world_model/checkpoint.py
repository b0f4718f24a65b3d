"""Strict loading of InSpatio-World DiT checkpoints (``InSpatio-World-1.3B.safetensors``).

The official file stores the generator wrapper's state dict: every DiT tensor is prefixed ``model.``
(``model.blocks.0.self_attn.q.weight``...). We strip the prefix and load strictly into
:class:`~inspatio_drive.world_model.model.CausalWanDiT`, whose module names equal the official ones.
A missing key, an unexpected key or a wrong shape is an error naming the file and the keys.
Only safetensors files are read (no pickle).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import WanDiTConfig
from .model import CausalWanDiT

KEY_PREFIX = "model."
DEFAULT_CHECKPOINT = "InSpatio-World-1.3B.safetensors"
CHECKPOINT_ENV = "INSPATIO_CHECKPOINT_DIR"


def resolve_checkpoint(
    path: str | os.PathLike[str], search_dirs: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """Find a checkpoint file.

    ``path`` is used as is when it exists; otherwise its file name is looked up in ``search_dirs``, then in
    ``$INSPATIO_CHECKPOINT_DIR`` and ``./checkpoints``.

    Raises:
        FileNotFoundError: naming the file and every place it was looked for.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    dirs = [Path(d).expanduser() for d in search_dirs]
    if os.environ.get(CHECKPOINT_ENV):
        dirs.append(Path(os.environ[CHECKPOINT_ENV]).expanduser())
    dirs.append(Path("checkpoints"))
    tried = [p]
    for d in dirs:
        cand = d / p.name
        tried.append(cand)
        if cand.is_file():
            return cand
    where = "\n  ".join(str(t.resolve()) for t in tried)
    raise FileNotFoundError(
        f"InSpatio-World checkpoint {p.name!r} not found. Looked for:\n  {where}\n"
        f"Download it from the Hugging Face repo 'inspatio/world' and pass its path "
        f"(generator.checkpoint=...) or set ${CHECKPOINT_ENV}."
    )


def read_dit_state_dict(path: str | os.PathLike[str], prefix: str = KEY_PREFIX) -> dict[str, torch.Tensor]:
    """Read the DiT tensors of a generator checkpoint and strip ``prefix``.

    Raises:
        ValueError: if the file holds no key with ``prefix`` (e.g. an un-prefixed base Wan file).
    """
    out: dict[str, torch.Tensor] = {}
    other: list[str] = []
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            if key.startswith(prefix):
                out[key[len(prefix) :]] = f.get_tensor(key)
            else:
                other.append(key)
    if not out:
        raise ValueError(
            f"{path}: no tensor key starts with {prefix!r} (found e.g. {other[:3]}); expected an "
            "InSpatio-World generator checkpoint (keys like 'model.blocks.0.self_attn.q.weight')"
        )
    if other:
        raise ValueError(f"{path}: {len(other)} keys without the {prefix!r} prefix, e.g. {other[:5]}")
    return out


def _describe(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state_dict_strict(
    model: CausalWanDiT, state: dict[str, torch.Tensor], source: str = "state dict"
) -> None:
    """Load ``state`` into ``model`` with exact key and shape agreement (tensors are cast to the model dtype).

    Raises:
        ValueError: listing missing keys, unexpected keys and shape mismatches.
    """
    expected = model.state_dict()
    missing = expected.keys() - state.keys()
    unexpected = state.keys() - expected.keys()
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected.keys() & state.keys()
        if state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_describe(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_describe(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches: {'; '.join(wrong[:8])}")
        raise ValueError(f"{source} does not match the DiT config {model.config}:\n  " + "\n  ".join(parts))
    dtype = model.patch_embedding.weight.dtype
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)


def load_dit(
    path: str | os.PathLike[str],
    config: WanDiTConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    search_dirs: Sequence[str | os.PathLike[str]] = (),
) -> CausalWanDiT:
    """Build the DiT for ``config`` (default: InSpatio-World-1.3B) and load a checkpoint strictly.

    The module is created on the meta device, so no memory is spent on a random init.
    """
    file = resolve_checkpoint(path, search_dirs)
    config = config or WanDiTConfig.inspatio_1_3b()
    with torch.device("meta"):
        model = CausalWanDiT(config)
    model = model.to(dtype)
    state = {k: v.to(device=device, dtype=dtype) for k, v in read_dit_state_dict(file).items()}
    load_state_dict_strict(model, state, source=str(file))
    return model.eval()


def save_dit(
    path: str | os.PathLike[str],
    state: dict[str, torch.Tensor],
    dtype: torch.dtype | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a DiT state dict in the official generator format (``model.`` prefix, safetensors), readable by
    :func:`load_dit` / ``build_generator``; ``dtype`` casts floating tensors (e.g. float16 for small assets)."""

    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[KEY_PREFIX + k] = v.contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path), metadata=metadata or {})
    return path


def checkpoint_manifest(config: WanDiTConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the checkpoint for ``config``, with the ``model.`` prefix (built on the meta device)."""
    with torch.device("meta"):
        model = CausalWanDiT(config)
    return {KEY_PREFIX + k: tuple(v.shape) for k, v in model.state_dict().items()}
