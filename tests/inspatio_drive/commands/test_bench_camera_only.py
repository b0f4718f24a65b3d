"""``inspatio-drive bench-camera-only`` end to end on a tiny setting: fidelity rows per depth variant and exposure
setting, and the FC PDMS per depth variant on the bundled sandbox sample (the oracle depth variant is privileged)."""

from __future__ import annotations

import json

import pytest

from inspatio_drive.commands.cli import main
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root

pytest.importorskip("embreex")


def test_bench_camera_only_tiny(tmp_path, capsys):
    out = tmp_path / "b"
    args = ["bench-camera-only", f"output_dir={out}", "fidelity.scenarios=[cut_in]", "fidelity.width=64",
            "fidelity.height=36", "fidelity.perturbations=[logged]", "fidelity.report_times=[0.5,4.0]",
            "variants=[{name: lidar, depth: lidar, fc: false},{name: mono, depth: oracle, drop_lidar: true,"
            " mono: {stride: 2}}]", "fidelity.exposure_spread=0.3",
            f"fc.data_root={sample_root()}", f"fc.split={SAMPLE_SPLIT}", "fc.max_scenes=1",
            "fc.evaluate_overrides=['scorer.model.image_size=[48,27]']", "progress=false"]
    assert main(args) == 0
    res = json.loads((out / "camera_only.json").read_text())
    names = {r["variant"] for r in res["fidelity"]}
    assert names == {"lidar", "mono", "exposure_raw", "exposure_matched"}
    assert all(r["coverage"] > 0 for r in res["fidelity"])
    fc = {(r["variant"], r["method"]): r for r in res["fc"]}
    assert set(fc) == {("mono", m) for m in ("base", "fc", "oracle")}  # lidar: fc false
    assert fc[("mono", "fc")]["privileged_depth"] and fc[("mono", "fc")]["scenes"] == 1
    assert fc[("mono", "oracle")]["pdms"] >= max(fc[("mono", "base")]["pdms"], fc[("mono", "fc")]["pdms"])
    assert (out / "camera_only.png").stat().st_size > 1000
    assert "| mono |" in capsys.readouterr().out
