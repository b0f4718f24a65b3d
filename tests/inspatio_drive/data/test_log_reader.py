import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from pyquaternion import Quaternion

from inspatio_drive.contracts.errors import InputFormatError
from inspatio_drive.data import CorruptPickleError, LogFormatError, UnsafePickleError, read_log
from inspatio_drive.data.writers import write_log

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"

SCENES = {
    "a": ("golden_a", "2021.01.01.00.00.00_veh-00_golden_a"),
    "c": ("golden_c", "2021.01.01.00.00.00_veh-00_golden_c"),
}


def _golden_log(scene):
    split, log = SCENES[scene]
    return GOLDEN / "navsim_logs" / split / f"{log}.pkl"


@pytest.mark.parametrize("scene", ["a", "c"])
def test_golden_log_frames(scene):
    meta = json.loads((GOLDEN / f"scene_{scene}" / "scene.json").read_text())
    cache = json.loads((GOLDEN / f"scene_{scene}" / "metric_cache.json").read_text())
    frames = read_log(_golden_log(scene))
    assert len(frames) == 14
    cur = frames[3]
    assert cur.token == meta["token"] == cache["token"]
    assert cur.timestamp == cache["initial_ego_state"]["time_us"]
    # global rear-axle pose bit for bit as navsim (pyquaternion yaw, e.g. -1.22e-16 instead of 0)
    assert cur.ego_status.ego_pose.tolist() == cache["initial_ego_state"]["rear_axle_global_xyh"]
    assert cur.ego_status.in_global_frame
    state = cache["initial_ego_state"]["state_array_global"]
    assert cur.ego_status.ego_velocity.dtype == np.float32
    assert cur.ego_status.ego_velocity.tolist() == state[3:5]  # float32: 6.699999809265137
    assert cur.ego_status.ego_acceleration.tolist() == state[5:7]
    assert cur.roadblock_ids == cache["route_roadblock_ids_logged"]
    np.testing.assert_array_equal(np.load(GOLDEN / f"scene_{scene}" / "arrays.npz")["ego_origin_global"], cur.ego_status.ego_pose)
    assert all(isinstance(i, int) and isinstance(r, bool) for i, r in cur.traffic_lights)
    assert set(cur.cameras) == {"CAM_F0", "CAM_L0", "CAM_L1", "CAM_L2", "CAM_R0", "CAM_R1", "CAM_R2", "CAM_B0"}
    assert all(c.image is None and c.intrinsics.shape == (3, 3) for c in cur.cameras.values())
    assert cur.lidar.points is None and cur.lidar.data_path.endswith(".pcd")
    assert [f.timestamp for f in frames] == [frames[0].timestamp + 500_000 * i for i in range(14)]


def test_scene_a_annotations_and_lights():
    frames = read_log(_golden_log("a"))
    raw = pickle.loads(_golden_log("a").read_bytes())
    for f, r in zip(frames, raw):
        np.testing.assert_array_equal(f.annotations.boxes, r["anns"]["gt_boxes"])
        assert f.annotations.names == list(r["anns"]["gt_names"])
        assert f.annotations.track_tokens == list(r["anns"]["track_tokens"])
    assert frames[3].traffic_lights == [(50002, False), (50003, False)]
    assert "bicycle" not in frames[3].annotations.names and "bicycle" in frames[6].annotations.names


def test_synthetic_round_trip(synthetic_split):
    path = synthetic_split.data_path / f"{synthetic_split.log_names[0]}.pkl"
    raw = pickle.loads(path.read_bytes())
    frames = read_log(path)
    assert [f.token for f in frames] == synthetic_split.tokens[0]
    for f, r in zip(frames, raw):
        yaw = Quaternion(*r["ego2global_rotation"]).yaw_pitch_roll[0]
        assert f.ego_status.ego_pose.tolist() == [r["ego2global_translation"][0], r["ego2global_translation"][1], yaw]
        np.testing.assert_array_equal(f.cameras["CAM_L0"].sensor2lidar_rotation, r["cams"]["CAM_L0"]["sensor2lidar_rotation"])
        assert f.cameras["CAM_B0"].data_path == r["cams"]["CAM_B0"]["data_path"]
        assert f.ego_status.driving_command.tolist() == [0, 1, 0, 0]


def _broken(tmp_path, mutate, index=2):
    frames = pickle.loads(_golden_log("a").read_bytes())
    mutate(frames[index])
    return write_log(tmp_path / "broken.pkl", frames)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda f: f.pop("ego2global_rotation"), r"missing field.*ego2global_rotation"),
        (lambda f: f.update(ego2global_rotation=np.zeros(4)), r"'ego2global_rotation': expected a non-zero quaternion"),
        (lambda f: f.update(ego2global_translation=np.array([np.nan, 0.0, 0.0])), r"'ego2global_translation': expected finite"),
        (lambda f: f.update(ego_dynamic_state=[1.0, 2.0]), r"'ego_dynamic_state': expected numeric array of shape \(4,\)"),
        (lambda f: f.update(driving_command=np.array([0, 2, 0, 0])), r"'driving_command': expected one-hot"),
        (lambda f: f.update(timestamp="soon"), r"'timestamp': expected int"),
        (lambda f: f.update(roadblock_ids="20001"), r"'roadblock_ids': expected list of str"),
        (lambda f: f["cams"].pop("CAM_R2"), r"'cams': expected all eight cameras.*CAM_R2"),
        (lambda f: f["cams"]["CAM_F0"].update(cam_intrinsic=np.eye(4)), r"'cams.CAM_F0.cam_intrinsic': expected numeric array of shape \(3, 3\)"),
        (lambda f: f["anns"].update(gt_boxes=np.zeros((4, 5))), r"'anns.gt_boxes'"),
        (lambda f: f["anns"].update(track_tokens=[]), r"'anns.track_tokens': expected a list with one entry per box"),
        (lambda f: f["anns"].update(gt_velocity_3d=f["anns"]["gt_velocity_3d"][:, :2]),
         r"'anns.gt_velocity_3d': expected numeric array of shape \(\d+, 3\), got 'shape \(\d+, 2\)'"),
        (lambda f: f["anns"].update(gt_velocity_3d=np.full_like(f["anns"]["gt_velocity_3d"], np.inf)),
         r"'anns.gt_velocity_3d': expected finite"),
        (lambda f: f.update(timestamp=1), r"'timestamp': expected strictly increasing"),
        (lambda f: f.update(traffic_lights=[5]), r"'traffic_lights': expected list of \(lane_connector_id, is_red\)"),
    ],
)
def test_bad_fields_raise_with_file_frame_and_field(tmp_path, mutate, pattern):
    path = _broken(tmp_path, mutate)
    with pytest.raises(LogFormatError, match=pattern) as err:
        read_log(path)
    assert str(path) in str(err.value) and "frame 2" in str(err.value)


def test_missing_anns_gives_none(tmp_path):
    path = _broken(tmp_path, lambda f: f.pop("anns"))
    frames = read_log(path)
    assert frames[2].annotations is None and frames[3].annotations is not None


def test_not_a_list_and_not_dicts(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"token": "a"}))
    with pytest.raises(LogFormatError, match=r"x\.pkl: expected a list of frame dicts, got dict"):
        read_log(path)
    path.write_bytes(pickle.dumps([{"token": "a", "timestamp": 1}, 3]))
    with pytest.raises(LogFormatError, match=r"frame 1: expected a frame dict, got int"):
        read_log(path)


def test_timestamps_must_increase(tmp_path):
    frames = pickle.loads(_golden_log("a").read_bytes())
    frames[5]["timestamp"], frames[6]["timestamp"] = frames[6]["timestamp"], frames[5]["timestamp"]
    path = write_log(tmp_path / "swapped.pkl", frames)
    with pytest.raises(LogFormatError, match=r"swapped\.pkl: frame 6 \(token \w+\): field 'timestamp': expected strictly increasing"):
        read_log(path)
    frames[6]["timestamp"] = frames[5]["timestamp"]  # a repeated frame time is refused too
    write_log(path, frames)
    with pytest.raises(LogFormatError, match=r"frame 6 .*'timestamp'"):
        read_log(path)


def test_truncated_log_names_the_file(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(_golden_log("a").read_bytes()[:5000])
    with pytest.raises(CorruptPickleError, match=r"cut\.pkl: corrupt, truncated or not a pickle") as err:
        read_log(path)
    assert isinstance(err.value, InputFormatError) and "\n" not in str(err.value)


def test_unsafe_log_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("hi",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([{"token": Payload()}]))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*builtins\.print"):
        read_log(path)


def test_load_map_entry_point_matches_maps_package():
    import inspatio_drive.maps as maps
    from inspatio_drive.data import load_map

    m = load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")
    assert m is maps.load_map(GOLDEN / "maps", "us-nv-las-vegas-strip")
