"""Closed-loop observation drift of the world-model observer against the geometric one, per re-planning step
(issue 23, item 4b; part ``drift`` of ``inspatio-drive wm-sandbox-study``).

Every sandbox scene is rolled out twice with the same planner (``closed-loop`` machinery: :func:`rollout`,
:func:`make_observer`): with the geometric observer (``generator=geometric``: the render at the simulated pose,
holes black) and with the world-model observer (``generator=inspatio``: the previous observation + the render
along the 0.5 s step → the last generated frame). At every step the sandbox oracle renders the true view at the
same pose and time (:class:`~inspatio_drive.closed_loop.geometric.StepView`), and this module measures against it:

* ``geometric``: the planner's image (holes black) — PSNR / SSIM over the whole frame, and PSNR / SSIM on the
  pixels the render covers (the closed loop's own ``psnr_db``);
* ``geometric+fill``: the same image with its holes inpainted (:func:`~inspatio_drive.world_model.inpaint.inpaint_holes`,
  the baseline of the held-out evaluation; measured only, the planner saw the unfilled image);
* ``world_model``: the generated image — whole frame, and on the pixels the render covers at that pose.

Step 0 is the real current frame (``real_first``) and is left out. With a planner that ignores images (the
default constant-velocity planner) both rollouts drive the same path, so the rows compare the same poses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from inspatio_drive.closed_loop.agents import with_agents
from inspatio_drive.closed_loop.rollout import rollout
from inspatio_drive.closed_loop.run import _loader, _tokens, build_pipeline, make_observer, scene_oracle
from inspatio_drive.config import compose
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.render.metrics import masked_psnr, masked_ssim
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.inpaint import inpaint_holes

OBSERVERS = ("geometric", "geometric+fill", "world_model")
METRICS = ("psnr", "ssim", "psnr_covered", "ssim_covered", "coverage")


def closed_loop_overrides(cfg: Mapping[str, Any], out: Path) -> list[str]:
    """``configs/closed_loop.yaml`` overrides of the drift runs (the generator node is set per observer)."""
    d = cfg["drift"]
    ov = [f"data.data_root={cfg['data_root']}", f"data.split={cfg['split']}", "data.scene_filter.has_route=false",
          "data.lenient=true", f"closed_loop.output_dir={out / 'closed_loop'}", f"closed_loop.steps={int(d['steps'])}",
          f"closed_loop.cameras=[{','.join(d['cameras'])}]",
          f"closed_loop.image_size=[{d['image_size'][0]},{d['image_size'][1]}]",
          f"closed_loop.wm_frames={int(d['wm_frames'])}", "closed_loop.variants=[base]", "closed_loop.video=false",
          "closed_loop.progress=false", "closed_loop.oracle=auto"]
    return ov + [str(o) for o in d.get("closed_loop_overrides") or []]


def view_metrics(image: np.ndarray, oracle: np.ndarray, covered: np.ndarray) -> dict[str, float]:
    """PSNR (dB) / SSIM of ``image`` vs ``oracle`` (uint8 ``[C, H, W, 3]``) over every pixel and over ``covered``
    (bool ``[C, H, W]``, the pixels the geometric render covers), pooled over the C cameras; and the coverage."""
    p, r, v = torch.as_tensor(image), torch.as_tensor(oracle), torch.as_tensor(covered)
    full = torch.ones_like(v)
    flat = (lambda x: x.reshape(1, -1, *x.shape[2:]))  # noqa: E731 — cameras side by side: one pooled PSNR
    return {"psnr": float(masked_psnr(flat(p), flat(r), flat(full))[0]),
            "ssim": float(masked_ssim(p, r, full).mean()),
            "psnr_covered": float(masked_psnr(flat(p), flat(r), flat(v))[0]) if bool(v.any()) else float("nan"),
            "ssim_covered": float(torch.nanmean(masked_ssim(p, r, v))) if bool(v.any()) else float("nan"),
            "coverage": float(v.double().mean())}


def _stack(views: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    return np.stack([np.asarray(views[n]) for n in names])


def drift_rows(token: str, names: Sequence[str], geo: Any, geo_result: Any, wm: Any, wm_result: Any) -> list[dict[str, Any]]:
    """Per step ≥ 1 and observer: :func:`view_metrics` of the two rollouts' observers (their ``views``)."""
    rows = []
    for s in range(1, len(geo.views)):
        gv, wv = geo.views[s], wm.views[s]
        if gv.oracle is None or wv.oracle is None:
            raise ValueError(f"scene {token}: no oracle views (not a sandbox scene?)")
        covered = _stack(gv.valid, names)
        image = _stack(gv.images, names)
        filled = np.stack([inpaint_holes(torch.as_tensor(image[c]).permute(2, 0, 1)[None],
                                         torch.as_tensor(covered[c])[None])[0].permute(1, 2, 0).numpy()
                           for c in range(len(names))])
        r = wm_result.steps[s]
        state = np.array([r.x, r.y, r.heading])
        same_pose = bool(np.allclose(state, [geo_result.steps[s].x, geo_result.steps[s].y, geo_result.steps[s].heading]))
        wm_covered = covered if same_pose else wm.render(wm.pose_ego0(state)[None], [r.t_s])[1][0].numpy()
        for name, img, oracle, cov in (("geometric", image, _stack(gv.oracle, names), covered),
                                       ("geometric+fill", filled, _stack(gv.oracle, names), covered),
                                       ("world_model", _stack(wv.images, names), _stack(wv.oracle, names), wm_covered)):
            rows.append({"token": token, "step": s, "t_s": 0.5 * s, "observer": name, "same_pose": same_pose,
                         **view_metrics(img, oracle, cov)})
    return rows


def run_drift_study(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Part ``drift`` of ``inspatio-drive wm-sandbox-study`` → ``<output_dir>/wm_drift.{json,md,csv}``, ``wm_drift.png``."""
    out = Path(str(cfg["output_dir"]))
    out.mkdir(parents=True, exist_ok=True)
    d = cfg["drift"]
    ccfg = OmegaConf.to_container(compose("closed_loop", closed_loop_overrides(cfg, out)), resolve=True)
    assert isinstance(ccfg, dict)
    section = ccfg["closed_loop"]
    section["max_scenes"] = d["max_scenes"]
    loader, blobs, maps_root = _loader(ccfg["data"])
    tokens = _tokens(loader, section)
    pipeline, planner_name, _ = build_pipeline(ccfg)
    gen_cfg = dict(cfg["generator"])
    generator = build_generator(gen_cfg)
    names = list(section["cameras"])
    rows: list[dict[str, Any]] = []
    maps: dict[str, Any] = {}
    per_scene = out / "drift_scenes"
    per_scene.mkdir(exist_ok=True)
    for token in tqdm(tokens, desc="wm drift", unit="scene", disable=not cfg.get("progress", True)):
        path = per_scene / f"{token}.json"
        if path.is_file():
            rows += json.loads(path.read_text())
            continue
        scene = loader.get_scene_from_token(token)
        name = scene.scene_metadata.map_name
        if name not in maps:
            maps[name] = load_map(maps_root, name)
        cache = with_agents(build_metric_cache(scene, maps[name]), str(section.get("agents", "log_replay")))
        oracle = scene_oracle(scene, section, blobs)
        if oracle is None:
            raise ValueError(f"scene {token}: not a sandbox scene (no oracle under {blobs})")
        geo = make_observer(scene, section, {"name": "geometric"}, oracle)
        geo_result = rollout(scene, pipeline, cache, geo, steps=int(section["steps"]), use_fc=False)
        wm = make_observer(scene, section, gen_cfg, oracle, generator)
        wm_result = rollout(scene, pipeline, cache, wm, steps=int(section["steps"]), use_fc=False)
        scene_rows = drift_rows(token, names, geo, geo_result, wm, wm_result)
        for r in scene_rows:
            r["planner"] = planner_name
        path.write_text(json.dumps(scene_rows))
        rows += scene_rows
    table = drift_table(rows)
    md = drift_markdown(table, len(tokens), planner_name)
    (out / "wm_drift.json").write_text(json.dumps({"rows": rows, "table": table, "config": dict(cfg)}, indent=1,
                                                  default=str))
    (out / "wm_drift.md").write_text(md)
    plot_drift(table, out / "wm_drift.png")
    return {"rows": rows, "table": table, "markdown": md,
            "files": [str(out / n) for n in ("wm_drift.json", "wm_drift.md", "wm_drift.png")]}


def drift_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean of every metric per observer and step (step ``all`` = over every step), NaN-skipping."""
    out = []
    steps = sorted({int(r["step"]) for r in rows})
    for obs in OBSERVERS:
        for step in [*steps, "all"]:
            sel = [r for r in rows if r["observer"] == obs and (step == "all" or r["step"] == step)]
            if not sel:
                continue
            out.append({"observer": obs, "step": step, "n": len(sel),
                        **{m: float(np.nanmean([r[m] for r in sel])) for m in METRICS}})
    return out


def drift_markdown(table: Sequence[Mapping[str, Any]], scenes: int, planner: str) -> str:
    lines = [f"Observation drift vs the oracle ({scenes} sandbox scenes, planner {planner}, steps 1..):", "",
             "| observer | step | PSNR whole (dB) | SSIM whole | PSNR covered (dB) | SSIM covered | render coverage |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['observer']} | {r['step']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['psnr_covered']:.2f} | "
                     f"{r['ssim_covered']:.3f} | {r['coverage']:.2f} |")
    return "\n".join(lines) + "\n"


def plot_drift(table: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """PSNR and SSIM (whole frame, and on the render's covered pixels) per re-planning step, one line per observer."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for obs in OBSERVERS:
        rs = [r for r in table if r["observer"] == obs and r["step"] != "all"]
        if not rs:
            continue
        for ax, key in zip(axes, ("psnr", "ssim", "psnr_covered", "ssim_covered")):
            ax.plot([0.5 * r["step"] for r in rs], [r[key] for r in rs], marker="o", label=obs)
    labels = ("PSNR whole frame (dB)", "SSIM whole frame", "PSNR on render-covered pixels (dB)",
              "SSIM on render-covered pixels")
    for ax, label in zip(axes, labels):
        ax.set_xlabel("closed-loop time (s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Closed-loop observation drift against the sandbox oracle: world model vs geometric render", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
