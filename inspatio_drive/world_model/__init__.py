"""InSpatio-World STAR generator: the causal Wan2.1-1.3B DiT, its 4-step sampler and block-wise rollout.

Main entry points (imported lazily, so ``import inspatio_drive.world_model`` stays light)::

    from inspatio_drive.world_model import InSpatioGenerator, GeometricGenerator, build_generator, load_dit
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InSpatioGenerator": "generator",
    "GeometricGenerator": "generator",
    "GeneratedBlock": "generator",
    "condition_from_render_batch": "generator",
    "build_generator": "factory",
    "load_dit": "checkpoint",
    "CausalWanDiT": "model",
    "WanDiTConfig": "config",
    "DistilledSampler": "scheduler",
    "causal_rollout": "rollout",
    "estimate_memory": "memory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
