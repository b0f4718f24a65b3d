"""``inspatio-drive render-fidelity``: PSNR / SSIM / coverage / depth AbsRel of the geometric renderer against the
sandbox oracle over scenarios (configs/render_fidelity.yaml), markdown table to stdout."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.render.fidelity import sandbox_fidelity
from inspatio_drive.sandbox import LidarModel, Oracle, RenderConfig, generate_scene

USER_ERRORS = (KeyError,)
"""User errors of this command besides the common ones (:data:`inspatio_drive.commands.base.USER_ERRORS`):
the ``KeyError`` of an unknown scenario name."""


@handles_user_errors("render-fidelity", USER_ERRORS)
def main(overrides: Sequence[str]) -> int:
    """Fidelity table over sandbox scenarios (``configs/render_fidelity.yaml``), markdown to stdout."""
    cfg = compose_command("render-fidelity", "render_fidelity", overrides)
    if cfg is None:
        return 2
    rows = []
    for scenario in cfg.scenarios:
        world = generate_scene(str(scenario), int(cfg.seed), num_frames=14, density=float(cfg.density))
        oracle = Oracle(
            world,
            RenderConfig(
                int(cfg.width),
                int(cfg.height),
                LidarModel(int(cfg.lidar.channels), int(cfg.lidar.azimuths)),
                float(cfg.texture_res),
            ),
        )
        res = sandbox_fidelity(
            oracle,
            float(cfg.t_now),
            list(cfg.perturbations),
            splat=int(cfg.splat),
            hole_fill=int(cfg.hole_fill),
            voxel_size=float(cfg.voxel_size),
            dynamic_mode=str(cfg.dynamic_mode),
            depth=str(cfg.depth),
            mono=OmegaConf.to_container(cfg.mono, resolve=True),  # type: ignore[arg-type]
            exposure_spread=float(cfg.exposure_spread),
            exposure_match=bool(cfg.exposure_match),
            drop_lidar=bool(cfg.drop_lidar),
        )
        for row in res.table(tuple(float(t) for t in cfg.report_times)):
            rows.append({"scenario": str(scenario), **row})
    print("| scenario | trajectory | t (s) | PSNR (dB) | SSIM | coverage | depth AbsRel |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['trajectory']} | {r['t']:.1f} | {r['psnr']:.1f} | {r['ssim']:.3f} | "
            f"{r['coverage']:.2f} | {r['depth_absrel']:.3f} |"
        )
    if cfg.output_json:
        Path(str(cfg.output_json)).write_text(json.dumps(rows, indent=1))
    return 0
