"""Fixtures: the golden NAVSIM scenes A and C as :class:`Scene` objects, and their map."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from pdm_cache_golden import GOLDEN, load_golden_scene_input

from inspatio_drive.maps import MapAPI, load_map


@pytest.fixture(scope="session")
def golden_map() -> MapAPI:
    return load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")


@pytest.fixture(scope="session", params=["a", "c"])
def golden(request: pytest.FixtureRequest) -> dict[str, Any]:
    name = request.param
    d = GOLDEN / f"scene_{name}"
    with np.load(d / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return {
        "name": name,
        "scene": load_golden_scene_input(name),
        "meta": json.loads((d / "metric_cache.json").read_text()),
        "arrays": arrays,
    }
