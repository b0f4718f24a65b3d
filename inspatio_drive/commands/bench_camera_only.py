"""``inspatio-drive bench-camera-only``: camera-only futures on the sandbox — render fidelity (PSNR, SSIM, coverage,
depth AbsRel) of LiDAR, perfect-monocular and noisy-monocular clouds against the oracle, exposure matching, and the FC
PDMS per depth variant on a written sandbox split (``configs/bench_camera_only.yaml``, docs/camera_only.md)."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.evaluation.camera_only import run_camera_only_bench

USER_ERRORS = (KeyError,)
"""User errors of this command besides the common ones: the ``KeyError`` of an unknown scenario name."""


@handles_user_errors("bench-camera-only", USER_ERRORS)
def main(overrides: Sequence[str]) -> int:
    cfg = compose_command("bench-camera-only", "bench_camera_only", overrides)
    if cfg is None:
        return 2
    result = run_camera_only_bench(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    print(result["markdown"])
    for path in result["files"]:
        print(path)
    return 0
