"""Shared fixtures: the tiny golden InSpatio-World run (tests/data/golden/inspatio_tiny)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from wm_golden import GOLDEN

from inspatio_drive.world_model.checkpoint import load_dit
from inspatio_drive.world_model.config import WanDiTConfig
from inspatio_drive.world_model.model import CausalWanDiT


@pytest.fixture(scope="session")
def golden() -> dict[str, torch.Tensor]:
    return load_file(GOLDEN / "golden.safetensors")


@pytest.fixture(scope="session")
def golden_f64() -> dict[str, torch.Tensor]:
    return load_file(GOLDEN / "golden_f64_ref.safetensors")


@pytest.fixture(scope="session")
def tiny_model() -> CausalWanDiT:
    torch.set_num_threads(1)
    return load_dit(GOLDEN / "tiny_weights.safetensors", WanDiTConfig.tiny())
