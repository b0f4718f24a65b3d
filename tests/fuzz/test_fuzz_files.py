"""Fuzz the file-format readers: PCD (``read_pcd``), GPKG maps (``MapAPI``), candidate files (``read_candidates``:
JSON / NPZ / NPY) and InSpatio trajectory files (``read_trajectory_txt``, ``read_tcw_txt``, ``read_c2w_npy``).

Each example: the reader returns or raises its documented error (one line, naming the file); nothing runs and
nothing is written (see ``fuzz_harness.guard``).
"""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest
import shapely
from fuzz_harness import FUZZ, JSON, Hostile, check, guard, mutate_bytes, sentinel, slot
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.contracts.errors import CandidateFormatError, MapFormatError, TrajectoryFormatError
from inspatio_drive.data import read_pcd, write_pcd
from inspatio_drive.data.candidates import read_candidates
from inspatio_drive.data.pcd import PCDError
from inspatio_drive.geometry import read_c2w_npy, read_tcw_txt, read_trajectory_txt
from inspatio_drive.maps import (
    LaneConnectorSpec,
    LaneSpec,
    MapSpec,
    RoadblockConnectorSpec,
    RoadblockSpec,
    write_map_gpkg,
)
from inspatio_drive.maps.map_api import MapAPI

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("error::RuntimeWarning")]  # no silent NaN / cast

# ------------------------------------------------------------------------------------------------ PCD
@pytest.fixture(scope="module")
def pcd_seeds(workdir):
    pts = np.arange(6 * 5, dtype=np.float32).reshape(6, 5)
    write_pcd(workdir / "seed.pcd", pts)
    ascii_pcd = (b"VERSION 0.7\nFIELDS x y z intensity ring lidar_info\nSIZE 4 4 4 4 4 4\nTYPE F F F F F F\n"
                 b"COUNT 1 1 1 1 1 1\nWIDTH 2\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 2\nDATA ascii\n"
                 b"1 2 3 4 5 6\n7 8 9 10 11 12\n")
    return [(workdir / "seed.pcd").read_bytes(), ascii_pcd]


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_pcd(workdir, pcd_seeds, data):
    folder = slot(workdir, "pcd")
    target = folder / "cloud.pcd"
    seed = data.draw(st.sampled_from(pcd_seeds))
    target.write_bytes(mutate_bytes(seed, data.draw) if data.draw(st.integers(0, 4)) else data.draw(st.binary(max_size=300)))
    check(lambda: read_pcd(target), target, (PCDError,))


# ------------------------------------------------------------------------------------------------ GPKG maps
@pytest.fixture(scope="module")
def gpkg_seed(workdir):
    x0, y0 = 500000.0, 4000000.0
    line = shapely.LineString([(x0, y0), (x0 + 20, y0)])
    box = shapely.box(x0, y0 - 2, x0 + 20, y0 + 2)
    line2 = shapely.LineString([(x0 + 25, y0), (x0 + 45, y0)])
    box2 = shapely.box(x0 + 25, y0 - 2, x0 + 45, y0 + 2)
    link = shapely.LineString([(x0 + 20, y0), (x0 + 25, y0)])
    link_box = shapely.box(x0 + 20, y0 - 2, x0 + 25, y0 + 2)
    spec = MapSpec(crs="EPSG:32611", roadblocks=[RoadblockSpec(11, box), RoadblockSpec(12, box2)],
                   roadblock_connectors=[RoadblockConnectorSpec(13, 11, 12, link_box)],
                   lanes=[LaneSpec(1, 11, line, box), LaneSpec(2, 12, line2, box2)],
                   lane_connectors=[LaneConnectorSpec(3, 1, 2, 13, link, link_box)])
    return write_map_gpkg(workdir / "seed.gpkg", spec).read_bytes()


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_gpkg_maps(workdir, gpkg_seed, data):
    folder = slot(workdir, "gpkg")
    target = folder / "map.gpkg"
    target.write_bytes(mutate_bytes(gpkg_seed, data.draw))
    check(lambda: MapAPI(target), target, (MapFormatError,))
    for extra in os.listdir(folder):  # sqlite may leave a journal of the corrupt file: not ours to keep
        assert extra == "map.gpkg", f"reading the map wrote {extra}"


# ------------------------------------------------------------------------------------------------ candidates
@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_candidate_files(workdir, data):
    folder = slot(workdir, "cands")
    kind = data.draw(st.sampled_from(["json", "json_bytes", "npz", "npy", "npz_bytes"]))
    good = np.zeros((2, 8, 3))
    if kind == "json":
        target = folder / "c.json"
        target.write_text(json.dumps(data.draw(JSON)))
    elif kind == "json_bytes":
        target = folder / "c.json"
        seed = json.dumps({"trajectories": good.tolist(), "names": ["a", "b"]}).encode()
        target.write_bytes(mutate_bytes(seed, data.draw))
    elif kind in ("npz", "npy"):
        shape = tuple(data.draw(st.lists(st.integers(0, 9), max_size=4)))
        dtype = data.draw(st.sampled_from(["f8", "f4", "i4", "U3", "c16", "b1"]))
        arr = np.full(shape, data.draw(st.sampled_from([0, 1, np.nan, np.inf])) if dtype[0] in "fc" else 1).astype(dtype)
        target = folder / f"c.{kind}"
        if kind == "npy":
            np.save(target, arr)
        else:
            extra = {"names": np.array(data.draw(st.lists(st.text(max_size=3), max_size=3))),
                     "interval_s": np.array(data.draw(st.sampled_from([0.5, 0.25, -1.0, np.nan])))}
            keys = data.draw(st.lists(st.sampled_from(["names", "interval_s"]), unique=True))
            np.savez(target, trajectories=arr, **{k: extra[k] for k in keys})
    else:
        target = folder / "c.npz"
        buf = io.BytesIO()
        np.savez(buf, trajectories=good)
        target.write_bytes(mutate_bytes(buf.getvalue(), data.draw))
    resample = data.draw(st.booleans())
    check(lambda: read_candidates(target, resample=resample), target, (CandidateFormatError,))


# ------------------------------------------------------------------------------------------------ trajectory text
NUMBERISH = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["nan", "inf", "-Infinity", "1e999", "x", "", "\t"]),
              st.integers(-5, 5).map(str)), max_size=18).map(" ".join)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_trajectory_files(workdir, data):
    folder = slot(workdir, "traj")
    kind = data.draw(st.sampled_from(["txt", "tcw", "npy"]))
    if kind == "npy":
        target = folder / "poses.npy"
        buf = io.BytesIO()
        np.save(buf, np.tile(np.eye(4), (3, 1, 1)))
        target.write_bytes(mutate_bytes(buf.getvalue(), data.draw))
        check(lambda: read_c2w_npy(target), target, (TrajectoryFormatError,))
        return
    target = folder / ("traj.txt" if kind == "txt" else "target_tcw.txt")
    if data.draw(st.booleans()):
        lines = data.draw(st.lists(NUMBERISH, max_size=5))
        target.write_text("\n".join(lines) + data.draw(st.sampled_from(["", "\n", "\n\n"])))
    else:
        seed = b"0 10 0\n0 5\n1 2\n" if kind == "txt" else (" ".join(["1"] * 16) + "\n").encode() * 2
        target.write_bytes(mutate_bytes(seed, data.draw))
    reader = read_trajectory_txt if kind == "txt" else read_tcw_txt
    check(lambda: reader(target), target, (TrajectoryFormatError,))


def test_the_guard_catches_writes_and_calls(workdir):
    """The harness can fail: a write or an os.system call inside the guard is reported."""
    folder = slot(workdir, "guard")
    with pytest.raises(AssertionError, match="files written"):
        with guard(folder):
            (folder / "x").write_text("1")
    with pytest.raises(AssertionError, match="code ran"):
        with guard(folder):
            os.system("true")
    with pytest.raises(AssertionError, match="code ran"):
        with guard(folder):
            pickle.loads(pickle.dumps(Hostile(sentinel, ("boom",))))  # the plain unpickler runs it
