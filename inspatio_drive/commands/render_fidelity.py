"""``inspatio-drive render-fidelity``: PSNR / SSIM / coverage / depth AbsRel of the geometric renderer against the
sandbox oracle over scenarios (configs/render_fidelity.yaml), markdown table to stdout."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tqdm import tqdm

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.render.fidelity import intrinsics_rule_fidelity, sandbox_fidelity
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
    if cfg.intrinsics_study.enabled:
        return intrinsics_study(cfg)
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


def intrinsics_study(cfg: Any) -> int:
    """``intrinsics_study.enabled=true``: PSNR of renders at (width, height) from a rig ``factor`` x larger, per
    resize rule, against the oracle's native views and its ``factor`` x views block-averaged (markdown)."""
    st = cfg.intrinsics_study
    lidar = LidarModel(int(cfg.lidar.channels), int(cfg.lidar.azimuths))
    w, h, f = int(cfg.width), int(cfg.height), int(st.factor)
    rows = []
    jobs = [(str(s), str(c)) for s in cfg.scenarios for c in st.clouds]
    for scenario, cloud in tqdm(jobs, desc="intrinsics study", unit="run"):
        world = generate_scene(scenario, int(cfg.seed), num_frames=14, density=float(cfg.density))
        big = Oracle(world, RenderConfig(w * f, h * f, lidar, float(cfg.texture_res)))
        small = Oracle(world, RenderConfig(w, h, lidar, float(cfg.texture_res)))
        res = intrinsics_rule_fidelity(
            big, small, float(cfg.t_now), list(st.cameras), int(cfg.splat), int(cfg.hole_fill),
            float(cfg.voxel_size), str(cfg.dynamic_mode), cloud=cloud,
        )  # fmt: skip
        rows.append({"scenario": scenario, "cloud": cloud, **{f"{r}_{k}": v for r, d in res.items() for k, v in d.items()}})
    print(f"Render PSNR (dB) at {w}x{h} from a {w * f}x{h * f} rig, by intrinsics resize rule")
    print("| scenario | cloud | native: plain | native: pixel-centre | resampled: plain | resampled: pixel-centre |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['cloud']} | {r['plain_native']:.2f} | {r['pixel_centre_native']:.2f} | "
            f"{r['plain_resampled']:.2f} | {r['pixel_centre_resampled']:.2f} |"
        )
    if cfg.output_json:
        Path(str(cfg.output_json)).write_text(json.dumps(rows, indent=1))
    return 0
