"""The sandbox as a navsim dataset: log pickles that numpy 1.x unpickles (navsim's environment pins numpy 1.x) and
maps under nuPlan's location names, laid out where nuplan-devkit's maps DB looks for them."""

from __future__ import annotations

import importlib
import io
import json
import logging
import pickle
import pickletools

import numpy as np
import pytest

from inspatio_drive.data import safe_load
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from inspatio_drive.data.writers import write_log
from inspatio_drive.maps import load_map
from inspatio_drive.sandbox.gpkg import MAP_VERSION, navsim_location

# nuplan-devkit's GPKGMapsDB (nuplan/database/maps_db/gpkg_mapsdb.py) knows the dimensions of exactly these four
# locations, and navsim opens maps with get_maps_api(NUPLAN_MAPS_ROOT, "nuplan-maps-v1.0", map_name).
NUPLAN_LOCATIONS = {"sg-one-north", "us-ma-boston", "us-nv-las-vegas-strip", "us-pa-pittsburgh-hazelwood"}
NAVSIM_MAP_VERSION = "nuplan-maps-v1.0"


class Numpy1Unpickler(pickle.Unpickler):
    """Resolves globals as numpy 1.x does: ``numpy._core`` does not exist there (ModuleNotFoundError, the error
    navsim's environment gave on the former sample); ``numpy.core.*`` is numpy's own module (here: numpy 2's
    ``numpy._core`` equivalent, which is what numpy 2 maps the old names to)."""

    def find_class(self, module: str, name: str):
        if module == "numpy._core" or module.startswith("numpy._core."):
            raise ModuleNotFoundError(f"No module named {module!r} (numpy 1.x)")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core", 1)), name)
        return super().find_class(module, name)


def _globals(data: bytes) -> set[str]:
    """Modules named by a protocol-4 pickle's STACK_GLOBAL / GLOBAL opcodes."""
    strings, out = [], set()
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            out.add(strings[-2])
        elif op.name == "GLOBAL":
            out.add(arg.split(" ")[0])
    return out


def _sample_logs():
    return sorted((sample_root() / "navsim_logs" / SAMPLE_SPLIT).glob("*.pkl"))


@pytest.mark.parametrize("index", range(3))
def test_sample_logs_unpickle_under_numpy_1(index):
    path = _sample_logs()[index]
    data = path.read_bytes()
    assert not any(m.startswith("numpy._core") for m in _globals(data))
    frames = Numpy1Unpickler(io.BytesIO(data)).load()
    ours = safe_load(path)
    assert len(frames) == len(ours) == 14
    np.testing.assert_array_equal(frames[3]["ego2global_translation"], ours[3]["ego2global_translation"])
    assert frames[3]["cams"]["CAM_F0"]["cam_intrinsic"].dtype == np.float64


def test_written_logs_keep_numpy_types_and_values(tmp_path):
    frames = [{"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "n": np.array(["car", "cone"]),
               "i": np.int64(7), "plain": [1, "x", None]}]
    path = write_log(tmp_path / "log.pkl", frames)
    back = Numpy1Unpickler(io.BytesIO(path.read_bytes())).load()
    assert back[0]["a"].dtype == np.float32 and back[0]["a"].tolist() == frames[0]["a"].tolist()
    assert type(back[0]["s"]) is np.float64 and back[0]["s"] == 2.5 and type(back[0]["i"]) is np.int64
    assert back[0]["n"].tolist() == ["car", "cone"] and back[0]["plain"] == [1, "x", None]
    assert pickle.loads(path.read_bytes())[0]["a"].tolist() == frames[0]["a"].tolist()  # numpy 2 reads it too


def test_sample_maps_pass_navsims_map_name_check():
    root = sample_root()
    index = json.loads((root / "maps" / f"{NAVSIM_MAP_VERSION}.json").read_text())
    names = {safe_load(p)[0]["map_location"] for p in _sample_logs()}
    assert len(names) == 3 and names <= NUPLAN_LOCATIONS
    for name in names:
        assert index[name]["version"] == MAP_VERSION and "layers" in index[name]
        gpkg = root / "maps" / name / index[name]["version"] / "map.gpkg"  # GPKGMapsDB._get_gpkg_file_path
        assert gpkg.is_file() and load_map(root / "maps", name).path.resolve() == gpkg.resolve()


def test_navsim_location_gives_each_world_its_own_nuplan_name(tmp_path, caplog):
    maps = tmp_path / "maps"
    maps.mkdir()
    taken = {}
    for i in range(4):
        loc = navsim_location(maps, f"w{i}")
        assert loc in NUPLAN_LOCATIONS and loc not in taken.values()
        taken[f"w{i}"] = loc
        index = json.loads((maps / f"{NAVSIM_MAP_VERSION}.json").read_text()) if i else {}
        index[loc] = {"version": MAP_VERSION, "layers": {}, "sandbox_world": f"w{i}"}
        (maps / f"{NAVSIM_MAP_VERSION}.json").write_text(json.dumps(index))
    assert navsim_location(maps, "w2") == taken["w2"]  # rewriting a world keeps its location
    with caplog.at_level(logging.WARNING):
        assert navsim_location(maps, "w4") == "w4"
    assert "navsim cannot open" in caplog.text
