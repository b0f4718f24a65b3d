"""LoRA fine-tuning of the DiT through ``peft`` (optional extra ``train``: ``pip install 'inspatio-drive[train]'``).

Adapters are injected into the named ``nn.Linear`` modules of every transformer block
(``peft.inject_adapter_in_model``); the base weights are frozen. :func:`merged_state_dict` folds the adapters
back (``W + (alpha / r)·B·A``) and returns the plain DiT state dict, so a LoRA run exports the usual checkpoint.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

DEFAULT_TARGETS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
                   "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2")
"""Module-name suffixes of the transformer blocks that get adapters (attention projections and the FFN)."""


def _peft() -> Any:
    try:
        import peft  # lazy: optional extra 'train'
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "LoRA needs the 'peft' package: pip install 'inspatio-drive[train]' (or pip install peft), "
            "or train.lora.enabled=false for full fine-tuning"
        ) from exc
    return peft


def target_module_names(model: nn.Module, targets: Sequence[str] = DEFAULT_TARGETS) -> list[str]:
    """Full names of the ``nn.Linear`` modules inside ``blocks.*`` whose name ends with one of ``targets``."""
    names = [n for n, m in model.named_modules()
             if isinstance(m, nn.Linear) and n.startswith("blocks.") and any(n.endswith("." + t) for t in targets)]
    if not names:
        raise ValueError(f"no nn.Linear in the DiT blocks matches the LoRA targets {list(targets)}")
    return names


def apply_lora(
    model: nn.Module, rank: int, alpha: float, targets: Sequence[str] = DEFAULT_TARGETS, dropout: float = 0.0
) -> nn.Module:
    """Inject LoRA adapters in place and freeze everything else; returns ``model``."""
    peft = _peft()
    if rank < 1:
        raise ValueError(f"train.lora.rank must be >= 1, got {rank}")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                             target_modules=target_module_names(model, targets))
    model = peft.inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    return model


def has_lora(model: nn.Module) -> bool:
    return any("lora_" in n for n, _ in model.named_parameters())


def lora_parameter_count(model: nn.Module, rank: int, targets: Sequence[str] = DEFAULT_TARGETS) -> int:
    """Analytic adapter size: ``rank · (in + out)`` per targeted Linear (A is r×in, B is out×r)."""
    return sum(rank * (m.in_features + m.out_features)
               for n, m in model.named_modules() if n in set(target_module_names(model, targets)))


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The plain DiT state dict of a (possibly LoRA-injected) model: adapters merged into the base weights."""
    if not has_lora(model):
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    peft = _peft()
    merged = copy.deepcopy(model)
    for module in merged.modules():
        if isinstance(module, peft.tuners.lora.LoraLayer):
            module.merge()
    out = {}
    for k, v in merged.state_dict().items():
        if "lora_" in k:
            continue
        out[k.replace(".base_layer.", ".")] = v.detach().clone()
    return out
