"""Every ``configs/data`` node has one schema (``DataConfig``) and builds a loader through the one builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspatio_drive.config import CONFIG_DIR, compose
from inspatio_drive.data import DataConfig, SensorConfig, resolve_data_paths, scene_loader_from_config
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root

DATA_CONFIGS = sorted(p.stem for p in (CONFIG_DIR / "data").glob("*.yaml"))


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_builds_a_loader_on_the_sample(name, monkeypatch):
    for var in ("OPENSCENE_DATA_ROOT", "NUPLAN_MAPS_ROOT", "INSPATIO_SAMPLE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    overrides = [f"data.data_root={sample_root()}", f"data.split={SAMPLE_SPLIT}", "data.maps_root=null"]
    node = compose(f"data/{name}", overrides).data
    assert isinstance(DataConfig.from_node(node), DataConfig)
    loader = scene_loader_from_config(node, show_progress=False)
    assert len(loader) > 0
    logs, blobs, maps = resolve_data_paths(node)
    assert logs == sample_root() / "navsim_logs" / SAMPLE_SPLIT and maps == sample_root() / "maps"
    assert blobs == sample_root() / "sensor_blobs" / SAMPLE_SPLIT


def test_null_root_is_the_bundled_sample_only_for_split_sample():
    loader = scene_loader_from_config({"split": SAMPLE_SPLIT}, show_progress=False)
    assert len(loader) > 0 and loader.sensor_config == SensorConfig.build_no_sensors()
    with pytest.raises(ValueError, match="OPENSCENE_DATA_ROOT"):
        scene_loader_from_config({"split": "test"})


def test_sensors_override_and_sensor_split(tmp_path: Path):
    loader = scene_loader_from_config({"split": SAMPLE_SPLIT, "sensor_config": "none"}, sensors="drivor",
                                      show_progress=False)
    assert loader.sensor_config == SensorConfig.build_drivor()
    _, blobs, _ = resolve_data_paths({"split": SAMPLE_SPLIT, "sensor_split": "other"})
    assert blobs == sample_root() / "sensor_blobs" / "other"


def test_old_and_unknown_keys_are_refused():
    with pytest.raises(ValueError, match=r"data\.openscene_data_root was renamed: use data\.data_root"):
        scene_loader_from_config({"openscene_data_root": str(sample_root()), "split": SAMPLE_SPLIT})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['splt'\]"):
        DataConfig.from_node({"splt": "x"})
