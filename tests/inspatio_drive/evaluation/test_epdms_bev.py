"""The evaluation's BEV with ``metric=epdms`` (golden scene C: a red light, candidates that run it, one that
creeps off the lane): red-light connectors drawn, the crossing of every TLC = 0 candidate and the lane-keeping
failure of every LK = 0 candidate marked, and the PNG differs from the plain PDMS BEV."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from inspatio_drive.data import SceneLoader
from inspatio_drive.data.filters import SceneFilter
from inspatio_drive.evaluation.artefacts import bev_png
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.v2 import score_epdms

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "epdms"


def test_red_light_crossing_and_lane_keeping_failure_are_drawn():
    cand = json.loads((GOLDEN / "scene_c" / "candidates.json").read_text())
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_c", None, SceneFilter(frame_interval=1), show_progress=False)
    cache = build_epdms_cache(loader.get_scene_from_token(cand["main_token"]),
                              load_map(GOLDEN / "maps", "us-nv-las-vegas-strip"))
    names = [c["name"] for c in cand["candidates"]]
    poses = np.array([c["poses_local_xyh"] for c in cand["candidates"]], dtype=np.float64)
    res = score_epdms(cache, poses, names=names)
    scores = np.asarray(res.score)
    png, drawn = bev_png(cache, poses, scores, 0, 0, "scene C by EPDMS", res)
    assert drawn["red_lights"]  # the red on-route connectors of the scene
    tlc0 = {names[k] for k in np.flatnonzero(res["traffic_light_compliance"] == 0)}
    assert {"run_red_light_fast", "run_red_light_slow"} <= tlc0
    assert {names[k] for k in drawn["red_light_crossings"]} == tlc0  # each crossing located at a red step
    assert all(0 <= t <= 40 for t in drawn["red_light_crossings"].values())
    assert [names[k] for k in drawn["lane_keeping_failures"]] == ["creep_offroad_right"]
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    plain, nothing = bev_png(cache.base, poses, scores, 0, 0, "scene C by EPDMS")
    assert nothing == {}
    plain_img = np.asarray(Image.open(io.BytesIO(plain)).convert("RGB")).astype(int)
    # strongly red pixels (filled connectors, crossing markers) appear only with the overlay
    def red(img):
        return int(((img[..., 0] > 200) & (img[..., 1] < 90) & (img[..., 2] < 90)).sum())
    assert red(image) > red(plain_img) + 50
