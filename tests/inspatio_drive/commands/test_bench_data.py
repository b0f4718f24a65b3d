import json

from inspatio_drive.commands import bench_data as bench


def test_bench_data_runs_small(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(
        [
            "num_logs=2", "frames_per_log=30", "image_logs=1", "image_frames_per_log=16",
            "image_width=64", "image_height=36", f"output={out}", "io_workers=2",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "| metadata | 34 |" in text and "| metadata_full_scenes | 34 |" in text and "| drivor_cameras | 3 |" in text and "| decode |" in text and "cameras (wall)" in text
    res = json.loads(out.read_text())
    assert res["metadata"]["scenes"] == 2 * (30 - 13)
    assert res["drivor_cameras"]["images_decoded"] == 4 * 3
    assert res["metadata"]["peak_rss_mb"] > 0 and len(res["metadata"]["rss_samples_mb"]) == 3
