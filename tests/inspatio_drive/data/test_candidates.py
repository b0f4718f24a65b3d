import json
import zipfile

import numpy as np
import pytest

from inspatio_drive.contracts.errors import CandidateFormatError, InputFormatError
from inspatio_drive.data.candidates import read_candidates


def _curve(num, dt, k=2):
    t = np.arange(1, num + 1) * dt
    out = np.stack([np.stack([5.0 * t, 0.3 * i * t**2, 0.2 * i * t], -1) for i in range(k)])
    return out


def test_formats_read_the_same_poses(tmp_path):
    arr = _curve(8, 0.5)
    np.savez(tmp_path / "a.npz", trajectories=arr, names=np.array(["p", "q"]))
    np.save(tmp_path / "a.npy", arr)
    (tmp_path / "a.json").write_text(json.dumps({"trajectories": arr.tolist(), "names": ["p", "q"]}))
    (tmp_path / "b.json").write_text(json.dumps([{"name": "p", "poses_local_xyh": arr[0].tolist()},
                                                 {"name": "q", "poses_local_xyh": arr[1].tolist()}]))
    for name in ("a.npz", "a.npy", "a.json", "b.json"):
        c = read_candidates(tmp_path / name)
        np.testing.assert_array_equal(c.poses, arr)
        assert not c.resampled and c.describe_resampling() == ""
        assert c.names == (None if name == "a.npy" else ["p", "q"])


@pytest.mark.parametrize("num, dt", [(16, 0.5), (4, 0.5), (16, 0.25), (8, 0.25)])
def test_other_samplings_are_refused_without_the_knob(tmp_path, num, dt):
    (tmp_path / "c.json").write_text(json.dumps({"trajectories": _curve(num, dt).tolist(), "interval_s": dt}))
    with pytest.raises(CandidateFormatError, match=rf"c\.json: expected \[K, 8, 3\] poses at 0\.5 s .*got \[K, {num}, 3\] "
                                                   rf"at {dt:g} s; set my_knob=true to resample") as err:
        read_candidates(tmp_path / "c.json", resample_knob="my_knob")
    assert "\n" not in str(err.value)


def test_resampling_only_when_asked_and_said(tmp_path):
    fine = _curve(16, 0.25)
    np.savez(tmp_path / "f.npz", trajectories=fine, interval_s=np.float64(0.25))
    c = read_candidates(tmp_path / "f.npz", resample=True)
    assert c.resampled and c.source_num_poses == 16 and c.source_interval_s == 0.25
    np.testing.assert_allclose(c.poses, fine[:, 1::2], atol=1e-12)  # 0.5 s keys are among the 0.25 s keys
    assert "from 16 poses at 0.25 s to 8 poses at 0.5 s" in c.describe_resampling()
    # the interval given by the caller for a file that does not say it
    np.save(tmp_path / "f.npy", fine)
    np.testing.assert_allclose(read_candidates(tmp_path / "f.npy", interval_s=0.25, resample=True).poses, fine[:, 1::2])
    with pytest.raises(CandidateFormatError, match=r"says interval_s=0\.25 but 0\.5 s was given"):
        read_candidates(tmp_path / "f.npz", interval_s=0.5, resample=True)
    np.save(tmp_path / "short.npy", _curve(6, 0.5))
    with pytest.raises(CandidateFormatError, match=r"cannot resample: 6 poses at 0.5 s reach 3 s, 4 s needed"):
        read_candidates(tmp_path / "short.npy", resample=True)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("n.json", '{"trajectories": [' + ",".join(["[NaN, 0, 0]"] * 8) + "]}", r"candidate 0 contains NaN"),
        ("i.json", json.dumps([[[0, 0, 0]] * 7 + [[1e400, 0, 0]]]).replace("Infinity", "1e400"), r"NaN or infinite"),
        ("s.json", json.dumps([[["a", 0, 0]] * 8]), r"not a numeric \[K, 8, 3\] array"),
        ("r.json", json.dumps([[[0, 0]] * 8]), r"must have shape \[K, 8, 3\].*\(1, 8, 2\)"),
        ("e.json", "[]", r"must have shape"),
        ("t.json", '{"trajectories": [[[0, 0, 0]', r"unreadable json file"),
        ("b.json", "\x89PNG\x00\x00", r"unreadable json file"),
        ("k.json", json.dumps({"traj": []}), r"needs a field 'trajectories'"),
        ("u.json", json.dumps({"trajectories": [], "dt": 1}), r"unknown field\(s\) \['dt'\]"),
        ("m.json", json.dumps({"trajectories": _curve(8, 0.5).tolist(), "names": ["a"]}), r"1 names for 2 trajectories"),
        ("o.json", json.dumps([{"name": "a"}]), r"candidate 0 needs a field 'poses_local_xyh'"),
        ("x.yaml", "a: 1", r"unknown candidates format '\.yaml'"),
    ],
)
def test_bad_files_name_the_path(tmp_path, name, content, pattern):
    (tmp_path / name).write_bytes(content.encode("latin-1", "replace") if isinstance(content, str) else content)
    with pytest.raises(CandidateFormatError, match=pattern) as err:
        read_candidates(tmp_path / name)
    assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, InputFormatError) and isinstance(err.value, ValueError)


def test_truncated_and_pickled_npz_name_the_path(tmp_path):
    np.savez(tmp_path / "good.npz", trajectories=_curve(8, 0.5))
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CandidateFormatError, match=r"cut\.npz: unreadable npz file"):
        read_candidates(tmp_path / "cut.npz")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CandidateFormatError, match=r"obj\.npy: unreadable npy file"):
        read_candidates(tmp_path / "obj.npy")
    with zipfile.ZipFile(tmp_path / "two.npz", "w") as z:
        z.writestr("a.npy", (tmp_path / "obj.npy").read_bytes())
        z.writestr("b.npy", (tmp_path / "obj.npy").read_bytes())
    with pytest.raises(CandidateFormatError, match=r"two\.npz: expected an array 'trajectories'"):
        read_candidates(tmp_path / "two.npz")
    with pytest.raises(CandidateFormatError, match=r"nope\.npz: candidates file not found"):
        read_candidates(tmp_path / "nope.npz")
