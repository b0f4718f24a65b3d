"""EPDMS bad input, knobs, on-disk store and one-stage aggregation (golden scenes C and D as material)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import load_golden

from inspatio_drive.pdm.cache.epdms import red_lights_of_scene
from inspatio_drive.pdm.cache.storage import MetricCacheStore
from inspatio_drive.pdm.types import MetricCache
from inspatio_drive.pdm.v2.aggregate import FrameResult, adjacent_previous, one_stage_rows
from inspatio_drive.pdm.v2.cache import SYNTHETIC, EPDMSCache, scene_type_of_token
from inspatio_drive.pdm.v2.scorer import (
    EC_COLUMN,
    SUBMETRICS,
    EPDMSConfig,
    PreviousFrame,
    final_scores,
    score_epdms,
)


@pytest.fixture(scope="module")
def scene_d(golden_map):
    return load_golden("d", golden_map)


@pytest.fixture(scope="module")
def scene_c(golden_map):
    return load_golden("c", golden_map)


def test_scene_type_by_token_length():
    assert scene_type_of_token("a" * 17) == SYNTHETIC
    assert scene_type_of_token("a" * 16) == "ORIGINAL" and scene_type_of_token("a" * 18) == "ORIGINAL"


def test_save_load_round_trip_scores_the_same(scene_d, tmp_path: Path):
    d = scene_d.main.save(tmp_path / "d")
    back = EPDMSCache.load(d)
    assert back.red_lights.tokens == scene_d.main.red_lights.tokens
    np.testing.assert_array_equal(back.red_lights.active, scene_d.main.red_lights.active)
    np.testing.assert_array_equal(back.past_states, scene_d.main.past_states)
    a = score_epdms(scene_d.main, scene_d.poses)
    b = score_epdms(back, scene_d.poses)
    for col in (*SUBMETRICS, "score"):
        np.testing.assert_array_equal(a[col], b[col])


def test_v11_and_v2_caches_refused_by_the_other_scorer(scene_d, tmp_path: Path):
    v2_dir = scene_d.main.save(tmp_path / "v2")
    v1_dir = scene_d.main.base.save(tmp_path / "v1")
    with pytest.raises(ValueError, match=r"NAVSIM v2 \(EPDMS\) metric cache"):
        MetricCache.load(v2_dir)
    with pytest.raises(ValueError, match=r"NAVSIM v1.1 \(PDMS\) metric cache"):
        EPDMSCache.load(v1_dir)
    with pytest.raises(TypeError, match=r"v1.1 \(PDMS\) metric cache"):
        score_epdms(scene_d.main.base, scene_d.poses)  # type: ignore[arg-type]


def test_stores_of_the_other_metric_refused(scene_d, tmp_path: Path):
    store = MetricCacheStore.open(tmp_path / "s2", metric="epdms")
    store.save(scene_d.main)
    store.write_manifest()
    assert isinstance(MetricCacheStore.open(tmp_path / "s2", metric="epdms").load(scene_d.main.token), EPDMSCache)
    with pytest.raises(ValueError, match=r"holds NAVSIM v2 \(EPDMS\) caches, metric=pdms"):
        MetricCacheStore.open(tmp_path / "s2")
    v1 = MetricCacheStore.open(tmp_path / "s1")
    v1.save(scene_d.main.base)
    v1.write_manifest()
    with pytest.raises(ValueError, match=r"holds NAVSIM v1.1 \(PDMS\) caches, metric=epdms"):
        MetricCacheStore.open(tmp_path / "s1", metric="epdms")
    with pytest.raises(TypeError, match="epdms store cannot hold a MetricCache"):
        MetricCacheStore.open(tmp_path / "s3", metric="epdms").save(scene_d.main.base)


@pytest.mark.parametrize("name", ["arrays.npz", "epdms.npz", "manifest.json"])
def test_truncated_cache_file_names_the_path(scene_d, tmp_path: Path, name: str):
    d = scene_d.main.save(tmp_path / "t")
    path = d / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        EPDMSCache.load(d)


def test_human_filter_variants_say_which(scene_d):
    """D: the human's LK is 0. v2.2 sets LK = 1 and it reaches the score; pre_151 shows LK = 1 but scores the
    unfiltered LK; off leaves LK as simulated."""
    v22 = score_epdms(scene_d.main, scene_d.poses, EPDMSConfig(human_filter="v2.2"))
    pre = score_epdms(scene_d.main, scene_d.poses, EPDMSConfig(human_filter="pre_151"))
    off = score_epdms(scene_d.main, scene_d.poses, EPDMSConfig(human_filter="off"))
    changed = v22.raw["lane_keeping"] == 0.0
    assert changed.any()
    np.testing.assert_array_equal(pre["lane_keeping"], v22["lane_keeping"])
    np.testing.assert_array_equal(off["lane_keeping"], v22.raw["lane_keeping"])
    np.testing.assert_allclose(pre["score"], final_scores(v22.raw, None), rtol=0, atol=0)
    assert (pre["score"][changed] <= v22["score"][changed]).all()
    assert (pre["score"][changed] < v22["score"][changed]).any()
    np.testing.assert_array_equal(off["score"], pre["score"])
    for res, label, applied in ((v22, "v2.2", True), (pre, "pre_151", True), (off, "off", False)):
        assert {r["human_filter"] for r in res.to_rows()} == {label}
        assert {r["human_filter_applied"] for r in res.to_rows()} == {applied}
    with pytest.raises(ValueError, match=r"epdms\.human_filter"):
        EPDMSConfig(human_filter="v2.1")


def test_synthetic_scene_without_human_is_not_filtered(scene_d):
    synthetic = dataclasses.replace(scene_d.main, scene_type=SYNTHETIC, human_trajectory=None)
    r = score_epdms(synthetic, scene_d.poses)
    assert r.valid.all() and not r.human_filter_applied and r.human is None
    for col in SUBMETRICS:
        np.testing.assert_array_equal(r[col], r.raw[col])


def test_original_scene_without_human_is_a_documented_invalid_row(scene_d):
    broken = dataclasses.replace(scene_d.main, human_trajectory=None)
    r = score_epdms(broken, scene_d.poses)
    assert not r.valid.any()
    rows = r.to_rows()
    assert all("no human trajectory" in row["reason"] and row["valid"] is False for row in rows)


def test_unknown_traffic_light_state_is_an_error(scene_c, golden_map):
    scene = copy.deepcopy(scene_c.loader.get_scene_from_token(scene_c.candidates["main_token"]))
    frame = scene.frames[scene.current_index + 2]
    frame.traffic_lights = [(lc, "unknown") for lc, _ in frame.traffic_lights]
    with pytest.raises(ValueError, match=f"frame {frame.token}: traffic light .* status 'unknown'"):
        red_lights_of_scene(scene, golden_map)


def test_previous_frame_must_be_just_before(scene_d):
    with pytest.raises(ValueError, match=r"0 < Δt < 0\.55"):
        score_epdms(scene_d.main, scene_d.poses, previous=PreviousFrame(scene_d.main, scene_d.poses))
    with pytest.raises(ValueError, match=r"0 < Δt < 0\.55"):
        score_epdms(scene_d.prev, scene_d.poses, previous=PreviousFrame(scene_d.main, scene_d.poses))
    with pytest.raises(ValueError, match="3 previous plans for 10 candidates"):
        score_epdms(scene_d.main, scene_d.poses, previous=PreviousFrame(scene_d.prev, scene_d.poses[:3]))


def test_reactive_traffic_needs_the_map_and_unknown_policies_are_refused(scene_d):
    with pytest.raises(ValueError, match="traffic=reactive needs the scene's map"):
        score_epdms(scene_d.main, scene_d.poses, traffic="reactive")
    with pytest.raises(ValueError, match="traffic: expected one of"):
        score_epdms(scene_d.main, scene_d.poses, traffic="idm")


def test_one_stage_rows_pair_within_a_log(scene_d):
    """navsim one-stage: the later scene of a log gets EC from the earlier one, the first has EC NaN (weight
    dropped); matches the golden final scores for the human plan at both frames."""
    k = scene_d.names.index("human_gt")
    main = score_epdms(scene_d.main, scene_d.poses[k : k + 1])
    prev_plan = np.array(scene_d.candidates["prev_plan_human_gt_local_xyh"])
    prev = score_epdms(scene_d.prev, prev_plan)
    frames = [
        FrameResult(c.token, c.log_name, c.time_s, c.scene_type, {m: float(r[m][0]) for m in SUBMETRICS}, r.states[0])
        for c, r in ((scene_d.main, main), (scene_d.prev, prev))
    ]
    assert adjacent_previous(frames) == {scene_d.main.token: scene_d.prev.token}
    rows = one_stage_rows(frames)
    assert [r["token"] for r in rows] == [scene_d.main.token, scene_d.prev.token, "average_all_frames"]
    gold = scene_d.results["human_gt"]["one_stage_final"]["prev_plan_human_gt"]
    assert rows[0][EC_COLUMN] == gold["two_frame_extended_comfort"]
    assert abs(rows[0]["score"] - gold["score"]) <= 1e-6
    assert np.isnan(rows[1][EC_COLUMN])
    assert abs(rows[1]["score"] - final_scores({m: [rows[1][m]] for m in SUBMETRICS}, None)[0]) <= 1e-12
    assert rows[2][EC_COLUMN] == rows[0][EC_COLUMN]  # NaN skipped
    assert abs(rows[2]["score"] - (rows[0]["score"] + rows[1]["score"]) / 2) <= 1e-12
    other_log = dataclasses.replace(frames[1], log_name="another_log")
    assert adjacent_previous([frames[0], other_log]) == {}
    json.dumps(rows[:1])  # serialisable
