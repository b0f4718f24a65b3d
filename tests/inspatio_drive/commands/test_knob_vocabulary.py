"""One dialect across commands: build-vocab reads the bundled sample with no data root and, when k is larger than
the data, says how many futures there are and what k fits; bench-data works at small sizes and names a size too
small for one scene; a ``+key`` outside a command's schema is refused like a misspelt key."""

from __future__ import annotations

import pytest
from safetensors import safe_open

from inspatio_drive.commands.cli import main
from inspatio_drive.config import ConfigError, compose


def test_build_vocab_k_larger_than_the_data(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    out = tmp_path / "v.safetensors"
    assert main(["build-vocab", "split=sample", f"output={out}", "k=64"]) == 2
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]  # after the progress bars
    assert err.startswith("inspatio-drive build-vocab: k: 64")
    n = int(err.split("has only ")[1].split()[0])
    assert f"expected k <= {n}" in err and n > 0
    assert main(["build-vocab", "split=sample", f"output={out}", f"k={n}", "iters=2"]) == 0  # the k it names fits
    with safe_open(out, "pt") as f:
        assert f.get_tensor("trajectories").shape[2] == n


def test_build_vocab_without_root_names_its_own_knob(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    assert main(["build-vocab", f"output={tmp_path / 'v.safetensors'}"]) == 2
    err = capsys.readouterr().err
    assert "data_root: not set for split 'trainval'" in err and "data.data_root" not in err


def test_bench_data_small_sizes(capsys):
    assert main(["bench-data", "num_logs=1", "frames_per_log=14", "image_logs=0", "scenes_phase=false"]) == 0
    assert "| metadata | 1 |" in capsys.readouterr().out
    assert main(["bench-data", "num_logs=1", "frames_per_log=5", "image_logs=0"]) == 2
    assert "frames_per_log: a scene spans 14 frames; expected >= 14, got 5" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["+eval.max_scene=3", "+foo=1"])
def test_added_key_outside_the_schema_is_refused(override):
    with pytest.raises(ConfigError, match="unknown key"):
        compose("evaluate", [override])


def test_added_config_group_is_still_allowed():
    assert compose("evaluate", ["+scorer=geometric_fc"]).scorer.model is not None


def test_metric_cache_reads_the_maps_root_of_the_data_group(monkeypatch):
    """``data.maps_root`` (the spelling of evaluate / closed-loop) is the metric-cache's maps root too; the
    top-level ``maps_root`` still overrides it."""
    monkeypatch.setenv("NUPLAN_MAPS_ROOT", "/from/env")
    assert compose("metric_cache", []).maps_root == "/from/env"
    assert compose("metric_cache", ["data.maps_root=/maps/a"]).maps_root == "/maps/a"
    assert compose("metric_cache", ["maps_root=/maps/b"]).maps_root == "/maps/b"
