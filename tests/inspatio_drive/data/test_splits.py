"""Scenes by navsim's split files: ``data.split=navtest`` reads ``navsim_logs/test`` through navtest's filter."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from inspatio_drive.config import compose
from inspatio_drive.data import SceneFilter, resolve_data_paths, scene_loader_from_config
from inspatio_drive.data.splits import SPLITS_DIR, available_splits, merge_scene_filters, navsim_split
from inspatio_drive.data.synthetic import write_synthetic_split
from inspatio_drive.data.writers import write_log

NAVTEST = yaml.safe_load((SPLITS_DIR / "navtest.yaml").read_text())["scene_filter"]


@pytest.fixture(scope="module")
def navtest_root(tmp_path_factory):
    """A data root whose ``navsim_logs/test`` holds one log of navtest (its name, three of its scene tokens at the
    current frames of windows 0, 1, 2) and one log that navtest does not list."""
    root = tmp_path_factory.mktemp("navtest_root")
    split = write_synthetic_split(root, num_logs=2, frames_per_log=20, split="test", sensors=False)
    log = NAVTEST["log_names"][0]
    tokens = NAVTEST["tokens"][:3]
    src = split.data_path / f"{split.log_names[0]}.pkl"
    frames = pickle.loads(src.read_bytes())
    for i, frame in enumerate(frames):
        frame["log_name"] = log
        if 3 <= i < 6:
            frame["token"] = tokens[i - 3]
    src.unlink()
    write_log(split.data_path / f"{log}.pkl", frames)
    return root, tokens


def test_shipped_split_files():
    assert available_splits() == ["navhard_two_stage", "navmini", "navtest"]
    navtest, navmini, navhard = (navsim_split(n) for n in ("navtest", "navmini", "navhard_two_stage"))
    assert (navtest.data_split, len(navtest.scene_filter["log_names"]), len(navtest.scene_filter["tokens"])) == ("test", 136, 12146)
    assert navtest.scene_filter["frame_interval"] == 1 and navtest.scene_filter["num_future_frames"] == 10
    assert (navmini.data_split, len(navmini.scene_filter["tokens"]), navmini.scene_filter["frame_interval"]) == ("mini", 396, None)
    assert (navhard.data_split, navhard.scene_filter["num_future_frames"], len(navhard.scene_filter["tokens"])) == ("test", 8, 450)
    assert all(len(t) == 16 for t in navhard.scene_filter["tokens"])  # first stage: original scenes
    # second stage, as navsim ships it: 5462 synthetic tokens, 225 mappings of (orig, prev) to 17-char pairs
    synthetic = navhard.scene_filter["reactive_synthetic_initial_tokens"]
    assert navhard.scene_filter["include_synthetic_scenes"] is True and len(synthetic) == len(set(synthetic)) == 5462
    mapping = navhard.reactive_all_mapping
    assert len(mapping) == 225 and sum(len(m[2]) for m in mapping) == 2731
    assert {m[0] for m in mapping} | {m[1] for m in mapping} == set(navhard.scene_filter["tokens"])
    assert {t for m in mapping for pair in m[2] for t in pair} == set(synthetic)
    assert all(len(t) == 17 for t in synthetic) and navtest.reactive_all_mapping is None
    assert navsim_split("test") is None and navsim_split("../configs/evaluate") is None


def test_navtest_resolves_to_the_test_folder_and_its_filter(navtest_root):
    root, tokens = navtest_root
    logs, blobs, _ = resolve_data_paths({"data_root": str(root), "split": "navtest"})
    assert logs == root / "navsim_logs" / "test" and blobs == root / "sensor_blobs" / "test"
    loader = scene_loader_from_config({"data_root": str(root), "split": "navtest"}, show_progress=False)
    assert loader.tokens == tokens  # navtest's tokens only; overlapping windows (frame_interval 1)
    assert loader.scene_filter.frame_interval == 1
    # the same folder as a plain split: every non-overlapping window of both logs
    plain = scene_loader_from_config({"data_root": str(root), "split": "test"}, show_progress=False)
    assert len(plain) == 2 and tokens[0] in plain.tokens  # one non-overlapping window per log, both logs


def test_data_scene_filter_narrows_the_split(navtest_root):
    root, tokens = navtest_root
    node = {"data_root": str(root), "split": "navtest"}
    assert scene_loader_from_config({**node, "scene_filter": {"tokens": [tokens[2], "nope"]}}, show_progress=False).tokens == [tokens[2]]
    assert scene_loader_from_config({**node, "scene_filter": {"max_scenes": 2}}, show_progress=False).tokens == tokens[:2]
    with pytest.raises(ValueError, match=r"data\.scene_filter\.num_future_frames=8 conflicts with navsim split 'navtest'"):
        scene_loader_from_config({**node, "scene_filter": {"num_future_frames": 8}}, show_progress=False)


def test_evaluate_config_accepts_navsim_split_names(navtest_root, monkeypatch):
    """The README's promise: ``evaluate data.split=navtest`` (it raised FileNotFoundError before)."""
    root, tokens = navtest_root
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    cfg = compose("evaluate", [f"data.data_root={root}", "data.split=navtest"])
    assert scene_loader_from_config(cfg.data, show_progress=False).tokens == tokens
    with pytest.raises(FileNotFoundError, match=r"navsim split 'navmini' reads navsim_logs/mini"):
        scene_loader_from_config(compose("evaluate", [f"data.data_root={root}", "data.split=navmini"]).data)


def test_split_file_errors_name_the_file(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("data_split: test\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: expected a mapping with 'data_split'"):
        navsim_split("bad", tmp_path)
    (tmp_path / "odd.yaml").write_text("data_split: test\nscene_filter: {windows: 3}\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['windows'\]"):
        navsim_split("odd", tmp_path)


def test_navsim_v2_scene_filter_yaml_with_synthetic_scenes(tmp_path: Path):
    """navsim's own navhard filter reads with its v2 keys; synthetic tokens without the switch warn, as navsim."""
    text = ("_target_: navsim.common.dataclasses.SceneFilter\nnum_future_frames: 8\ninclude_synthetic_scenes: {on}\n"
            "tokens: ['00016f8b45c25a1d']\nreactive_synthetic_initial_tokens: ['5421fa2f2e2b4cb13']\n"
            "synthetic_scene_tokens: ['5421fa2f2e2b4cb13']\n")
    (tmp_path / "on.yaml").write_text(text.format(on="true"))
    sf = SceneFilter.from_yaml(tmp_path / "on.yaml")
    assert sf.include_synthetic_scenes and sf.reactive_synthetic_initial_tokens == ["5421fa2f2e2b4cb13"]
    assert sf.synthetic_scene_tokens == ["5421fa2f2e2b4cb13"] and sf.num_future_frames == 8
    (tmp_path / "off.yaml").write_text(text.format(on="false"))
    with pytest.warns(UserWarning, match="include_synthetic_scenes is false"):
        sf = SceneFilter.from_yaml(tmp_path / "off.yaml")
    assert sf.tokens == ["00016f8b45c25a1d"] and not sf.include_synthetic_scenes
    (tmp_path / "bad.yaml").write_text("include_synthetic_scenes: 'yes'\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: SceneFilter\.include_synthetic_scenes must be a bool"):
        SceneFilter.from_yaml(tmp_path / "bad.yaml")


def test_navhard_second_stage_can_be_switched_off_and_narrowed():
    navhard = navsim_split("navhard_two_stage")
    synthetic = navhard.scene_filter["reactive_synthetic_initial_tokens"]
    assert merge_scene_filters(navhard, {})["include_synthetic_scenes"] is True
    off = merge_scene_filters(navhard, {"include_synthetic_scenes": False})
    assert off["include_synthetic_scenes"] is False and len(off["tokens"]) == 450
    narrowed = merge_scene_filters(navhard, {"reactive_synthetic_initial_tokens": [synthetic[3], "nope", synthetic[1]]})
    assert narrowed["reactive_synthetic_initial_tokens"] == [synthetic[3], synthetic[1]]
