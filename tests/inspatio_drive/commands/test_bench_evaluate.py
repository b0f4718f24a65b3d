from inspatio_drive.commands.bench_evaluate import replicate_split
from inspatio_drive.commands.cli import main
from inspatio_drive.data import SceneFilter, SceneLoader
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root


def test_replicated_split_has_distinct_scenes(tmp_path):
    root = replicate_split(sample_root(), SAMPLE_SPLIT, tmp_path / "data", 5)
    loader = SceneLoader(root / "navsim_logs" / "bench", root / "sensor_blobs" / "bench", SceneFilter(),
                         show_progress=False)
    assert len(loader.tokens) == len(set(loader.tokens)) == 5


def test_bench_evaluate_small(tmp_path, capsys):
    assert main(["bench-evaluate", "n=3", "workers=[1]", "fault_test=false", f"work_dir={tmp_path}"]) == 0
    assert "3/3 scenes" in capsys.readouterr().out
