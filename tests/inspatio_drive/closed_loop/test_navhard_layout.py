"""Second-stage follow-ups in navhard's layout (issue #20): a follow-up of golden scene C written by the project's
one synthetic-scene writer keeps its four history frames in ``frames`` and its future as
``extended_detections_tracks`` / ``extended_traffic_light_data``, pickled under the nuplan class names.

* read back through the restricted reader, it serves the same future (objects, lights, EPDMS metric cache) as the
  follow-up in the layout this project wrote before (future frames inside ``frames``), which still loads;
* loaded "as navsim would" (plain ``pickle.load`` with fake nuplan classes installed under nuplan's module paths,
  tests/inspatio_drive/fake_nuplan.py), it builds nuplan objects with the attributes navsim reads;
* the nuplan records pickle byte for byte as the (fake) nuplan objects they stand for;
* the restricted reader still refuses a file that names a nuplan module path with a callable it does not allow.
"""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import fake_nuplan as fn
import numpy as np
import pytest

from inspatio_drive.closed_loop.counterfactual import (
    Perturbation,
    counterfactual_scene,
    write_synthetic_scene,
)
from inspatio_drive.closed_loop.second_stage import HISTORY, follow_up_scenes
from inspatio_drive.data import SceneFilter, SceneLoader, UnsafePickleError
from inspatio_drive.data.nuplan_records import (
    detections_tracks_record,
    dump_with_nuplan_records,
    nuplan_class,
    traffic_light_statuses_record,
)
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.data.types import Scene, TrackedObjects, TrafficLightStatus, TrafficLightStatusType
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.cache.scene_input import detections_at, detections_of_frame, traffic_lights_at

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "epdms"
FUTURE = 8
START = Perturbation("navhard-layout-test", lateral_m=0.7, heading_deg=-4.0, speed_factor=1.1)


def _no_nuplan() -> bool:
    return not any(m == "nuplan" or m.startswith("nuplan.") for m in sys.modules)


@pytest.fixture(scope="module")
def window() -> Scene:
    """Frames 0 … 12 of golden scene C's log window: 5 history frames (current: the main scene's frame 4) and 8
    future frames — the window a follow-up and its companion are cut from."""
    main = json.loads((GOLDEN / "scene_c" / "candidates.json").read_text())["main_token"]
    full = SceneLoader(GOLDEN / "navsim_logs" / "golden_c", None, SceneFilter(frame_interval=1), show_progress=False)
    current = full.get_scene_from_token(main).frames[4].token
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_c", None, SceneFilter(
        num_history_frames=HISTORY + 1, num_future_frames=FUTURE, frame_interval=1), show_progress=False)
    return loader.get_scene_from_token(current)


@pytest.fixture(scope="module")
def written(window, tmp_path_factory) -> tuple[Path, Path]:
    """(navhard layout, the layout written before) of the same follow-up."""
    out = tmp_path_factory.mktemp("navhard_layout")
    fu = follow_up_scenes(window, START, FUTURE, render_fn=None, lidar="none")
    assert _no_nuplan()
    new = write_synthetic_scene(fu.now, None, out / "new", ("orig-final", "orig"))
    # before: the follow-up's frames 1 … 12 of the perturbed window, the future inside `frames`, no extended steps
    moved = counterfactual_scene(window, START, None, token_length=17)
    meta = replace(fu.now.scene_metadata, num_future_frames=FUTURE)
    old = write_synthetic_scene(Scene(meta, moved.frames[1:1 + HISTORY + FUTURE]), None, out / "old",
                                ("orig-final", "orig"))
    assert _no_nuplan()  # writing imported no nuplan module
    return new, old


def test_follow_up_is_written_in_navhard_layout_and_serves_the_logged_future(window, written):
    new, _ = written
    scene = read_synthetic_scene(new, load_images=False)
    assert _no_nuplan()
    meta = scene.scene_metadata
    assert (meta.num_history_frames, meta.num_future_frames, len(scene.frames)) == (HISTORY, 0, HISTORY)
    assert scene.is_synthetic and scene.frames[3].token == meta.initial_token
    assert len(scene.extended_detections) == len(scene.extended_traffic_lights) == FUTURE
    for k in range(FUTURE):
        logged = window.frames[HISTORY + 1 + k]  # the follow-up's frame 4 + k: frame 5 + k of the window
        got, want = detections_at(scene, HISTORY + k), detections_of_frame(logged)
        assert got.tokens == want.tokens and got.types == want.types and len(want.tokens) > 0
        for field in ("centers", "headings", "sizes", "velocities", "is_agent"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
        assert traffic_lights_at(scene, HISTORY + k) == list(logged.traffic_lights)
        assert (scene.extended_detections[k].timestamps_us == logged.timestamp).all()
        assert scene.timestamp_at(HISTORY + k) == logged.timestamp
    assert any(red for f in window.frames[HISTORY + 1:] for _, red in f.traffic_lights)  # red lights are carried


def test_layout_written_before_still_loads_with_the_same_future_and_metric_cache(written):
    new, old = (read_synthetic_scene(p, load_images=False) for p in written)
    assert len(old.frames) == HISTORY + FUTURE and old.extended_detections is None
    for k in range(HISTORY - 1, HISTORY + FUTURE):
        a, b = detections_at(new, k), detections_at(old, k)
        assert a.tokens == b.tokens and a.types == b.types
        np.testing.assert_allclose(a.centers, b.centers, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.cos(a.headings - b.headings), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.velocities, b.velocities, rtol=0, atol=1e-6)  # the old frames hold float32
        assert traffic_lights_at(new, k) == traffic_lights_at(old, k)
    golden_map = load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")
    a, b = build_epdms_cache(new, golden_map), build_epdms_cache(old, golden_map)
    assert a.human_trajectory is None and b.human_trajectory is None
    assert a.base.observation.tokens == b.base.observation.tokens
    np.testing.assert_allclose(a.base.observation.corners, b.base.observation.corners, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(a.red_lights.active, b.red_lights.active)
    assert a.red_lights.tokens == b.red_lights.tokens and a.red_lights.active.any()
    np.testing.assert_array_equal(a.base.trajectory_states, b.base.trajectory_states)


def test_loads_as_navsim_would_with_nuplan_classes(window, written):
    new, _ = written
    with fn.nuplan_modules(), open(new, "rb") as fh:
        raw = pickle.load(fh)  # the plain unpickler: it imports nuplan.* (the fake classes) and builds their objects
    assert _no_nuplan()
    assert len(raw["frames"]) == HISTORY and raw["scene_metadata"]["num_future_frames"] == 0
    assert all(set(f["camera_dict"]) == {"cam_f0", "cam_l0", "cam_l1", "cam_l2", "cam_r0", "cam_r1", "cam_r2", "cam_b0"}
               for f in raw["frames"])
    for k, (tracks, lights) in enumerate(zip(raw["extended_detections_tracks"], raw["extended_traffic_light_data"],
                                             strict=True)):
        logged = window.frames[HISTORY + 1 + k]
        assert isinstance(tracks, fn.DetectionsTracks) and isinstance(tracks.tracked_objects, fn.TrackedObjects)
        rows = fn.global_rows(logged)  # navsim's annotations_to_detection_tracks, written out in the test module
        rows = [rows[i] for i in np.argsort([fn.BY_NAME[r["type"]].value for r in rows], kind="stable")]
        objects = tracks.tracked_objects.tracked_objects
        assert len(objects) == len(rows) > 0
        for obj, r in zip(objects, rows, strict=True):
            agent = r["type"] in ("vehicle", "pedestrian", "bicycle", "ego")
            assert isinstance(obj, fn.Agent if agent else fn.StaticObject)
            assert obj.tracked_object_type is fn.BY_NAME[r["type"]]
            assert obj.track_token == r["track_token"] and obj.token == r["token"]
            assert isinstance(obj.box, fn.OrientedBox) and isinstance(obj.box.center, fn.StateSE2)
            assert (obj.box.center.x, obj.box.center.y) == pytest.approx((r["x"], r["y"]), abs=1e-9)
            assert obj.box.center.heading == pytest.approx(r["heading"], abs=1e-12)
            assert (obj.box.length, obj.box.width, obj.box.height) == (r["length"], r["width"], r["height"])
            assert obj.metadata.timestamp_us == logged.timestamp and obj.instance_token is None
            velocity = obj.velocity
            assert isinstance(velocity, fn.StateVector2D)
            want = (r["vx"], r["vy"]) if agent else (0.0, 0.0)
            assert (velocity.x, velocity.y) == pytest.approx(want, abs=1e-9)
            np.testing.assert_array_equal(velocity._array, [velocity.x, velocity.y])
            if agent:
                assert isinstance(obj._initial_time_stamp, fn.TimePoint) and obj._predictions == []
        assert isinstance(lights, fn.TrafficLightStatuses)
        got = [(x.lane_connector_id, x.status, x.timestamp) for x in lights.traffic_lights]
        assert all(isinstance(x, fn.TrafficLightStatusData) for x in lights.traffic_lights)
        assert got == [(lane, fn.TrafficLightStatusType.RED if red else fn.TrafficLightStatusType.GREEN,
                        logged.timestamp) for lane, red in logged.traffic_lights]


def test_records_pickle_byte_for_byte_as_the_nuplan_objects():
    rows = [{"type": t, "x": 1.5 * i, "y": -2.0 + i, "heading": 0.3 - i, "length": 4.0, "width": 2.0 - 0.1 * i,
             "height": 1.5, "vx": 0.5 * i, "vy": -0.25, "token": f"inst{i}", "track_token": f"track{i}",
             "timestamp_us": 1_000_000 + i}
            for i, t in enumerate(["pedestrian", "traffic_cone", "vehicle", "generic_object", "bicycle", "ego",
                                   "barrier", "czone_sign", "vehicle"])]
    agent = np.array([r["type"] in ("vehicle", "pedestrian", "bicycle", "ego") for r in rows])
    objects = TrackedObjects(
        tokens=[r["token"] for r in rows], track_tokens=[r["track_token"] for r in rows], types=[r["type"] for r in rows],
        centers=np.array([[r["x"], r["y"]] for r in rows]), headings=np.array([r["heading"] for r in rows]),
        sizes=np.array([[r["length"], r["width"], r["height"]] for r in rows]),
        velocities=np.array([[r["vx"], r["vy"]] for r in rows]) * agent[:, None], is_agent=agent,
        timestamps_us=np.array([r["timestamp_us"] for r in rows]))
    lights = [(7, 2), (8, 0), (9, 1), (10, 3)]
    ours = dump_with_nuplan_records([detections_tracks_record(objects), traffic_light_statuses_record(
        [TrafficLightStatus(lane, TrafficLightStatusType(s), 5) for lane, s in lights])])
    with fn.nuplan_modules():
        theirs = pickle.dumps([fn.detections_tracks(rows), fn.traffic_light_statuses(lights, 5)], protocol=4)
    assert _no_nuplan()
    assert ours == theirs


def test_a_nuplan_path_naming_another_callable_is_refused(written, tmp_path):
    new, _ = written
    with open(new, "rb") as fh:
        data = fh.read()
    assert b"nuplan.common.actor_state.agent" in data  # the classes are named by their nuplan module paths
    marker = tmp_path / "ran"
    member = nuplan_class("system", enum=True, module="nuplan.common.actor_state.agent")(0)  # pickles as Class(value)
    member.value = f"touch {marker}"
    payload = {"scene_metadata": {}, "frames": [], "extended_traffic_light_data": None,
               "extended_detections_tracks": [member]}
    path = tmp_path / "hostile.pkl"
    path.write_bytes(dump_with_nuplan_records(payload))
    with pytest.raises(UnsafePickleError, match=r"hostile\.pkl: refusing to load global 'nuplan\.common\.actor_state\.agent\.system'"):
        read_synthetic_scene(path, load_images=False)
    assert not marker.exists()
