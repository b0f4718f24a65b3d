import json
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig, SensorError
from inspatio_drive.data import loader as loader_module

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _golden_loader(split, **kw):
    return SceneLoader(GOLDEN / "navsim_logs" / split, GOLDEN / "sensor_blobs" / split, show_progress=False, **kw)


@pytest.mark.parametrize("scene", ["a", "c"])
def test_golden_scene_token_poses_and_future(scene):
    meta = json.loads((GOLDEN / f"scene_{scene}" / "scene.json").read_text())
    loader = _golden_loader(meta["split"])
    assert loader.tokens == [meta["token"]] and len(loader) == 1
    assert loader.get_tokens_list_per_log() == {meta["log_name"]: [meta["token"]]}
    scene_obj = loader.get_scene_from_token(meta["token"])
    md = scene_obj.scene_metadata
    assert (md.log_name, md.initial_token, md.map_name) == (meta["log_name"], meta["token"], meta["map_location"])
    assert (md.num_history_frames, md.num_future_frames, len(scene_obj.frames)) == (4, 10, 14)
    human = next(c for c in json.loads((GOLDEN / f"scene_{scene}" / "candidates.json").read_text()) if c["name"] == "human_gt")
    expected = np.array(human["poses_local_xyh"])
    future = scene_obj.get_future_trajectory(8)
    assert future.shape == (8, 3) and future.dtype == np.float64
    # positions bit-exact; headings within numpy's SIMD trig noise (golden made with numpy 1.23)
    np.testing.assert_array_equal(future[:, :2], expected[:, :2])
    np.testing.assert_allclose(future[:, 2], expected[:, 2], rtol=0, atol=1e-12)
    assert scene_obj.get_future_trajectory().shape == (10, 3)
    origin = np.load(GOLDEN / f"scene_{scene}" / "arrays.npz")["ego_origin_global"]
    np.testing.assert_array_equal(scene_obj.frames[3].ego_status.ego_pose, origin)


@pytest.mark.parametrize("scene", ["a", "c"])
def test_golden_agent_input(scene):
    meta = json.loads((GOLDEN / f"scene_{scene}" / "scene.json").read_text())
    loader = _golden_loader(meta["split"])
    agent = loader.get_agent_input_from_token(meta["token"])
    scene_obj = loader.get_scene_from_token(meta["token"])
    assert len(agent.ego_statuses) == len(agent.cameras) == len(agent.lidars) == 4
    hist = scene_obj.get_history_trajectory()
    for i, st in enumerate(agent.ego_statuses):
        assert st.ego_pose.dtype == np.float32 and not st.in_global_frame  # navsim's loader casts to float32
        np.testing.assert_array_equal(st.ego_pose, hist[i].astype(np.float32))
        np.testing.assert_array_equal(st.ego_velocity, scene_obj.frames[i].ego_status.ego_velocity)
    assert agent.ego_statuses[-1].ego_pose.tolist() == [0.0, 0.0, 0.0]
    from_scene = scene_obj.get_agent_input()
    assert from_scene.ego_statuses[-1].ego_pose.dtype == np.float64
    assert all(c.image is None for cams in agent.cameras for c in cams.values())
    assert all(lidar.points is None for lidar in agent.lidars)
    if scene == "a":  # decelerating on the W-in lane, straight east: history is behind the ego
        xs = [s.ego_pose[0] for s in agent.ego_statuses]
        assert xs[0] < xs[1] < xs[2] < 0.0


def test_golden_sensors_load():
    loader = _golden_loader("golden_a", sensor_config=SensorConfig.build_all_sensors())
    agent = loader.get_agent_input_from_token(loader.tokens[0])
    cam = agent.cameras[3]["CAM_F0"]
    assert cam.image.dtype == np.uint8 and cam.image.shape == (9, 16, 3)  # placeholder JPEGs
    assert cam.intrinsics[0, 2] == pytest.approx(960.0, abs=50)
    pts = agent.lidars[0].points
    assert pts.dtype == np.float32 and pts.shape == (6, 8)


def test_windowing_matches_navsim_rules(synthetic_split):
    tok = synthetic_split.tokens
    kw = {"show_progress": False}
    # default: non-overlapping windows of 14, token = frame 3; route only on even frames
    loader = SceneLoader(synthetic_split.data_path, None, SceneFilter(has_route=False), **kw)
    assert loader.tokens == [tok[0][3], tok[0][17], tok[1][3], tok[1][17]]
    # has_route=True (default): windows whose frame 3 is odd have no route
    assert SceneLoader(synthetic_split.data_path, None, **kw).tokens == []
    ov = SceneLoader(synthetic_split.data_path, None, SceneFilter(frame_interval=1), **kw)
    assert ov.tokens == [tok[log][s + 3] for log in range(2) for s in range(15) if (s + 3) % 2 == 0]
    short = SceneLoader(synthetic_split.data_path, None, SceneFilter(num_history_frames=2, num_future_frames=3, frame_interval=5), **kw)
    assert short.tokens == [tok[log][s + 1] for log in range(2) for s in (0, 5, 10, 15, 20) if (s + 1) % 2 == 0]
    assert short.get_scene_from_token(short.tokens[0]).get_future_trajectory().shape == (3, 3)
    only = SceneLoader(synthetic_split.data_path, None, SceneFilter(frame_interval=1, log_names=[synthetic_split.log_names[1]]), **kw)
    assert set(only.get_tokens_list_per_log()) == {synthetic_split.log_names[1]}
    capped = SceneLoader(synthetic_split.data_path, None, SceneFilter(frame_interval=1, max_scenes=3), **kw)
    assert capped.tokens == ov.tokens[:3]
    chosen = [ov.tokens[5], ov.tokens[1], "nope"]
    picked = SceneLoader(synthetic_split.data_path, None, SceneFilter(frame_interval=1, tokens=chosen), **kw)
    assert picked.tokens == [ov.tokens[1], ov.tokens[5]]  # log order, unknown tokens ignored
    with pytest.raises(KeyError, match="nope"):
        picked.get_scene_from_token("nope")
    per_log = ov.get_tokens_list_per_log()
    assert [len(v) for v in per_log.values()] == [7, 7]


def test_scene_filter_validation():
    assert SceneFilter().frame_interval == 14 and SceneFilter().num_frames == 14
    with pytest.raises(ValueError, match="num_history_frames"):
        SceneFilter(num_history_frames=0)
    with pytest.raises(ValueError, match="frame_interval"):
        SceneFilter(frame_interval=0)
    with pytest.raises(ValueError, match="tokens"):
        SceneFilter(tokens="abc")
    with pytest.raises(ValueError, match="unknown key"):
        SceneFilter.from_mapping({"num_history": 3})
    assert SceneFilter.from_mapping({"frame_interval": 1, "tokens": ("a",)}).tokens == ["a"]


def test_sensor_config_semantics():
    cfg = SensorConfig.build_drivor()
    assert cfg.get_sensors_at_iteration(3) == ["cam_f0", "cam_l0", "cam_r0", "cam_b0"]
    assert cfg.get_sensors_at_iteration(2) == []
    assert SensorConfig.build_all_sensors().get_sensors_at_iteration(12)[-1] == "lidar_pc"
    assert not SensorConfig.build_no_sensors().any_sensor and cfg.any_sensor
    assert SensorConfig.from_mapping({"lidar_pc": [0, 3]}).get_sensors_at_iteration(3) == ["lidar_pc"]
    assert SensorConfig.from_mapping("drivor") == cfg
    with pytest.raises(ValueError, match="cam_f0"):
        SensorConfig.from_mapping({"cam_f0": "yes"})
    with pytest.raises(ValueError, match="unknown key"):
        SensorConfig.from_mapping({"cam_x": True})


def test_drivor_sensors_current_frame_only(synthetic_split):
    loader = SceneLoader(
        synthetic_split.data_path, synthetic_split.sensor_blobs_path, SceneFilter(has_route=False),
        SensorConfig.build_drivor(), show_progress=False,
    )
    agent = loader.get_agent_input_from_token(loader.tokens[0])
    for i, cams in enumerate(agent.cameras):
        loaded = sorted(n for n, c in cams.items() if c.is_loaded)
        assert loaded == (["CAM_B0", "CAM_F0", "CAM_L0", "CAM_R0"] if i == 3 else [])
        assert all(c.intrinsics.shape == (3, 3) for c in cams.values())
    assert agent.cameras[3]["CAM_F0"].image.shape == (36, 64, 3)
    assert all(lidar.points is None for lidar in agent.lidars)
    scene = loader.get_scene_from_token(loader.tokens[0])
    assert scene.frames[3].cameras["CAM_L0"].is_loaded and not scene.frames[4].cameras["CAM_L0"].is_loaded


def test_missing_sensor_strict_and_lenient(synthetic_split, tmp_path):
    import shutil

    blobs = tmp_path / "blobs"
    shutil.copytree(synthetic_split.sensor_blobs_path, blobs)
    loader = SceneLoader(synthetic_split.data_path, blobs, SceneFilter(has_route=False), SensorConfig.build_all_sensors(), show_progress=False)
    token = loader.tokens[0]
    frames = loader.get_scene_frames(token)
    (blobs / frames[1]["cams"]["CAM_R1"]["data_path"]).unlink()
    (blobs / frames[2]["lidar_path"]).write_bytes(b"garbage")
    with pytest.raises(SensorError, match=rf"CAM_R1.*frame {frames[1]['token']}.*missing"):
        loader.get_agent_input_from_token(token)
    lenient = SceneLoader(
        synthetic_split.data_path, blobs, SceneFilter(has_route=False), SensorConfig.build_all_sensors(), lenient=True, show_progress=False
    )
    agent = lenient.get_agent_input_from_token(token)
    bad_cam = agent.cameras[1]["CAM_R1"]
    assert bad_cam.image is None and "missing" in bad_cam.load_error
    assert agent.cameras[1]["CAM_R0"].is_loaded
    assert agent.lidars[2].points.shape == (6, 0) and frames[2]["token"] in agent.lidars[2].load_error
    assert agent.lidars[1].points.shape == (6, 16) and agent.lidars[1].load_error is None


def test_lazy_loading_keeps_bounded_cache(synthetic_split, monkeypatch):
    loader = SceneLoader(synthetic_split.data_path, None, SceneFilter(frame_interval=1), cache_logs=1, show_progress=False)
    reads = []
    real = loader_module.read_raw_log
    monkeypatch.setattr(loader_module, "read_raw_log", lambda p: reads.append(Path(p).name) or real(p))
    for token in loader.tokens:  # log order: each log read once
        loader.get_agent_input_from_token(token)
        assert len(loader._cache) == 1
    assert len(reads) == 2
    loader.get_agent_input_from_token(loader.tokens[0])  # evicted → re-read
    assert len(reads) == 3


def test_loader_argument_errors(synthetic_split, tmp_path):
    with pytest.raises(FileNotFoundError, match="navsim_logs"):
        SceneLoader(tmp_path / "none", None)
    with pytest.raises(ValueError, match="sensor_blobs_path"):
        SceneLoader(synthetic_split.data_path, None, sensor_config=SensorConfig.build_drivor())


def test_threaded_decode_matches_sequential(synthetic_split, tmp_path):
    import shutil

    kw = {"scene_filter": SceneFilter(has_route=False), "sensor_config": SensorConfig.build_all_sensors(), "show_progress": False}
    seq = SceneLoader(synthetic_split.data_path, synthetic_split.sensor_blobs_path, **kw)
    with SceneLoader(synthetic_split.data_path, synthetic_split.sensor_blobs_path, io_workers=4, **kw) as par:
        a = seq.get_agent_input_from_token(seq.tokens[1])
        b = par.get_agent_input_from_token(seq.tokens[1])
    for ca, cb in zip(a.cameras, b.cameras):
        for name in ca:
            np.testing.assert_array_equal(ca[name].image, cb[name].image)
    blobs = tmp_path / "blobs"
    shutil.copytree(synthetic_split.sensor_blobs_path, blobs)
    frames = seq.get_scene_frames(seq.tokens[1])
    (blobs / frames[0]["cams"]["CAM_L2"]["data_path"]).unlink()
    with SceneLoader(synthetic_split.data_path, blobs, io_workers=3, **kw) as par, pytest.raises(SensorError, match="CAM_L2"):
        par.get_agent_input_from_token(seq.tokens[1])


def test_returned_calibrations_are_independent(synthetic_split):
    loader = SceneLoader(synthetic_split.data_path, None, SceneFilter(has_route=False, frame_interval=1), show_progress=False)
    first = loader.get_agent_input_from_token(loader.tokens[0])
    k = first.cameras[3]["CAM_F0"].intrinsics
    reference = k.copy()
    k *= 0.5  # a consumer rescaling in place must not change later results
    again = loader.get_agent_input_from_token(loader.tokens[1])  # frame 3 of scene 0 = frame 2 of scene 1
    np.testing.assert_array_equal(again.cameras[2]["CAM_F0"].intrinsics, reference)


def test_scene_filter_from_navsim_yaml(tmp_path):
    path = tmp_path / "navmini_like.yaml"
    path.write_text(
        "_target_: navsim.common.dataclasses.SceneFilter\n_convert_: 'all'\nnum_history_frames: 4\nnum_future_frames: 10\n"
        "frame_interval: 1\nhas_route: true\nmax_scenes: null\nlog_names:\n  - \"log_a\"\ntokens:\n - \"6774548111cb5ba4\"\n"
        "include_synthetic_scenes: false\n"
    )
    sf = SceneFilter.from_yaml(path)
    assert (sf.frame_interval, sf.log_names, sf.tokens, sf.max_scenes) == (1, ["log_a"], ["6774548111cb5ba4"], None)
    path.write_text("num_history_frames: 4\nsynthetic_frames: true\n")
    with pytest.raises(ValueError, match=r"navmini_like\.yaml.*unknown key\(s\) \['synthetic_frames'\]"):
        SceneFilter.from_yaml(path)


def test_loader_from_hydra_config(synthetic_split, monkeypatch):
    from inspatio_drive.config import compose
    from inspatio_drive.data import scene_loader_from_config

    monkeypatch.setenv("OPENSCENE_DATA_ROOT", str(synthetic_split.root))
    # as a config group: composed under the `data` key
    overrides = ["data.split=synthetic", "data.scene_filter.frame_interval=1", "data.sensor_config=drivor", "data.show_progress=false"]
    loader = scene_loader_from_config(compose("data/openscene", overrides).data)
    assert len(loader) == 14 and loader.sensor_config == SensorConfig.build_drivor()
    assert loader.get_agent_input_from_token(loader.tokens[0]).cameras[3]["CAM_F0"].is_loaded
    monkeypatch.delenv("OPENSCENE_DATA_ROOT")
    with pytest.raises(ValueError, match="OPENSCENE_DATA_ROOT"):
        scene_loader_from_config(compose("data/openscene").data)


def test_history_trajectory_semantics(synthetic_split):
    loader = SceneLoader(synthetic_split.data_path, None, SceneFilter(has_route=False), show_progress=False)
    scene = loader.get_scene_from_token(loader.tokens[0])
    hist = scene.get_history_trajectory()
    assert hist.shape == (4, 3) and hist[-1].tolist() == [0.0, 0.0, 0.0]
    two = scene.get_history_trajectory(2)  # navsim v1.1: frames 0..1 relative to frame 1
    assert two[-1].tolist() == [0.0, 0.0, 0.0]
    poses = np.stack([f.ego_status.ego_pose for f in scene.frames])
    c, s = np.cos(poses[1, 2]), np.sin(poses[1, 2])
    d = poses[0, :2] - poses[1, :2]
    np.testing.assert_allclose(two[0, :2], [c * d[0] + s * d[1], -s * d[0] + c * d[1]], atol=1e-9)
    fut = scene.get_future_trajectory()
    assert fut.shape == (10, 3) and fut[0, 0] > 3.5  # ~8 m/s forward, 0.5 s
    with pytest.raises(ValueError, match="future frames"):
        scene.get_future_trajectory(11)


def test_unsafe_log_in_split_is_refused(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (exec, ("x = 1",))

    split = tmp_path / "navsim_logs" / "mini"
    split.mkdir(parents=True)
    (split / "bad_log.pkl").write_bytes(pickle.dumps([{"token": Payload()}], protocol=4))
    (split / "notes.txt").write_text("ignored: not a .pkl")
    from inspatio_drive.data import UnsafePickleError

    with pytest.raises(UnsafePickleError, match=r"bad_log\.pkl.*builtins\.exec"):
        SceneLoader(split, None, show_progress=False)


def test_index_cache_skips_unpickling_and_tracks_changes(synthetic_split, tmp_path, monkeypatch):
    import shutil

    logs = tmp_path / "logs"
    shutil.copytree(synthetic_split.data_path, logs)
    cache_dir = tmp_path / "cache"
    filters = [SceneFilter(), SceneFilter(frame_interval=1), SceneFilter(has_route=False, num_history_frames=2, frame_interval=3)]
    plain = [SceneLoader(logs, None, f, show_progress=False) for f in filters]
    first = SceneLoader(logs, None, filters[1], show_progress=False, index_cache_dir=cache_dir)
    assert first.tokens == plain[1].tokens and len(list(cache_dir.glob("log_index_*.json"))) == 1

    def no_unpickling(path):
        raise AssertionError(f"unexpected read of {path}")

    monkeypatch.setattr(loader_module, "read_raw_log", no_unpickling)
    for f, ref in zip(filters, plain):  # any filter is served from the same cache
        cached = SceneLoader(logs, None, f, show_progress=False, index_cache_dir=cache_dir)
        assert cached.tokens == ref.tokens
        assert cached.get_tokens_list_per_log() == ref.get_tokens_list_per_log()
        assert [cached.scene_ref(t).start for t in cached.tokens] == [ref.scene_ref(t).start for t in ref.tokens]
    monkeypatch.undo()

    # a changed log is re-read: drop its last 14 frames
    import pickle

    from inspatio_drive.data.writers import write_log

    log0 = logs / f"{synthetic_split.log_names[0]}.pkl"
    write_log(log0, pickle.loads(log0.read_bytes())[:14])
    changed = SceneLoader(logs, None, SceneFilter(has_route=False), show_progress=False, index_cache_dir=cache_dir)
    assert len(changed.get_tokens_list_per_log()[synthetic_split.log_names[0]]) == 1
    # an unreadable cache file is rebuilt, not trusted
    next(cache_dir.glob("log_index_*.json")).write_text("{not json")
    again = SceneLoader(logs, None, SceneFilter(has_route=False), show_progress=False, index_cache_dir=cache_dir)
    assert again.tokens == changed.tokens


def test_loader_pickles_without_cache_or_threads(synthetic_split):
    import pickle

    loader = SceneLoader(
        synthetic_split.data_path, synthetic_split.sensor_blobs_path, SceneFilter(has_route=False),
        SensorConfig.build_drivor(), show_progress=False, io_workers=2,
    )
    before = loader.get_agent_input_from_token(loader.tokens[0])
    assert loader._cache and loader._pool is not None
    blob = pickle.dumps(loader)
    assert len(blob) < 10_000  # index only, no parsed logs
    clone = pickle.loads(blob)
    after = clone.get_agent_input_from_token(loader.tokens[0])
    assert clone.tokens == loader.tokens
    np.testing.assert_array_equal(after.cameras[3]["CAM_F0"].image, before.cameras[3]["CAM_F0"].image)
    loader.close()
    clone.close()
