"""The bench-world-model command runs end to end at the tiny size on CPU."""

from __future__ import annotations

import json

from inspatio_drive.world_model.bench import main


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
