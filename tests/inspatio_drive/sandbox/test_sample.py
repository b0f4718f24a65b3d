"""The bundled sample: present, small, loadable, and regenerated identically from its seed."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig, safe_load
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from inspatio_drive.maps import load_map
from inspatio_drive.sandbox.oracle import load_world
from inspatio_drive.sandbox.sample import SAMPLE_CONFIG, SAMPLE_SCENARIOS
from inspatio_drive.sandbox.writer import frame_dicts


@pytest.fixture(scope="module")
def root():
    return sample_root()


def test_sample_is_small_and_complete(root):
    files = [p for p in root.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 15 * 2**20
    logs = sorted((root / "navsim_logs" / SAMPLE_SPLIT).glob("*.pkl"))
    assert len(logs) == len(SAMPLE_SCENARIOS)


def test_sample_loads_as_navsim_scenes(root):
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT,
                         SceneFilter(), SensorConfig.build_all_sensors(include=[3]), show_progress=False)
    assert len(loader.tokens) == len(SAMPLE_SCENARIOS)  # one 14-frame navsim scene per log
    scene = loader.get_scene_from_token(loader.tokens[0])
    assert len(scene.frames) == 14
    agent_input = loader.get_agent_input_from_token(loader.tokens[0])
    assert agent_input.cameras[-1]["CAM_F0"].image.shape == (SAMPLE_CONFIG.height, SAMPLE_CONFIG.width, 3)
    m = load_map(root / "maps", scene.scene_metadata.map_name)
    assert m.get_roadblock(scene.frames[3].roadblock_ids[0]) is not None


@pytest.mark.parametrize("index", range(len(SAMPLE_SCENARIOS)))
def test_regenerating_the_sample_gives_identical_logs(root, index):
    log = sorted((root / "navsim_logs" / SAMPLE_SPLIT).glob("*.pkl"))[index]
    shipped = safe_load(log)
    world, config = load_world(root / "sensor_blobs" / SAMPLE_SPLIT / log.stem)
    regenerated = frame_dicts(world, config)
    assert len(shipped) == len(regenerated)
    for a, b in zip(shipped, regenerated):
        assert a.keys() == b.keys()
        for key in a:
            if key in ("cams", "anns"):
                assert a[key].keys() == b[key].keys()
                for sub in a[key]:
                    _equal(a[key][sub], b[key][sub])
            else:
                _equal(a[key], b[key])


def _equal(x, y):
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _equal(x[k], y[k])
    elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    else:
        assert x == y


def test_logged_human_drives_cleanly_under_the_pdm_score(root):
    """Map, route, annotations and ego track are consistent: the project's PDM scorer (NAVSIM v1.1
    semantics) finds no collision and no drivable-area violation for the logged human future."""
    from inspatio_drive.pdm.cache.builder import build_metric_cache
    from inspatio_drive.pdm.scorer import score_candidates

    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, None, SceneFilter(), show_progress=False)
    for tok in loader.tokens:
        scene = loader.get_scene_from_token(tok)
        cache = build_metric_cache(scene, load_map(root / "maps", scene.scene_metadata.map_name))
        human = scene.get_future_trajectory(8)
        res = score_candidates(cache, np.stack([human, np.zeros_like(human)]))
        assert res.no_at_fault_collisions[0] == 1.0 and res.drivable_area_compliance[0] == 1.0
        assert res.score[0] > 0.7 and res.ego_progress[0] > res.ego_progress[1]
