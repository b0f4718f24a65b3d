"""Camera-only futures measured on the sandbox (issue 22): what a cloud built from monocular depth loses against
the LiDAR cloud, and what per-camera exposure matching gains (``inspatio-drive bench-camera-only``).

1. fidelity — :func:`~inspatio_drive.render.fidelity.sandbox_fidelity` per scenario and depth variant (LiDAR;
   the oracle's true depth = a perfect monocular model; that depth with a realistic error, metric or relative and
   scaled by the ground plane), with the LiDAR dropped for the camera-only variants: PSNR, SSIM, coverage and depth
   AbsRel of the rendered futures against the oracle's true views;
2. exposure — the LiDAR cloud coloured from cameras of different exposures, with and without matching;
3. fc — ``evaluate`` of a written sandbox split (``inspatio-drive study steps=[sandbox]``) with the vocabulary
   planner and the shipped FC head per depth variant (``scorer.model.depth=...``): PDMS of base, base+FC, oracle@K.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inspatio_drive.config import SettingError, compose
from inspatio_drive.contracts.subscores import PDMS as PDMS_LABEL
from inspatio_drive.evaluation.run import run_evaluation
from inspatio_drive.render.fidelity import sandbox_fidelity
from inspatio_drive.render.mono_depth import DEPTH_CHOICES
from inspatio_drive.sandbox import LidarModel, Oracle, RenderConfig, generate_scene

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _mean_rows(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def fidelity_rows(cfg: Mapping[str, Any], show: bool = True) -> list[dict[str, Any]]:
    """Rows ``{variant, t, psnr, ssim, coverage, depth_absrel}`` (means over scenarios, perturbations, cameras) of
    every depth variant and every exposure setting (``exposure`` rows: ``variant`` = ``exposure_raw`` /
    ``exposure_matched``, LiDAR geometry); none with ``fidelity.scenarios=[]`` (FC only)."""
    f = cfg["fidelity"]
    if not f["scenarios"]:
        return []
    times = [float(t) for t in f["report_times"]]
    jobs: list[tuple[str, dict[str, Any]]] = []
    for v in cfg["variants"]:
        jobs.append((str(v["name"]), {"depth": str(v["depth"]), "mono": dict(v.get("mono") or {}),
                                      "drop_lidar": bool(v.get("drop_lidar", False))}))
    spread = float(f["exposure_spread"])
    if spread > 0:
        jobs.append(("exposure_raw", {"exposure_spread": spread, "exposure_match": False}))
        jobs.append(("exposure_matched", {"exposure_spread": spread, "exposure_match": True}))
    per: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in jobs}
    bar = tqdm(total=len(f["scenarios"]) * len(jobs), desc="fidelity", disable=not show)
    for scenario in f["scenarios"]:
        world = generate_scene(str(scenario), int(f["seed"]), num_frames=14, density=float(f["density"]))
        oracle = Oracle(world, RenderConfig(int(f["width"]), int(f["height"]),
                                            LidarModel(int(f["lidar_channels"]), int(f["lidar_azimuths"])),
                                            float(f["texture_res"])))
        for name, kw in jobs:
            res = sandbox_fidelity(oracle, float(f["t_now"]), list(f["perturbations"]), splat=int(f["splat"]),
                                   hole_fill=int(f["hole_fill"]), voxel_size=float(f["voxel_size"]), **kw)
            for r in res.table(times):
                per[name].append({"scenario": str(scenario), **r, "points": res.meta["points"]})
            bar.update()
    bar.close()
    rows = []
    for name, _ in jobs:
        for t in times:
            sel = [r for r in per[name] if r["t"] == t]
            rows.append({"variant": name, "t": t, **_mean_rows(sel, ("psnr", "ssim", "coverage", "depth_absrel")),
                         "points": float(np.mean([r["points"] for r in sel]))})
    return rows


def fc_rows(cfg: Mapping[str, Any], out: Path) -> list[dict[str, Any]]:
    """PDMS per depth variant of ``evaluate`` on ``fc.data_root`` / ``fc.split`` (vocabulary planner, FC head);
    rows ``{variant, method, pdms, scenes, privileged}``; nothing when ``fc.data_root`` is null."""
    fc = cfg["fc"]
    if not fc.get("data_root"):
        return []
    rows = []
    for v in cfg["variants"]:
        if not v.get("fc", True):
            continue
        name = str(v["name"])
        ov = [f"data.data_root={fc['data_root']}", f"data.split={fc['split']}", "data.scene_filter.has_route=false",
              "data.lenient=true", "planner=vocabulary", f"planner/selection={fc['selection']}",
              f"planner.vocabulary={fc['vocabulary'] or ASSETS / 'vocab_sandbox.safetensors'}",
              "+scorer=geometric_fc", f"scorer.model.head={fc['head'] or ASSETS / 'fc_head_sandbox.safetensors'}",
              f"scorer.w_fc={fc['w_fc']}", f"scorer.model.depth={v['depth']}",
              f"eval.output_dir={out / 'fc' / name}", "eval.variants=[base,fc,oracle]", "eval.artefacts=0",
              "eval.report=false", f"eval.progress={str(bool(cfg.get('progress', True))).lower()}",
              "eval.on_config_change=restart", f"eval.max_scenes={fc['max_scenes']}"]
        ov += [f"scorer.model.mono.{k}={val}" for k, val in dict(v.get("mono") or {}).items()]
        ov += [str(o) for o in fc.get("evaluate_overrides") or []]
        res = run_evaluation(compose("evaluate", ov))
        summary = res["summary"]
        for method in ("base", "fc", "oracle"):
            part = summary[(summary["variant"] == method) & (summary["metric"] == PDMS_LABEL)]
            rows.append({"variant": name, "method": method, "pdms": float(part["mean"].iloc[0]),
                         "ci_low": float(part["ci_low"].iloc[0]), "ci_high": float(part["ci_high"].iloc[0]),
                         "diff_vs_base": float(part["diff_vs_ref"].iloc[0]) if method != "base" else 0.0,
                         "scenes": int(part["scenes"].iloc[0]), "privileged_depth": v["depth"] == "oracle"
                         or dict(v.get("mono") or {}).get("backend") == "oracle"})
    return rows


def run_camera_only_bench(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Fidelity (and, with ``fc.data_root``, FC PDMS) of every variant → ``<output_dir>/camera_only.{json,md,png}``."""
    for i, v in enumerate(cfg["variants"]):  # before any scene is rendered
        if str(v.get("depth")) not in DEPTH_CHOICES:
            raise SettingError(f"variants[{i}] ({v.get('name')}): depth: expected one of {DEPTH_CHOICES}, "
                               f"got {v.get('depth')!r}")
    out = Path(str(cfg["output_dir"]))
    out.mkdir(parents=True, exist_ok=True)
    show = bool(cfg.get("progress", True))
    fid = fidelity_rows(cfg, show)
    (out / "camera_only.json").write_text(json.dumps({"fidelity": fid}, indent=1))
    fcr = fc_rows(cfg, out)
    result = {"fidelity": fid, "fc": fcr, "config": dict(cfg)}
    (out / "camera_only.json").write_text(json.dumps(result, indent=1, default=str))
    md = camera_only_markdown(fid, fcr)
    (out / "camera_only.md").write_text(md)
    plot_camera_only(fid, out / "camera_only.png")
    result.update(markdown=md, files=[str(out / n) for n in ("camera_only.json", "camera_only.md", "camera_only.png")])
    return result


def camera_only_markdown(fid: Sequence[Mapping[str, Any]], fcr: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| variant | t (s) | PSNR (dB) | SSIM | coverage | depth AbsRel | points |", "|---|---|---|---|---|---|---|"]
    lines = lines if fid else []
    for r in fid:
        lines.append(f"| {r['variant']} | {r['t']:.1f} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['coverage']:.3f} | "
                     f"{r['depth_absrel']:.3f} | {r['points']:.0f} |")
    if fcr:
        lines += ["", "| variant | base PDMS | base+FC PDMS (Δ) | oracle@K PDMS | scenes | privileged depth |",
                  "|---|---|---|---|---|---|"]
        by = {(r["variant"], r["method"]): r for r in fcr}
        for name in dict.fromkeys(r["variant"] for r in fcr):
            b, f, o = by[(name, "base")], by[(name, "fc")], by[(name, "oracle")]
            lines.append(f"| {name} | {b['pdms']:.4f} | {f['pdms']:.4f} ({f['diff_vs_base']:+.4f}) | {o['pdms']:.4f} | "
                         f"{b['scenes']} | {f['privileged_depth']} |")
    return "\n".join(lines) + "\n"


def plot_camera_only(fid: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """PSNR and coverage against the future time, one line per variant."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name in dict.fromkeys(r["variant"] for r in fid):
        rs = [r for r in fid if r["variant"] == name]
        style = "--" if name.startswith("exposure") else "-"
        for ax, key in zip(axes, ("psnr", "coverage", "depth_absrel")):
            ax.plot([r["t"] for r in rs], [r[key] for r in rs], style, marker="o", label=name)
    for ax, (_, label) in zip(axes, (("psnr", "PSNR vs oracle (dB)"), ("coverage", "valid-pixel coverage"),
                                       ("depth_absrel", "depth AbsRel"))):
        ax.set_xlabel("future time (s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Camera-only futures on the sandbox: rendered views vs the oracle's true views")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
