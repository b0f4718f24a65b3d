"""Shared fixtures: DrivoR golden data (official model, random weights) from tests/data/golden/drivor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "drivor"


def recipe_state_dict() -> dict[str, torch.Tensor]:
    """Rebuild the golden random weights (``weights_recipe.json``), keyed by checkpoint key."""
    recipe = json.loads((GOLDEN / "weights_recipe.json").read_text())
    out = {}
    for t in recipe["tensors"]:
        u = np.random.RandomState(t["seed"]).random_sample(int(np.prod(t["shape"])))
        w = (t["low"] + (t["high"] - t["low"]) * u).astype(np.float32).reshape(t["shape"])
        out[t["key"]] = torch.from_numpy(w)
    return out


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


@pytest.fixture(scope="session")
def golden_io() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(GOLDEN / "golden_io.safetensors"))


@pytest.fixture(scope="session")
def golden_ckpt_state() -> dict[str, torch.Tensor]:
    return recipe_state_dict()


@pytest.fixture(scope="session")
def golden_model(golden_ckpt_state):
    from planners.drivor.checkpoint import load_state_dict_strict, strip_prefix
    from planners.drivor.model import DrivoRConfig, DrivoRModel

    model = DrivoRModel(DrivoRConfig(image_size=(224, 126))).eval()
    load_state_dict_strict(model, strip_prefix(golden_ckpt_state))
    return model
