"""Metric-cache store: round trip, manifest versions, missing entries reported, failures recorded."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from pdm_cache_golden import GOLDEN, load_golden_scene_input

from inspatio_drive.pdm.cache.split import build_cache_for_split
from inspatio_drive.pdm.cache.storage import MetricCacheStore, MissingCacheEntriesError


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("cache")
    scene_a = load_golden_scene_input("a")
    broken = copy.deepcopy(load_golden_scene_input("c"))
    broken.frames[broken.current_index].token = "broken_token"
    broken.frames[broken.current_index].roadblock_ids = ["99999"]
    report = build_cache_for_split([scene_a, broken], GOLDEN / "maps", root, progress=False)
    return root, report


def test_split_build_records_failures(built_store: tuple[Path, object]) -> None:
    root, report = built_store
    assert report.built == ["6a0246071aa0fcae"]
    assert list(report.failed) == ["broken_token"] and "99999" in report.failed["broken_token"]
    man = json.loads((root / "manifest.json").read_text())
    assert man["failed"]["broken_token"] == report.failed["broken_token"]
    assert man["num_entries"] == 1
    # nothing but JSON and npz on disk
    suffixes = {p.suffix for p in root.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".npz"}


def test_store_roundtrip_and_missing(built_store: tuple[Path, object]) -> None:
    root, _ = built_store
    store = MetricCacheStore.open(root, create=False)
    cache = store.load("6a0246071aa0fcae")
    with np.load(GOLDEN / "scene_a" / "arrays.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(cache.trajectory_states, z["pdm_closed_traj_states_global"], atol=1e-9)
        np.testing.assert_allclose(
            cache.observation.corners, z["obs_polygons_global"], atol=1e-9, equal_nan=True
        )
    with pytest.raises(MissingCacheEntriesError, match="2 of 3 requested scenes") as exc:
        store.load_many(["6a0246071aa0fcae", "x1", "x2"])
    assert exc.value.missing == ["x1", "x2"]
    caches, missing = store.load_many(["6a0246071aa0fcae", "x1"], strict=False)
    assert list(caches) == ["6a0246071aa0fcae"] and missing == ["x1"]
    # the index can be rebuilt from the folders
    store.entries = {}
    assert store.rebuild_index() == 1 and "6a0246071aa0fcae" in store


def test_second_run_skips_and_version_mismatch_is_an_error(
    built_store: tuple[Path, object], tmp_path: Path
) -> None:
    root, _ = built_store
    report = build_cache_for_split([load_golden_scene_input("a")], GOLDEN / "maps", root, progress=False)
    assert report.skipped == ["6a0246071aa0fcae"] and not report.built
    man = json.loads((root / "manifest.json").read_text())
    man["builder"] = "navsim-v0/0"
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="rebuild"):
        MetricCacheStore.open(tmp_path)
    with pytest.raises(FileNotFoundError):
        MetricCacheStore.open(tmp_path / "nothing", create=False)


def test_parallel_build_equals_sequential(built_store: tuple[Path, object], tmp_path: Path) -> None:
    root, _ = built_store
    scenes = [load_golden_scene_input("a"), load_golden_scene_input("c")]
    report = build_cache_for_split(scenes, GOLDEN / "maps", tmp_path, progress=False, workers=2)
    assert sorted(report.built) == ["6a0246071aa0fcae", "a9a7495188971479"] and not report.failed
    par = MetricCacheStore.open(tmp_path, create=False)
    seq = MetricCacheStore.open(root, create=False).load("6a0246071aa0fcae")
    got = par.load("6a0246071aa0fcae")
    np.testing.assert_array_equal(got.trajectory_states, seq.trajectory_states)
    np.testing.assert_array_equal(got.centerline.path, seq.centerline.path)
    assert len(par) == 2


def test_cli_builds_a_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inspatio_drive.commands.metric_cache import main

    rc = main(
        [
            f"data.data_root={GOLDEN}",
            "data.split=golden_c",
            "data.show_progress=false",
            f"data.maps_root={GOLDEN / 'maps'}",
            f"cache_path={tmp_path / 'cache'}",
            "progress=false",
            f"bev.out_dir={tmp_path / 'bev'}",
            "bev.max_scenes=1",
            "builder.lateral_offsets=[-1.0,1.0]",
        ]
    )
    assert rc == 0
    assert "built 1" in capsys.readouterr().out
    assert MetricCacheStore.open(tmp_path / "cache", create=False).tokens == ["a9a7495188971479"]
    assert (tmp_path / "bev" / "bev_a9a7495188971479.png").is_file()
    assert main([f"data.data_root={GOLDEN}", "maps_root=null"]) == 2  # the old spelling: renamed data.maps_root
    assert "maps_root: renamed data.maps_root" in capsys.readouterr().err
    assert main([f"data.data_root={GOLDEN}", "data.maps_root=/nonexistent/maps"]) == 2
    assert "data.maps_root: /nonexistent/maps is not a folder" in capsys.readouterr().err


def test_cli_maps_root_defaults_to_data_root_maps(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No maps root anywhere (no data.maps_root, no $NUPLAN_MAPS_ROOT): <data_root>/maps, as in every command."""
    from inspatio_drive.commands.metric_cache import main

    monkeypatch.delenv("NUPLAN_MAPS_ROOT", raising=False)
    args = [f"data.data_root={GOLDEN}", "data.split=golden_c", "data.show_progress=false", "progress=false",
            f"cache_path={tmp_path / 'cache'}"]
    assert main(args) == 0
    assert MetricCacheStore.open(tmp_path / "cache", create=False).tokens == ["a9a7495188971479"]


def test_bench_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from inspatio_drive.commands.bench_metric_cache import main

    assert main(["repeats=1", "data.split=golden_c"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scenes"] == 1 and report["median_ms_per_scene"] > 0
    assert set(report["stage_cpu_ms"]) >= {"pdm_closed_proposals", "pdm_closed_simulation", "observation"}
