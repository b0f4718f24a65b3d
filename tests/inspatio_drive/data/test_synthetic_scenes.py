"""navsim v2 synthetic scene pickles (navhard's second stage): nuplan objects through the restricted unpickler,
the SceneLoader's second stage, and hostile files. The pickles are written in navsim's exact layout with fake
nuplan classes (tests/inspatio_drive/fake_nuplan.py) that are unregistered before anything is loaded."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import fake_nuplan as fn
import numpy as np
import pytest

from inspatio_drive.contracts.errors import LogFormatError
from inspatio_drive.data import SceneFilter, SceneLoader, UnsafePickleError, scene_loader_from_config
from inspatio_drive.data.synthetic import write_synthetic_split
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.data.types import TrafficLightStatusType


def _no_nuplan() -> bool:
    return not any(m == "nuplan" or m.startswith("nuplan.") for m in sys.modules)


def _navhard_filter(**kw) -> SceneFilter:
    base = {"num_history_frames": 4, "num_future_frames": 8, "frame_interval": 1, "has_route": True}
    return SceneFilter(**{**base, **kw})


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory):
    """Stage-one logs (2 logs × 20 frames) and four synthetic scenes continuing windows 0, 1, 2 of log 0 and
    window 0 of log 1; returns (split, synthetic folder, stage-one scenes by window, synthetic tokens)."""
    root = tmp_path_factory.mktemp("navhard")
    split = write_synthetic_split(root, num_logs=2, frames_per_log=20, sensors=False)
    plain = SceneLoader(split.data_path, None, _navhard_filter(), show_progress=False)
    folder = root / "navhard_two_stage" / "synthetic_scene_pickles"
    names = {"a": (0, 0), "b": (0, 1), "c": (0, 2), "d": (1, 0)}
    tokens, scenes = {}, {}
    for key, (log, window) in names.items():
        token = plain.get_tokens_list_per_log()[split.log_names[log]][window]
        scene = plain.get_scene_from_token(token)
        synthetic = f"{key}{'0' * 15}{window}"  # 17 characters, sorted a < b < c < d
        payload = fn.synthetic_payload(scene, synthetic, 4, 8, original_final=scene.frames[-1].token,
                                       light_status={50002: 1}, cache=(key == "a"))
        fn.write_pickle(folder / f"{synthetic}.pkl", payload)
        tokens[key], scenes[key] = synthetic, scene
    assert _no_nuplan()
    return split, folder, scenes, tokens


def test_reads_nuplan_objects_into_project_types(two_stage):
    _, folder, scenes, tokens = two_stage
    scene = read_synthetic_scene(folder / f"{tokens['a']}.pkl", load_images=False)
    assert _no_nuplan()  # loading imported no nuplan module
    original = scenes["a"]
    assert scene.is_synthetic and scene.frames[3].token == tokens["a"] and len(scene.frames) == 4
    meta = scene.scene_metadata
    assert meta.corresponding_original_scene == original.frames[-1].token
    assert meta.corresponding_original_initial_token == original.frames[3].token
    assert len(scene.extended_detections) == len(scene.extended_traffic_lights) == 8
    for k, step in enumerate(scene.extended_detections):
        frame = original.frames[4 + k]
        rows = fn.global_rows(frame)
        order = np.argsort([fn.BY_NAME[r["type"]].value for r in rows], kind="stable")  # nuplan sorts by type
        rows = [rows[i] for i in order]
        assert step.types == [r["type"] for r in rows] and step.track_tokens == [r["track_token"] for r in rows]
        np.testing.assert_array_equal(step.centers, [[r["x"], r["y"]] for r in rows])
        np.testing.assert_array_equal(step.headings, [r["heading"] for r in rows])
        np.testing.assert_array_equal(step.sizes, [[r["length"], r["width"], r["height"]] for r in rows])
        agent = np.array([r["type"] in ("vehicle", "pedestrian", "bicycle") for r in rows])
        np.testing.assert_array_equal(step.is_agent, agent)
        np.testing.assert_array_equal(step.velocities[agent], [[r["vx"], r["vy"]] for r, a in zip(rows, agent) if a])
        assert (step.timestamps_us == frame.timestamp).all()
        lights = scene.extended_traffic_lights[k]
        assert [(x.lane_connector_id, x.status, x.timestamp_us) for x in lights] == [
            (lc, TrafficLightStatusType.YELLOW, frame.timestamp) for lc, _ in frame.traffic_lights]
        assert not any(x.is_red for x in lights)  # yellow is not red
    assert scene.timestamp_at(5) == scene.frames[3].timestamp + 1_000_000


def test_loader_serves_the_second_stage_as_navsim(two_stage):
    split, folder, scenes, tokens = two_stage
    first = [scenes[k].frames[3].token for k in ("a", "b")]  # stage one: windows 0 and 1 of log 0
    loader = SceneLoader(split.data_path, None, _navhard_filter(
        tokens=first, include_synthetic_scenes=True, reactive_synthetic_initial_tokens=[tokens["a"], "zzz"],
        non_reactive_synthetic_initial_tokens=[tokens["b"]]), synthetic_scenes_path=folder, show_progress=False)
    # c and d continue scenes that are not loaded: left out (navsim matches the final frame tokens)
    assert loader.tokens == [*first, tokens["a"], tokens["b"]] and len(loader) == 4
    assert loader.tokens_stage_one == first and loader.synthetic_tokens == [tokens["a"], tokens["b"]]
    assert loader.reactive_tokens_stage_two == [tokens["a"]] and loader.non_reactive_tokens_stage_two == [tokens["b"]]
    assert loader.reactive_tokens == [*first, tokens["a"]] and loader.non_reactive_tokens == [*first, tokens["b"]]
    assert loader.get_tokens_list_per_log() == {split.log_names[0]: [*first, tokens["a"], tokens["b"]]}
    scene = loader.get_scene_from_token(tokens["a"])
    assert scene.is_synthetic and len(scene.extended_detections) == 8 and tokens["a"] in loader
    agent = loader.get_agent_input_from_token(tokens["a"])
    original = scenes["a"].get_agent_input()
    np.testing.assert_allclose(np.stack([s.ego_pose for s in agent.ego_statuses]),
                               np.stack([s.ego_pose for s in original.ego_statuses]), atol=1e-9)
    with pytest.raises(KeyError, match="is a synthetic scene"):
        loader.scene_ref(tokens["a"])
    assert _no_nuplan()


def test_synthetic_tokens_and_log_names_select(two_stage):
    split, folder, _scenes, tokens = two_stage
    kw = {"include_synthetic_scenes": True}
    # explicit synthetic tokens: loaded even though their original scene is not (navsim)
    loader = SceneLoader(split.data_path, None, _navhard_filter(max_scenes=1, synthetic_scene_tokens=[tokens["c"], tokens["d"]], **kw),
                         synthetic_scenes_path=folder, show_progress=False)
    assert loader.synthetic_tokens == [tokens["c"], tokens["d"]] and len(loader.tokens_stage_one) == 1
    loader = SceneLoader(split.data_path, None, _navhard_filter(log_names=[split.log_names[1]], **kw),
                         synthetic_scenes_path=folder, show_progress=False)
    assert loader.synthetic_tokens == [tokens["d"]]  # every window of log 1 loaded; d continues its window 0
    with pytest.raises(ValueError, match="synthetic_scenes_path is None"):
        SceneLoader(split.data_path, None, _navhard_filter(**kw), show_progress=False)
    with pytest.raises(FileNotFoundError, match="include_synthetic_scenes=false"):
        SceneLoader(split.data_path, None, _navhard_filter(**kw), synthetic_scenes_path=folder / "nope", show_progress=False)


def test_loader_from_config_finds_navsim_default_folder(two_stage):
    split, folder, _scenes, tokens = two_stage
    node = {"data_root": str(split.root), "split": "synthetic",
            "scene_filter": {"num_history_frames": 4, "num_future_frames": 8, "frame_interval": 1,
                             "include_synthetic_scenes": True, "log_names": [split.log_names[0]]}}
    with pytest.raises(FileNotFoundError, match=r"synthetic/synthetic_scene_pickles"):
        scene_loader_from_config(node, show_progress=False)
    loader = scene_loader_from_config({**node, "synthetic_scenes_path": str(folder)}, show_progress=False)
    assert loader.synthetic_tokens == [tokens[k] for k in "abc"]


# ---------------------------------------------------------------------------------------------- hostile files
class _Run:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _payload_with(two_stage, item) -> dict:
    _, _, scenes, _ = two_stage
    payload = fn.synthetic_payload(scenes["a"], "h" * 17, 4, 8, original_final="x")
    payload["extended_detections_tracks"][2] = item
    return payload


def test_hostile_reduce_runs_nothing(two_stage, tmp_path):
    marker = tmp_path / "ran"
    path = fn.write_pickle(tmp_path / "evil.pkl", _payload_with(two_stage, _Run(marker)))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl: refusing to load global '(posix|os|nt)\.system'"):
        read_synthetic_scene(path, load_images=False)
    assert not marker.exists()


def test_nuplan_class_outside_the_allow_list_is_refused(two_stage, tmp_path):
    ego_state = type("EgoState", (), {"__module__": "nuplan.common.actor_state.ego_state"})
    path = fn.write_pickle(tmp_path / "ego.pkl", _payload_with(two_stage, ego_state()), extra=(ego_state,))
    with pytest.raises(UnsafePickleError, match=r"'nuplan\.common\.actor_state\.ego_state\.EgoState'"):
        read_synthetic_scene(path, load_images=False)


def test_allow_listed_name_cannot_smuggle_a_call(tmp_path):
    # a hand-written stream: the allow-listed Agent stand-in, then REDUCE with builtins.eval as its state setter
    data = (b"\x80\x04\x8c\x1fnuplan.common.actor_state.agent\x8c\x05Agent\x93)\x81"
            b"\x8c\x08builtins\x8c\x04eval\x93\x8c\x0b__import__('os')\x85R.")
    (tmp_path / "smuggle.pkl").write_bytes(data)
    with pytest.raises(UnsafePickleError, match=r"'builtins\.eval'"):
        read_synthetic_scene(tmp_path / "smuggle.pkl", load_images=False)


def test_malformed_nuplan_fields_are_named(two_stage, tmp_path):
    rows = fn.global_rows(two_stage[2]["a"].frames[5])
    bad = fn.detections_tracks(rows)
    bad.tracked_objects.tracked_objects[0]._box._center = fn.StateVector2D(1.0, 2.0)  # not a StateSE2
    path = fn.write_pickle(tmp_path / "bad.pkl", _payload_with(two_stage, bad))
    with pytest.raises(LogFormatError, match=r"bad\.pkl: extended_detections_tracks\[2\]\.tracked_objects\[0\]\._box\._center: "
                                             r"expected a nuplan StateSE2, got nuplan StateVector2D"):
        read_synthetic_scene(path, load_images=False)
    payload = _payload_with(two_stage, fn.detections_tracks(rows))
    payload["extended_traffic_light_data"][1] = fn.detections_tracks(rows)
    fn.write_pickle(tmp_path / "swap.pkl", payload)
    with pytest.raises(LogFormatError, match=r"extended_traffic_light_data\[1\]: expected a nuplan TrafficLightStatuses"):
        read_synthetic_scene(tmp_path / "swap.pkl", load_images=False)
    payload["extended_traffic_light_data"] = {"0": 1}
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({**payload, "extended_detections_tracks": None}))
    with pytest.raises(LogFormatError, match=r"field 'extended_traffic_light_data': expected a list"):
        read_synthetic_scene(tmp_path / "dict.pkl", load_images=False)
