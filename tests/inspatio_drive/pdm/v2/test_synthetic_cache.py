"""The EPDMS metric cache of a navsim synthetic (second-stage) scene: frames past the scene come from its
``extended_*`` steps (navsim ``NavSimScenario``). Golden scene C's first four frames are written as a navsim
synthetic scene pickle (fake nuplan classes, tests/inspatio_drive/fake_nuplan.py) whose extended steps hold the
next eight frames' objects made global and their traffic lights: its cache must see the same world as the cache
of the original scene, with scene type SYNTHETIC and no human trajectory."""

from __future__ import annotations

import json
from pathlib import Path

import fake_nuplan as fn
import numpy as np
import pytest

from inspatio_drive.data import SceneFilter, SceneLoader
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.pdm.cache.epdms import build_epdms_cache, red_lights_of_scene
from inspatio_drive.pdm.cache.scene_input import detections_at, traffic_lights_at
from inspatio_drive.pdm.v2.cache import ORIGINAL, SYNTHETIC

GOLDEN = Path(__file__).resolve().parents[3] / "data" / "golden" / "epdms"
TOKEN = "5421fa2f2e2b4cb13"  # 17 characters: synthetic by navsim's rule


@pytest.fixture(scope="module")
def scene_c():
    cand = json.loads((GOLDEN / "scene_c" / "candidates.json").read_text())
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_c", None, SceneFilter(frame_interval=1), show_progress=False)
    return loader.get_scene_from_token(cand["main_token"])


def _synthetic(scene, tmp_path, name="s", **kw):
    payload = fn.synthetic_payload(scene, TOKEN, 4, 8, original_final=scene.frames[11].token, **kw)
    return read_synthetic_scene(fn.write_pickle(tmp_path / f"{name}.pkl", payload), load_images=False)


def test_epdms_cache_of_a_synthetic_scene_sees_the_extended_world(scene_c, golden_map, tmp_path):
    synthetic = _synthetic(scene_c, tmp_path)
    assert len(synthetic.frames) == 4 and synthetic.extended_detections is not None
    original = build_epdms_cache(scene_c, golden_map)
    cache = build_epdms_cache(synthetic, golden_map)
    assert (original.scene_type, cache.scene_type) == (ORIGINAL, SYNTHETIC)
    assert original.human_trajectory is not None and cache.human_trajectory is None
    assert cache.base.token == TOKEN
    # the 41-step observation (t0 … 4 s) interpolated from the extended steps = the one from the logged frames
    obs, ref = cache.base.observation, original.base.observation
    assert obs.tokens == ref.tokens and obs.types == ref.types and len(obs.tokens) > 0
    np.testing.assert_allclose(obs.corners, ref.corners, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.isnan(obs.corners), np.isnan(ref.corners))
    # red lights of the route over 41 steps from the extended lights (RED = the logged is_red)
    assert cache.red_lights.tokens == original.red_lights.tokens and original.red_lights.active.sum() == 41
    np.testing.assert_array_equal(cache.red_lights.active, original.red_lights.active)
    np.testing.assert_array_equal(cache.base.trajectory_states, original.base.trajectory_states)
    np.testing.assert_array_equal(cache.past_states, original.past_states)


def test_extended_lights_are_read_and_missing_steps_follow_navsim(scene_c, golden_map, tmp_path):
    # lights turned green after t0: only the current frame's red (held 5 steps) remains
    green = _synthetic(scene_c, tmp_path, "green", light_status={int(lc): 0 for lc, _ in scene_c.frames[4].traffic_lights})
    assert red_lights_of_scene(green, golden_map).active.sum() == 5
    assert all(not red for _, red in traffic_lights_at(green, 6)) and traffic_lights_at(green, 3) == scene_c.frames[3].traffic_lights
    # no extended lights at all: navsim serves none (no error); missing objects are an error
    green.extended_traffic_lights = None
    assert red_lights_of_scene(green, golden_map).active.sum() == 5 and traffic_lights_at(green, 12) == []
    green.extended_detections = green.extended_detections[:3]
    assert len(detections_at(green, 6)) == len(scene_c.frames[6].annotations.boxes)
    with pytest.raises(ValueError, match=rf"scene {TOKEN}: needs objects at frame 7, the scene has 4 frames and 3 extended steps"):
        build_epdms_cache(green, golden_map)
