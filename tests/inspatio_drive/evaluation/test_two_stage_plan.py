"""Which EPDMS evaluation ``evaluate`` runs (:func:`two_stage_plan`): two-stage on a split with
``reactive_all_mapping`` (navhard as shipped, or a split file), one-stage — and why — elsewhere; the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inspatio_drive.data.roots import DataConfig
from inspatio_drive.evaluation.run import two_stage_plan


def _plain(data: dict, **extra) -> dict:
    return {"metric": "epdms", "traffic": "reactive", "epdms": {"human_filter": "v2.2"},
            "eval": {"two_stage": "auto"}, "data": data, **extra}


def test_navhard_is_two_stage_with_reactive_traffic():
    mappings, why = two_stage_plan(_plain({"data_root": "/nowhere", "split": "navhard_two_stage"}))
    assert mappings is not None and len(mappings) == 225 and why.startswith("two-stage EPDMS")
    assert all(len(m.pairs) >= 1 and all(len(a) == 17 for a, _ in m.pairs) for m in mappings)
    with pytest.raises(ValueError, match="traffic=reactive"):
        two_stage_plan({**_plain({"data_root": "/nowhere", "split": "navhard_two_stage"}), "traffic": "log_replay"})
    off, why = two_stage_plan({**_plain({"data_root": "/nowhere", "split": "navhard_two_stage"}),
                               "eval": {"two_stage": "off"}})
    assert off is None and "two_stage=off" in why


def test_split_without_mapping_is_one_stage_and_says_so():
    mappings, why = two_stage_plan(_plain({"split": "sample"}))
    assert mappings is None and "no reactive_all_mapping" in why
    assert two_stage_plan({"metric": "pdms", "data": {"split": "sample"}}) == (None, "")
    with pytest.raises(ValueError, match=r"eval\.two_stage"):
        two_stage_plan({**_plain({"split": "sample"}), "eval": {"two_stage": "yes"}})


def test_split_file_anywhere(tmp_path: Path):
    path = tmp_path / "made" / "split.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({
        "data_split": "sample",
        "scene_filter": {"num_history_frames": 4, "num_future_frames": 8, "frame_interval": 1,
                         "include_synthetic_scenes": True, "tokens": ["a" * 16, "b" * 16],
                         "synthetic_scene_tokens": ["c" * 17, "d" * 17]},
        "reactive_all_mapping": [["a" * 16, "b" * 16, [["c" * 17, "d" * 17]]]]}))
    cfg = DataConfig.from_node({"split": "sample", "split_file": str(path)})
    assert cfg.navsim_split().data_split == "sample"
    mappings, _ = two_stage_plan(_plain({"split": "sample", "split_file": str(path)}))
    assert mappings is not None and mappings[0].pairs == (("c" * 17, "d" * 17),)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"data_split": "sample", "scene_filter": {}, "reactive_all_mapping": [["a", "b"]]}))
    with pytest.raises(ValueError, match="reactive_all_mapping\\[0\\]"):
        two_stage_plan(_plain({"split": "sample", "split_file": str(bad)}))
