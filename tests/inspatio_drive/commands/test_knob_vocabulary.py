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
    assert main(["build-vocab", "data.split=sample", f"output={out}", "k=64"]) == 2
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]  # after the progress bars
    assert err.startswith("inspatio-drive build-vocab: k: 64")
    n = int(err.split("has only ")[1].split()[0])
    assert f"expected k <= {n}" in err and n > 0
    assert main(["build-vocab", "data.split=sample", f"output={out}", f"k={n}", "iters=2"]) == 0  # the k it names fits
    with safe_open(out, "pt") as f:
        assert f.get_tensor("trajectories").shape[2] == n


def test_build_vocab_without_root_names_its_own_knob(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    assert main(["build-vocab", f"output={tmp_path / 'v.safetensors'}"]) == 2
    err = capsys.readouterr().err
    assert "data.data_root: not set for split 'trainval'" in err


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
    """``data.maps_root`` (the spelling of every command, ``$NUPLAN_MAPS_ROOT`` by default) is the metric-cache's
    maps root; the old top-level ``maps_root`` is refused naming the new key."""
    monkeypatch.setenv("NUPLAN_MAPS_ROOT", "/from/env")
    assert compose("metric_cache", []).data.maps_root == "/from/env"
    assert compose("metric_cache", ["data.maps_root=/maps/a"]).data.maps_root == "/maps/a"
    with pytest.raises(ConfigError, match=r"^maps_root: renamed data\.maps_root"):
        compose("metric_cache", ["maps_root=/maps/b"])


# ------------------------------------------------------------------ one spelling of the data knobs (issue 18 item 5)

# every command that reads scenes, and the data keys it must take (render has no maps: it renders the logs' points)
DATA_COMMANDS = {
    "evaluate": ("data_root", "split", "maps_root", "scene_token"),
    "closed_loop": ("data_root", "split", "maps_root", "scene_token"),
    "pdm_score": ("data_root", "split", "maps_root", "scene_token"),
    "metric_cache": ("data_root", "split", "maps_root", "scene_token"),
    "build_vocab": ("data_root", "split", "maps_root", "scene_token"),
    "bench_metric_cache": ("data_root", "split", "maps_root"),
    "bench_evaluate": ("data_root", "split", "maps_root", "scene_token"),
    "render": ("data_root", "split", "scene_token"),
    "train_drivor_fc": ("data_root", "maps_root", "scene_token"),
}


@pytest.mark.parametrize("name", sorted(DATA_COMMANDS))
def test_every_command_spells_the_data_knobs_in_the_data_node(name):
    overrides = ["candidates=c.json"] if name == "pdm_score" else []
    cfg = compose(name, overrides)
    assert set(DATA_COMMANDS[name]) <= set(cfg.data.keys())
    assert not {"data_root", "maps_root", "token", "trajectory"} & set(cfg.keys())
    assert "split" not in cfg.keys()


@pytest.mark.parametrize(
    "name, old, new",
    [("pdm_score", "data_root", "data.data_root"), ("pdm_score", "token", "data.scene_token"),
     ("pdm_score", "split", "data.split"), ("pdm_score", "maps_root", "data.maps_root"),
     ("build_vocab", "data_root", "data.data_root"), ("build_vocab", "split", "data.split"),
     ("metric_cache", "maps_root", "data.maps_root"), ("bench_metric_cache", "data_root", "data.data_root"),
     ("bench_evaluate", "split", "data.split"), ("render", "trajectory", "candidates")],
)
def test_old_spelling_is_refused_naming_the_new_key(name, old, new):
    overrides = ["candidates=c.json"] if name == "pdm_score" else []
    with pytest.raises(ConfigError, match=rf"^{old}: renamed {new.replace('.', r'[.]')}"):
        compose(name, [*overrides, f"{old}=x"])


def test_old_spelling_on_the_command_line_is_one_line_exit_2(capsys):
    assert main(["pdm-score", "candidates=c.json", "data_root=/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("inspatio-drive pdm-score: ")
    assert err.endswith("data_root: renamed data.data_root (one spelling in every command)")


def test_maps_root_default_is_one_rule(monkeypatch, tmp_path):
    """``data.maps_root`` null → ``<data_root>/maps`` (DataConfig.maps_dir); ``data=openscene`` reads
    ``$NUPLAN_MAPS_ROOT`` first, in every command that composes it."""
    from inspatio_drive.data import DataConfig

    assert DataConfig(data_root=str(tmp_path)).maps_dir() == tmp_path / "maps"
    assert DataConfig(data_root=str(tmp_path), maps_root="/m").maps_dir().as_posix() == "/m"
    monkeypatch.setenv("NUPLAN_MAPS_ROOT", "/env/maps")
    for name in ("evaluate", "closed_loop", "pdm_score"):
        extra = ["candidates=c.json"] if name == "pdm_score" else []
        assert compose(name, [*extra, "data=openscene"]).data.maps_root == "/env/maps"
    assert compose("metric_cache", []).data.maps_root == "/env/maps"
    assert compose("build_vocab", []).data.maps_root == "/env/maps"


def test_scene_token_keeps_one_scene_in_every_loader():
    """``data.scene_token`` is honoured by the one loader builder (evaluate / closed-loop keep that scene only)."""
    from inspatio_drive.data import scene_loader_from_config

    every = scene_loader_from_config({"split": "sample"}, sensors="none", show_progress=False).tokens
    assert len(every) > 1
    one = scene_loader_from_config({"split": "sample", "scene_token": every[1]}, sensors="none", show_progress=False)
    assert one.tokens == [every[1]]


def test_split_null_is_the_only_split_folder(tmp_path):
    from inspatio_drive.data import DataConfig

    assert DataConfig(split=None).split_name() == "sample"  # no data root: the bundled sample
    (tmp_path / "navsim_logs" / "mini").mkdir(parents=True)
    assert DataConfig(data_root=str(tmp_path), split=None).split_name() == "mini"
    (tmp_path / "navsim_logs" / "test").mkdir()
    with pytest.raises(ValueError, match=r"data\.split: not set and .* holds 2 split folders"):
        DataConfig(data_root=str(tmp_path), split=None).split_name()


def test_pdm_score_on_the_bundled_sample_needs_only_a_scene_token(tmp_path, capsys, monkeypatch):
    """No data root → the bundled sample, as in evaluate / render; the token is ``data.scene_token``."""
    import json

    import numpy as np

    from inspatio_drive.data import scene_loader_from_config

    monkeypatch.delenv("INSPATIO_SAMPLE_ROOT", raising=False)
    token = scene_loader_from_config({"split": "sample"}, sensors="none", show_progress=False).tokens[0]
    cands = tmp_path / "c.npy"
    np.save(cands, np.zeros((2, 8, 3)))
    out = tmp_path / "s.json"
    assert main(["pdm-score", f"candidates={cands}", f"data.scene_token={token}", f"output={out}"]) == 0
    doc = json.loads(out.read_text())
    assert doc["token"] == token and doc["num_candidates"] == 2
    capsys.readouterr()
    assert main(["pdm-score", f"candidates={cands}", "output=-"]) == 2
    assert "data.scene_token: required" in capsys.readouterr().err
