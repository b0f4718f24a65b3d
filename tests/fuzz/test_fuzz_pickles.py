"""Fuzz the pickle readers: OpenScene logs (``read_log``, ``SceneLoader``), navsim v2 synthetic scene pickles
(``read_synthetic_scene``), hostile pickles, and the metric-cache store's read side (``MetricCacheStore``).

Each example: the reader returns or raises a documented error (one line, naming the file); nothing runs
(sentinel, ``os.system``, ``subprocess``) and nothing is written (see ``fuzz_harness.guard``).
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import sys
from pathlib import Path

import pytest
from fuzz_harness import (
    FUZZ,
    GOLDEN,
    JSON,
    ODD,
    check,
    guard,
    hostile,
    leaf_paths,
    mutate_bytes,
    set_path,
    slot,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.contracts.errors import InputFormatError
from inspatio_drive.data import SceneLoader, read_log
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.pdm.cache.storage import MetricCacheStore
from inspatio_drive.pdm.golden import load_golden_scene

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("error::RuntimeWarning")]  # no silent NaN / cast

LOG = GOLDEN / "navsim_logs" / "golden_a" / "2021.01.01.00.00.00_veh-00_golden_a.pkl"

LOG_FRAMES = pickle.loads(LOG.read_bytes())  # trusted golden data
LOG_PATHS = leaf_paths(LOG_FRAMES[3])
LOG_ERRORS = (InputFormatError,)  # LogFormatError, CorruptPickleError, UnsafePickleError


def _read_whole_split(folder: Path) -> None:
    read_log(next(folder.glob("*.pkl")))
    loader = SceneLoader(folder, None, show_progress=False)
    for token in loader.tokens:
        loader.get_scene_from_token(token)
        loader.get_agent_input_from_token(token)


# ------------------------------------------------------------------------------------------------ log pickles
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_log_pickles_structured(workdir, data):
    frames = pickle.loads(LOG.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(frames) - 1))
        path = data.draw(st.sampled_from(LOG_PATHS))
        try:
            set_path(frames[index], path, data.draw(ODD))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation changed the shape of the frame
    folder = slot(workdir, "logs")
    target = folder / LOG.name
    target.write_bytes(pickle.dumps(frames, protocol=data.draw(st.sampled_from([2, 4, 5]))))
    check(lambda: _read_whole_split(folder), target, LOG_ERRORS)


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_log_pickles_bytes(workdir, data):
    raw = LOG.read_bytes() if data.draw(st.booleans()) else pickle.dumps(LOG_FRAMES[:5], protocol=2)
    folder = slot(workdir, "logs")
    target = folder / LOG.name
    target.write_bytes(mutate_bytes(raw, data.draw) if data.draw(st.integers(0, 5)) else data.draw(st.binary(max_size=200)))
    check(lambda: _read_whole_split(folder), target, LOG_ERRORS)


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_hostile_pickles_run_nothing(workdir, data):
    folder = slot(workdir, "hostile")
    frames = pickle.loads(LOG.read_bytes())[:5]
    payload = hostile(data.draw, folder)
    where = data.draw(st.sampled_from(["top", "frame", "field"]))
    obj = payload if where == "top" else frames
    if where == "frame":
        frames[data.draw(st.integers(0, 4))] = payload
    elif where == "field":
        set_path(frames[data.draw(st.integers(0, 4))], data.draw(st.sampled_from(LOG_PATHS[:40])), payload)
    target = folder / "evil.pkl"
    target.write_bytes(pickle.dumps(obj, protocol=data.draw(st.sampled_from([0, 2, 4, 5]))))
    check(lambda: read_log(target), target, LOG_ERRORS)
    with pytest.raises(InputFormatError):  # refused, never "read"
        with guard(folder):
            read_log(target)
    scene = folder / "scene.pkl"
    scene.write_bytes(pickle.dumps({"scene_metadata": payload, "frames": []}, protocol=4))
    with pytest.raises(InputFormatError):
        with guard(folder):
            read_synthetic_scene(scene, load_images=False)


# ------------------------------------------------------------------------------------------------ synthetic scenes
# navsim's scene layout and its extended steps (pickled nuplan objects): the fake nuplan module of the room tests
_SPEC = importlib.util.spec_from_file_location(
    "fuzz_fake_nuplan", Path(__file__).resolve().parents[1] / "inspatio_drive" / "fake_nuplan.py")
fn = sys.modules.setdefault("fuzz_fake_nuplan", importlib.util.module_from_spec(_SPEC))
_SPEC.loader.exec_module(fn)


def _scene_payload():
    return fn.scene_payload(num_future_frames=1)


SCENE_PATHS = leaf_paths(_scene_payload())

_ROW = {"type": "vehicle", "x": 1.0, "y": 2.0, "heading": 0.5, "length": 4.5, "width": 1.9, "height": 1.6, "vx": 3.0,
        "vy": 0.0, "token": "i", "track_token": "t", "timestamp_us": 1}
_NUPLAN_EDITS = (  # (what, setter) on the nuplan objects before pickling: one field made odd
    lambda d, lt, v: setattr(d.tracked_objects.tracked_objects[0]._box._center, "x", v),
    lambda d, lt, v: setattr(d.tracked_objects.tracked_objects[0]._box, "_length", v),
    lambda d, lt, v: setattr(d.tracked_objects.tracked_objects[1], "_tracked_object_type", v),
    lambda d, lt, v: object.__setattr__(d.tracked_objects.tracked_objects[0]._metadata, "token", v),
    lambda d, lt, v: setattr(d.tracked_objects.tracked_objects[0], "_velocity", v),
    lambda d, lt, v: setattr(d.tracked_objects, "tracked_objects", v),
    lambda d, lt, v: setattr(d, "tracked_objects", v),
    lambda d, lt, v: setattr(lt.traffic_lights[0], "status", v),
    lambda d, lt, v: setattr(lt.traffic_lights[0], "lane_connector_id", v),
    lambda d, lt, v: setattr(lt, "traffic_lights", v),
)


def _nuplan_payload(draw=None):
    tracks = fn.detections_tracks([_ROW, {**_ROW, "type": "barrier", "track_token": "u"}], cache=True)
    lights = fn.traffic_light_statuses([(5, 2), (6, 0)], 1)
    if draw is not None:
        draw(st.sampled_from(_NUPLAN_EDITS))(tracks, lights, draw(ODD))
    return {**_scene_payload(), "extended_traffic_light_data": [lights], "extended_detections_tracks": [tracks]}


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_synthetic_scene_nuplan_objects(workdir, data):
    """Extended steps of nuplan objects (allow-listed stand-ins): odd fields or corrupt bytes → only the readers'
    errors, nothing run."""
    folder = slot(workdir, "nuplan")
    target = folder / "scene.pkl"
    structured = data.draw(st.booleans())
    fn.write_pickle(target, _nuplan_payload(data.draw if structured else None))
    if not structured:
        target.write_bytes(mutate_bytes(target.read_bytes(), data.draw))
    check(lambda: read_synthetic_scene(target, load_images=False), target, (InputFormatError,))


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_synthetic_scene_pickles(workdir, data):
    folder = slot(workdir, "scenes")
    target = folder / "scene.pkl"
    payload = _scene_payload()
    if data.draw(st.integers(0, 3)):
        for _ in range(data.draw(st.integers(1, 3))):
            try:
                set_path(payload, data.draw(st.sampled_from(SCENE_PATHS)), data.draw(ODD))
            except (KeyError, IndexError, TypeError):
                pass
        target.write_bytes(pickle.dumps(payload, protocol=4))
    else:
        target.write_bytes(mutate_bytes(pickle.dumps(payload, protocol=4), data.draw))
    check(lambda: read_synthetic_scene(target, load_images=False), target, (InputFormatError,))


# ------------------------------------------------------------------------------------------------ metric cache
@pytest.fixture(scope="module")
def cache_seed(workdir):
    store = MetricCacheStore.open(workdir / "store_seed")
    store.save(load_golden_scene(GOLDEN / "scene_c").cache)
    store.write_manifest()
    return workdir / "store_seed"


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_metric_cache_store_read_side(workdir, cache_seed, data):
    folder = workdir / "store"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(cache_seed, folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from(files))
    if victim.suffix == ".json" and data.draw(st.booleans()):
        doc = json.loads(victim.read_text())
        key = data.draw(st.sampled_from(sorted(doc)))
        doc[key] = data.draw(JSON)
        victim.write_text(json.dumps(doc))
    else:
        victim.write_bytes(mutate_bytes(victim.read_bytes(), data.draw))

    def read():
        store = MetricCacheStore.open(folder, create=False)
        for token in list(store.entries):
            store.load(token)

    with guard(victim.parent), guard(folder):
        try:
            read()
        except Exception as exc:
            message = str(exc)
            assert isinstance(exc, (InputFormatError, ValueError, FileNotFoundError, KeyError)), (
                f"undocumented {type(exc).__name__}: {message!r}")
            assert "\n" not in message and str(folder) in message, f"{type(exc).__name__}: {message!r}"
