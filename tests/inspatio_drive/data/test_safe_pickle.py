import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from inspatio_drive.data.safe_pickle import UnsafePickleError, safe_load, safe_loads

GOLDEN_LOG = (
    Path(__file__).resolve().parents[2]
    / "data/golden/pdms/navsim_logs/golden_a/2021.01.01.00.00.00_veh-00_golden_a.pkl"
)


class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Evil:
    def __reduce__(self):
        return (eval, ("1+1",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_command_pickle_is_refused_before_anything_runs(tmp_path, protocol):
    marker = tmp_path / "command_ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([{"token": "a"}, _RunsCommand(marker)], protocol=protocol))
    with pytest.raises(UnsafePickleError) as err:
        safe_load(path)
    msg = str(err.value)
    assert str(path) in msg
    assert ("posix.system" in msg) or ("os.system" in msg) or ("nt.system" in msg)
    assert not marker.exists()


def test_builtin_eval_refused():
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        safe_loads(pickle.dumps(_Evil(), protocol=4), "x.pkl")


def test_numpy_and_builtin_payload_round_trips():
    payload = [
        {
            "a": np.arange(6, dtype=np.float32).reshape(2, 3),
            "names": np.array(["vehicle", "pedestrian"]),
            "scalar": np.float64(2.5),
            "i": np.int64(3),
            "tl": [(50002, False)],
            "s": {1, 2},
            "fs": frozenset({3}),
            "b": b"\x00\xff",
            "od": collections.OrderedDict(k=1),
            "c": 1 + 2j,
            "none": None,
        }
    ]
    for protocol in (2, 4, 5):
        out = safe_loads(pickle.dumps(payload, protocol=protocol))
        np.testing.assert_array_equal(out[0]["a"], payload[0]["a"])
        assert out[0]["a"].dtype == np.float32
        assert list(out[0]["names"]) == ["vehicle", "pedestrian"]
        assert out[0]["scalar"] == 2.5 and out[0]["i"] == 3
        assert out[0]["tl"] == [(50002, False)] and out[0]["s"] == {1, 2} and out[0]["b"] == b"\x00\xff"
        assert out[0]["od"] == {"k": 1} and out[0]["c"] == 1 + 2j and out[0]["none"] is None


def test_codecs_encode_only_latin1():
    import codecs

    class _Rot:
        def __reduce__(self):
            return (codecs.encode, ("abc", "rot13"))

    with pytest.raises(UnsafePickleError, match="latin-1"):
        safe_loads(pickle.dumps(_Rot(), protocol=2))


def test_corrupt_pickle_names_file(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=4)[:-4])
    with pytest.raises(pickle.UnpicklingError, match=r"bad\.pkl"):
        safe_load(path)


def test_golden_log_loads_like_pickle():
    ref = pickle.loads(GOLDEN_LOG.read_bytes())
    out = safe_load(GOLDEN_LOG)
    assert len(out) == len(ref) == 14
    assert out[3]["token"] == ref[3]["token"]
    np.testing.assert_array_equal(out[3]["ego2global_rotation"], ref[3]["ego2global_rotation"])
