"""The bench-world-model command runs end to end at the tiny size on CPU."""

from __future__ import annotations

import json

from inspatio_drive.commands.bench_world_model import main


def test_bench_runs_on_cpu_at_tiny_size(tmp_path, capsys):
    out = tmp_path / "bench.json"
    overrides = [
        "generator.model=tiny", "generator.device=cpu", "generator.dtype=float32", "height=32", "width=48",
        "blocks=2", "warmup=0", "ks=[1,2]", f"output={out}",
    ]  # fmt: skip
    assert main(overrides) == 0
    res = json.loads(out.read_text())
    assert res["frames_per_stream"] == 21 and res["tokens_per_latent_frame"] == 6
    assert [r["K"] for r in res["runs"]] == [1, 2]
    for r in res["runs"]:
        assert r["shared_fps"] > 0 and r["separate_fps"] > 0 and r["speedup"] > 0
    assert "| K | shared" in capsys.readouterr().out


def test_bench_full_pipeline_runs_on_cpu(tmp_path):
    out = tmp_path / "bench.json"
    overrides = [
        "generator.model=tiny", "generator.device=cpu", "generator.dtype=float32", "height=32", "width=48",
        "blocks=1", "warmup=0", "ks=[2]", "pipeline=full", "vae=tiny-random", f"output={out}",
    ]  # fmt: skip
    assert main(overrides) == 0
    res = json.loads(out.read_text())
    assert res["pipeline"].startswith("full") and res["frames_per_stream"] == 9
    assert res["runs"][0]["shared_fps"] > 0
