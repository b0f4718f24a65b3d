"""``inspatio-drive render`` speaks pdm-score's dialect: with no data root it renders the bundled sample (no need to
know that its split is called ``sample``; no token: the first scene), it reads pdm-score's candidate files, and its
grid.png says what it shows (camera, time of each column, candidate of each row, a legend for holes)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from inspatio_drive.commands.cli import main
from inspatio_drive.data import scene_loader_from_config

SMALL = ["source=navsim", "image_size=[64,36]", "fps=2", "grid.image_size=[64,36]"]


def _first_sample_token() -> str:
    return scene_loader_from_config({"data_root": None, "split": "sample"}, sensors="none",
                                    show_progress=False).tokens[0]


def test_render_the_bundled_sample_without_root_split_or_token(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    out = tmp_path / "r"
    assert main(["render", *SMALL, f"output_dir={out}"]) == 0
    meta = json.loads((out / "condition.json").read_text())
    assert meta["scene_token"] == _first_sample_token()
    grid = np.asarray(Image.open(out / "grid.png").convert("RGB"))
    # labelled: a white margin with dark text above and left of the 8 tiles of 64 x 36, a magenta legend below
    assert grid.shape[0] > 36 + 20 and grid.shape[1] > 8 * 64 + 20
    assert (grid[:20].min(axis=-1) < 100).sum() > 50, "the title / time labels are drawn"
    assert (grid[:, :30].min(axis=-1) < 100).sum() > 20, "the row labels are drawn"
    legend = grid[-16:]
    assert ((legend[..., 0] > 200) & (legend[..., 1] < 60) & (legend[..., 2] > 200)).sum() > 20, "hole legend"


def test_render_reads_pdm_score_candidate_files(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    t = np.arange(1, 9) * 0.5
    cands = [[[2.0 * s * ti, 0.0, 0.0] for ti in t] for s in (1.0, 2.0, 3.0)]
    path = tmp_path / "cands.json"
    path.write_text(json.dumps({"trajectories": cands, "names": ["slow", "mid", "fast"]}))
    out = tmp_path / "r"
    assert main(["render", *SMALL, f"candidates={path}", "candidate=2", f"output_dir={out}"]) == 0
    meta = json.loads((out / "condition.json").read_text())
    assert meta["candidate"] == 2
    grid = np.asarray(Image.open(out / "grid.png").convert("RGB"))
    assert grid.shape[0] > 3 * 36  # three candidate rows


CAMERAS_ONLY = ("data.sensor_config={cam_f0:true,cam_l0:true,cam_l1:false,cam_l2:false,cam_r0:true,cam_r1:false,"
                "cam_r2:false,cam_b0:true,lidar_pc:false}")


def test_render_a_scene_without_lidar_from_camera_depth(tmp_path, monkeypatch, capsys):
    """Issue 22: a scene without LiDAR renders with a camera depth backend (here the sandbox oracle's true depth
    of the bundled sandbox sample); with depth=lidar it is the one-line 'no LiDAR sweep loaded' error."""
    monkeypatch.delenv("OPENSCENE_DATA_ROOT", raising=False)
    out = tmp_path / "r"
    assert main(["render", *SMALL, CAMERAS_ONLY, f"output_dir={out}"]) == 2
    assert "no LiDAR sweep loaded" in capsys.readouterr().err
    args = ["render", *SMALL, CAMERAS_ONLY, "depth=oracle", "mono.stride=8", f"mono.ply_dir={tmp_path / 'ply'}",
            f"output_dir={out}"]
    assert main(args) == 0
    meta = json.loads((out / "condition.json").read_text())
    assert meta["depth"] == "oracle"
    assert (tmp_path / "ply" / "fused.ply").is_file() and (tmp_path / "ply" / "frame_3.ply").is_file()
    assert main(["render", *SMALL, CAMERAS_ONLY, "depth=lidar+mono", "mono.backend=da3", f"output_dir={out}"]) == 2
    err = capsys.readouterr().err  # one line: the package is absent (or, installed, no checkpoint folder is set)
    assert ("depth-anything-3 package" in err or "mono.model_dir" in err) and err.count("\n") == 1
