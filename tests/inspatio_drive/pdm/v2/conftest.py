"""Golden NAVSIM v2.2 scenes A, C, D (tests/data/golden/epdms): EPDMS caches built from the logs + GPKG map."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspatio_drive.data import SceneLoader
from inspatio_drive.data.filters import SceneFilter
from inspatio_drive.maps import MapAPI, load_map
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.v2.cache import EPDMSCache

GOLDEN = Path(__file__).resolve().parents[3] / "data" / "golden" / "epdms"
SCENES = ("a", "c", "d")


@dataclass
class GoldenV2:
    name: str
    main: EPDMSCache
    prev: EPDMSCache
    loader: SceneLoader
    meta: dict[str, Any]
    candidates: dict[str, Any]
    results: dict[str, dict[str, Any]]  # by candidate name
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.candidates["candidates"]]

    @property
    def poses(self) -> np.ndarray:
        return np.array([c["poses_local_xyh"] for c in self.candidates["candidates"]], dtype=np.float64)


@pytest.fixture(scope="session")
def golden_map() -> MapAPI:
    return load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")


def load_golden(name: str, map_api: MapAPI) -> GoldenV2:
    d = GOLDEN / f"scene_{name}"
    loader = SceneLoader(
        GOLDEN / "navsim_logs" / f"golden_{name}", None, SceneFilter(frame_interval=1), show_progress=False
    )
    cand = json.loads((d / "candidates.json").read_text())
    res = json.loads((d / "results.json").read_text())
    with np.load(d / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return GoldenV2(
        name=name,
        main=build_epdms_cache(loader.get_scene_from_token(cand["main_token"]), map_api),
        prev=build_epdms_cache(loader.get_scene_from_token(cand["prev_token"]), map_api),
        loader=loader,
        meta=json.loads((d / "metric_cache.json").read_text()),
        candidates=cand,
        results={r["name"]: r for r in res["results"]},
        config=res["config"],
        arrays=arrays,
    )


@pytest.fixture(scope="session", params=SCENES)
def golden(request: pytest.FixtureRequest, golden_map: MapAPI) -> GoldenV2:
    return load_golden(request.param, golden_map)
