"""navsim v2 synthetic scene pickles: malformed fields name file, frame and field (LogFormatError)."""

import pickle

import fake_nuplan as fn
import numpy as np
import pytest

from inspatio_drive.contracts.errors import InputFormatError, LogFormatError
from inspatio_drive.data import CorruptPickleError
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene


def _payload():
    return fn.scene_payload(num_future_frames=0)


def test_valid_pickle_reads(tmp_path):
    (tmp_path / "s.pkl").write_bytes(pickle.dumps(_payload()))
    scene = read_synthetic_scene(tmp_path / "s.pkl", load_images=False)
    assert scene.frames[0].token == "a" * 16 and scene.frames[0].cameras["CAM_F0"].intrinsics.shape == (3, 3)
    assert scene.frames[0].annotations.velocity_3d.shape == (1, 3)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda p: p["frames"][0]["ego_status"].update(ego_pose=np.zeros(2)), r"frame 0: field 'ego_status\.ego_pose': expected numeric array of shape \(3,\)"),
        (lambda p: p["frames"][0]["annotations"].update(velocity_3d=np.zeros((1, 2))), r"frame 0: field 'annotations\.velocity_3d'"),
        (lambda p: p["frames"][0]["camera_dict"]["cam_f0"].update(cam_intrinsic=np.full((3, 3), np.nan)), r"'camera_dict\.cam_f0\.cam_intrinsic': expected finite"),
        (lambda p: p["frames"][0].pop("timestamp"), r"frame 0 has no field 'timestamp'"),
        (lambda p: p["scene_metadata"].update(num_history_frames="4"), r"scene_metadata: field 'num_history_frames'"),
        (lambda p: p.update(frames={"0": 1}), r"field 'frames': expected a list"),
        (lambda p: p["frames"].append(3), r"frame 1: expected a dict, got int"),
    ],
)
def test_malformed_fields_name_file_frame_and_field(tmp_path, mutate, pattern):
    payload = _payload()
    mutate(payload)
    (tmp_path / "s.pkl").write_bytes(pickle.dumps(payload))
    with pytest.raises(LogFormatError, match=pattern) as err:
        read_synthetic_scene(tmp_path / "s.pkl", load_images=False)
    assert str(tmp_path / "s.pkl") in str(err.value) and "\n" not in str(err.value)


def test_truncated_pickle_names_the_path(tmp_path):
    data = pickle.dumps(_payload())
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptPickleError, match=r"cut\.pkl") as err:
        read_synthetic_scene(tmp_path / "cut.pkl", load_images=False)
    assert isinstance(err.value, InputFormatError)
