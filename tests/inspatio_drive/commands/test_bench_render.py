import json

import numpy as np

from inspatio_drive.commands.bench_render import fan_of_candidates, main


def test_fan_of_candidates_is_a_proper_fan():
    f = fan_of_candidates(64, 8)
    assert f.shape == (64, 8, 3)
    assert np.all(f[:, :, 0] > 0)  # all drive forward
    assert f[:, -1, 1].min() < -3 and f[:, -1, 1].max() > 3  # both sides
    assert len(np.unique(np.round(f[:, -1, :2], 3), axis=0)) == 64  # distinct endpoints


def test_bench_runs_a_tiny_workload(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(
        [
            "candidates=2",
            "poses=2",
            "image_size=[64,36]",
            "repeats=1",
            "warmup=0",
            "single_views=2",
            "scene.synthetic_step=0.5",
            "scene.history_image_size=[64,36]",
            "scene.lidar_resolution=[64,32]",
            f"output_json={out}",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["views"] == 2 * 2 * 4
    assert res["batched_views_per_s"] > 0 and res["single_view_ms_per_view"] > 0
    assert "batched" in capsys.readouterr().out
