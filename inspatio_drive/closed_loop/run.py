"""``inspatio-drive closed-loop`` and ``inspatio-drive counterfactual``.

closed-loop (``configs/closed_loop.yaml``) writes into ``closed_loop.output_dir``::

    <token>/<variant>/steps.jsonl     # one JSON line per re-planning step (StepRecord + the chosen plan)
    <token>/<variant>/metrics.csv     # the per-step metrics table, then the closed- and open-loop sub-scores
    <token>/<variant>/scores.json     # closed_loop / open_loop PDM sub-scores (+ "epdms" with metric=epdms)
    <token>/<variant>/rollout.mp4     # BEV + camera video (one frame per step)
    closed_vs_open.csv                # one row per scene and variant, then the mean per variant
    config.yaml

``metric=epdms`` (with ``traffic`` and ``epdms.human_filter``): every rollout is also scored with NAVSIM v2.2's
EPDMS (:func:`~inspatio_drive.closed_loop.rollout.epdms_of_rollout`: executed path, first plan, the per-step EC
between consecutive plans); the table then shows the EPDMS columns and every row says ``metric``. With
``closed_loop.evaluate_dir`` (an ``evaluate metric=epdms`` output folder of the same planner over the same scenes)
the table places that run's one-stage EPDMS of each scene (``<variant>_one_stage.csv``) and its two-stage EPDMS
(stage one / stage two / combined, ``<variant>_two_stage.csv``, on the mean row) beside the closed-loop numbers.

counterfactual (``configs/counterfactual.yaml``) writes navsim v2 synthetic scenes into
``counterfactual.output_dir`` (``synthetic_scene_pickles/``, ``sensor_blobs/``, ``manifest.csv``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tqdm import tqdm

from inspatio_drive.closed_loop.agents import AGENT_MODES, with_agents
from inspatio_drive.closed_loop.counterfactual import (
    GeneratedRenderFn,
    GeometricRenderFn,
    Perturbation,
    counterfactual_scene,
    write_synthetic_scene,
)
from inspatio_drive.closed_loop.geometric import GeometricObserver, WorldModelObserver, sandbox_oracle
from inspatio_drive.closed_loop.observers import LidarWorldObserver
from inspatio_drive.closed_loop.rollout import (
    SUBSCORES,
    EPDMSRollout,
    RolloutResult,
    epdms_of_rollout,
    rollout,
)
from inspatio_drive.closed_loop.video import rollout_video_frames
from inspatio_drive.data import resolve_data_paths, scene_loader_from_config
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.v2 import SUBMETRICS as V2_SUBMETRICS
from inspatio_drive.pdm.v2 import EPDMSConfig
from inspatio_drive.pdm.v2.knobs import EPDMS_SHORT, METRIC_LABEL, check_metric
from inspatio_drive.threads import status_line
from inspatio_drive.viewer import write_mp4
from inspatio_drive.world_model.condition import check_image_size
from inspatio_drive.world_model.factory import build_generator
from planners.factory import selection_weights
from planners.pipeline import PlanningPipeline
from scorers.fusion import w_fc_from_config

STEP_COLUMNS = ("step", "t_s", "x", "y", "heading", "speed", "command", "chosen", "num_candidates",
                "in_drivable_area", "at_fault_collision", "progress_m", "comfortable", "psnr_db", "coverage",
                "plan_s", "observe_s")


# -- shared set-up ------------------------------------------------------------------------------------------
def _loader(data: Mapping[str, Any]) -> tuple[Any, Path, Path]:
    """Scene loader with every sensor (the observers and renderers need the history LiDAR and images)."""

    _, blobs, maps = resolve_data_paths(data)
    loader = scene_loader_from_config(data, sensors="all", show_progress=False)
    return loader, blobs, maps


def _tokens(loader: Any, section: Mapping[str, Any]) -> list[str]:
    tokens = list(loader.tokens)
    wanted = section.get("tokens")
    if wanted:
        missing = sorted(set(wanted) - set(tokens))
        if missing:
            raise ValueError(f"tokens {missing} not in the split after the scene filter")
        tokens = [t for t in tokens if t in set(wanted)]
    if section.get("max_scenes"):
        tokens = tokens[: int(section["max_scenes"])]
    if not tokens:
        raise ValueError("no scenes to run (check data.* and the scene filter)")
    return tokens


def build_pipeline(cfg: Mapping[str, Any]) -> tuple[Any, str, bool]:
    """(pipeline, planner name, has FC scorer) from the ``planner`` / ``scorer`` config nodes."""

    planner = instantiate(cfg["planner"]["model"], _convert_="all")
    sel = cfg["planner"].get("selection", "v1")
    weights = selection_weights(sel)
    fc_cfg = cfg.get("scorer") or {}
    fc = instantiate(fc_cfg["model"], _convert_="all") if fc_cfg.get("model") else None
    pipeline = PlanningPipeline(planner, weights, fc, w_fc_from_config(fc_cfg))
    return pipeline, str(getattr(planner, "name", type(planner).__name__)), fc is not None


def scene_oracle(scene: Any, section: Mapping[str, Any], blobs: Path) -> Any:
    """The sandbox oracle of ``scene`` when ``closed_loop.oracle`` is ``auto`` and the scene has one, else None."""

    mode = section.get("oracle", "auto")
    if mode in (False, "false", None) or section.get("observer", "geometric") != "geometric":
        return None
    if mode not in (True, "auto"):
        raise ValueError(f"closed_loop.oracle must be auto or false, got {mode!r}")
    return sandbox_oracle(blobs, scene.scene_metadata.log_name)


def make_observer(scene: Any, section: Mapping[str, Any], generator_cfg: Mapping[str, Any], oracle: Any = None,
                  generator: Any = None) -> Any:
    """The observer named by ``closed_loop.observer`` / ``generator.name`` for one scene."""

    kind = section.get("observer", "geometric")
    if kind == "lidar":
        return LidarWorldObserver(scene)
    if kind != "geometric":
        raise ValueError(f"closed_loop.observer must be 'geometric' or 'lidar', got {kind!r}")
    kwargs = {"cameras": list(section["cameras"]), "image_size": tuple(section["image_size"]),
              "sweeps": int(section["sweeps"]), "voxel_size": float(section["voxel_size"]),
              "splat": int(section["splat"]), "hole_fill": int(section["hole_fill"]), "oracle": oracle,
              "real_first": bool(section.get("real_first", True)), "dynamic": str(section.get("dynamic", "static")),
              "device": str(section.get("device", "cpu")), "depth": str(section.get("depth", "lidar")),
              "mono": dict(section.get("mono") or {}), "exposure_match": bool(section.get("exposure_match", False))}
    if generator_cfg.get("name", "geometric") == "geometric":
        return GeometricObserver(scene, **kwargs)
    return WorldModelObserver(scene, generator, frames=int(section.get("wm_frames", 9)),
                              seed=int(generator_cfg.get("seed", 0)), **kwargs)


# -- outputs ---------------------------------------------------------------------------------------------
def write_rollout(folder: Path, result: RolloutResult, cache: Any, views: Sequence[Any] | None,
                  video: bool = True, cameras: Sequence[str] | None = None, scale: int = 2,
                  epdms: EPDMSRollout | None = None) -> dict[str, Path]:
    """Step log (JSONL), metrics table (CSV), scores (JSON) and the BEV + camera video of one rollout; with
    ``epdms`` the step log gets each step's ``epdms_step_ec``, the metrics table the EPDMS rows and
    ``scores.json`` an ``epdms`` block."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"steps": folder / "steps.jsonl", "metrics": folder / "metrics.csv", "scores": folder / "scores.json"}
    with open(out["steps"], "w") as fh:
        for i, (r, plan) in enumerate(zip(result.steps, result.plans, strict=True)):
            extra = {} if epdms is None else _json_ready({"epdms_step_ec": epdms.step_ec[i]})
            fh.write(json.dumps({**_json_ready(asdict(r)), **extra, "plan": np.round(plan, 4).tolist()}) + "\n")
    with open(out["metrics"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(STEP_COLUMNS)
        for r in result.steps:
            row = asdict(r)
            w.writerow([_fmt(row[c]) for c in STEP_COLUMNS])
        w.writerow([])
        w.writerow(["aggregate", *SUBSCORES])
        w.writerow(["closed_loop", *[_fmt(result.closed_loop[k]) for k in SUBSCORES]])
        w.writerow(["open_loop", *[_fmt(result.open_loop[k]) for k in SUBSCORES]])
        if epdms is not None:
            cols = (*V2_SUBMETRICS, "score")
            w.writerow([])
            w.writerow([f"aggregate ({METRIC_LABEL['epdms']}, traffic={epdms.traffic}, "
                        f"human_filter={epdms.human_filter})", *cols])
            w.writerow(["closed_loop", *[_fmt(epdms.closed_loop[k]) for k in cols]])
            w.writerow(["open_loop", *[_fmt(epdms.open_loop[k]) for k in cols]])
    doc: dict[str, Any] = {"token": result.token, "closed_loop": result.closed_loop,
                           "open_loop": result.open_loop, **drift_summary(result)}
    if epdms is not None:
        doc["epdms"] = _finite({"metric": METRIC_LABEL["epdms"], **asdict(epdms)})
    out["scores"].write_text(json.dumps(doc, indent=1))
    if video:

        frames = rollout_video_frames(result, cache, views, cameras, scale)
        out["video"] = write_mp4(frames, folder / "rollout.mp4", fps=2.0)
    return out


def drift_summary(result: RolloutResult) -> dict[str, float | None]:
    """Mean PSNR (dB) and coverage of the imagined observations over the steps after the first."""
    later = result.steps[1:]
    psnr = [s.psnr_db for s in later if s.psnr_db is not None and np.isfinite(s.psnr_db)]
    cov = [s.coverage for s in later if s.coverage is not None]
    return {"mean_psnr_db": float(np.mean(psnr)) if psnr else None,
            "mean_coverage": float(np.mean(cov)) if cov else None}


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.12g}"
    return "" if v is None else v


def _finite(value: Any) -> Any:
    """NaN → None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _json_ready(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


EVAL_COLUMNS = ("eval_one_stage_score", "eval_stage_one_score", "eval_stage_two_score", "eval_two_stage_score")
"""Columns taken from an ``evaluate metric=epdms`` run (``closed_loop.evaluate_dir``)."""


def evaluate_scores(evaluate_dir: str | Path, variant: str) -> tuple[dict[str, float], dict[str, float], str]:
    """``({token: one-stage EPDMS}, {stage column: two-stage summary EPDMS}, planner)`` of an ``evaluate
    metric=epdms`` output folder for ``variant``; the second is empty when the run was one-stage.

    Raises:
        FileNotFoundError: the folder has no ``<variant>_one_stage.csv`` (not an EPDMS evaluate run).
    """
    folder = Path(evaluate_dir)
    one = folder / f"{variant}_one_stage.csv"
    if not one.is_file():
        raise FileNotFoundError(f"closed_loop.evaluate_dir: {one} not found (expected the output folder of "
                                f"inspatio-drive evaluate metric=epdms with variant {variant})")
    table = pd.read_csv(one, index_col=0)
    per_scene = {str(t): float(v) for t, v in zip(table["token"], table["score"], strict=True)
                 if t != "average_all_frames"}
    stages: dict[str, float] = {}
    two = folder / f"{variant}_two_stage.csv"
    if two.is_file():
        rows = pd.read_csv(two, index_col=0).set_index("token")["score"]
        for col, token in zip(EVAL_COLUMNS[1:], ("extended_pdm_score_stage_one", "extended_pdm_score_stage_two",
                                                 "extended_pdm_score_combined"), strict=True):
            stages[col] = float(rows.get(token, np.nan))
    ours = folder / f"{variant}.csv"
    planner = ""
    if ours.is_file():
        head = pd.read_csv(ours, index_col=0, nrows=1)
        planner = str(head["planner"].iloc[0]) if "planner" in head and len(head) else ""
    return per_scene, stages, planner


def comparison_table(rows: list[dict[str, Any]], stages: dict[str, dict[str, float]] | None = None) -> Any:
    """pandas table: one row per scene and variant (closed / open sub-scores), then one mean row per variant."""

    df = pd.DataFrame(rows)
    if df.empty:
        return df
    labels = ("token", "variant", "planner", "observer", "agents", "mode", "metric", "traffic", "human_filter", "eval_dir")
    numeric = [c for c in df.columns if c not in labels]
    means = df.groupby("variant", sort=False)[numeric].mean().reset_index()
    means["token"] = "mean"
    for variant, values in (stages or {}).items():  # split-level numbers: on the variant's mean row only
        for col, v in values.items():
            if col not in df:
                df[col] = np.nan
            means.loc[means["variant"] == variant, col] = v
    for c in labels[2:]:
        if c in df:
            means[c] = df[c].iloc[0]
    return pd.concat([df, means[df.columns]], ignore_index=True)


def format_comparison(table: Any) -> str:
    """Markdown table of closed- vs open-loop PDMS and the main sub-scores (EPDMS and its v2 sub-metrics, the mean
    per-step EC, when the rows were scored with ``metric=epdms``); the line above the table names the metric."""
    if table.empty:
        return "(no rollouts)"
    epdms = "epdms_closed_score" in table
    if epdms:
        subs = ("no_at_fault_collisions", "drivable_area_compliance", "traffic_light_compliance", "ego_progress",
                "lane_keeping", "history_comfort")
        cols = ["token", "variant", "epdms_open_score", "epdms_closed_score",
                *[f"epdms_closed_{k}" for k in subs], "epdms_mean_step_ec", "mean_psnr_db", "mean_coverage"]
        head = ["scene", "variant", "EPDMS open", "EPDMS closed", *[f"{EPDMS_SHORT[k]} closed" for k in subs],
                "step EC", "PSNR dB", "coverage"]
        if "eval_one_stage_score" in table:
            cols[4:4] = [c for c in EVAL_COLUMNS if c in table]
            head[4:4] = [{"eval_one_stage_score": "one-stage", "eval_stage_one_score": "2-stage: stage 1",
                          "eval_stage_two_score": "2-stage: stage 2", "eval_two_stage_score": "two-stage"}[c]
                         for c in EVAL_COLUMNS if c in table]
        first = table.iloc[0]
        said = (f"metric: {first['metric']}, traffic={first['traffic']}, human_filter={first['human_filter']} "
                "(EPDMS without EC; step EC = extended comfort between consecutive re-planned plans)")
        if "eval_one_stage_score" in table:
            said += ("; one-stage / two-stage: EPDMS of the same planner by inspatio-drive evaluate "
                     f"({first.get('eval_dir', '')}; two-stage numbers are split-level: mean row)")
    else:
        cols = ["token", "variant", "open_score", "closed_score", "closed_no_at_fault_collisions",
                "closed_drivable_area_compliance", "closed_ego_progress", "closed_comfort", "mean_psnr_db",
                "mean_coverage"]
        head = ["scene", "variant", "PDMS open", "PDMS closed", "NC closed", "DAC closed", "EP closed", "C closed",
                "PSNR dB", "coverage"]
        said = f"metric: {METRIC_LABEL['pdms']}"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(f"{v:.3f}" if isinstance(v, float) and np.isfinite(v) else ("—" if v is None or
                         (isinstance(v, float) and not np.isfinite(v)) else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([said, *lines])


# -- closed loop -----------------------------------------------------------------------------------------
def run_closed_loop(cfg: Any) -> dict[str, Any]:
    """Run the composed ``closed_loop`` config; returns the comparison table, its CSV path and the folders."""

    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    section = plain["closed_loop"]
    out = Path(section["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if section.get("agents", "log_replay") not in AGENT_MODES:
        raise ValueError(f"closed_loop.agents must be one of {AGENT_MODES}, got {section.get('agents')!r}")
    metric, traffic = str(plain.get("metric") or "pdms"), str(plain.get("traffic") or "log_replay")
    human_filter = str((plain.get("epdms") or {}).get("human_filter") or "v2.2")
    check_metric(metric, traffic, human_filter)
    if section.get("evaluate_dir") and metric != "epdms":
        raise ValueError("closed_loop.evaluate_dir places evaluate's one-stage / two-stage EPDMS beside the rollout: "
                         "set metric=epdms")
    if metric == "epdms" and section.get("agents", "log_replay") != "log_replay":
        raise ValueError(f"closed_loop.agents={section.get('agents')}: EPDMS scores with its own traffic policies; "
                         "with metric=epdms use closed_loop.agents=log_replay and traffic=log_replay|reactive")
    loader, blobs, maps_root = _loader(plain["data"])
    tokens = _tokens(loader, section)
    with status_line(bool(section.get("progress", True)), "closed-loop: loading the planner ..."):
        pipeline, planner_name, has_fc = build_pipeline(plain)
    variants = [v for v in section.get("variants", ["base"]) if v != "fc" or has_fc]
    unknown = set(variants) - {"base", "fc"}
    if unknown or not variants:
        raise ValueError(f"closed_loop.variants: expected base and/or fc, got {section.get('variants')}")
    gen_cfg = plain.get("generator") or {"name": "geometric"}
    generator = None
    if gen_cfg.get("name", "geometric") != "geometric" and section.get("observer", "geometric") == "geometric":

        check_image_size(section["image_size"], f"closed_loop.image_size (generator={gen_cfg['name']})")

        generator = build_generator(gen_cfg)
    dynamic = str(section.get("dynamic", "static"))
    observer_name = section.get("observer", "geometric") + (
        f"+{gen_cfg['name']}" if generator is not None else "") + (
        f"+{dynamic}" if dynamic != "static" and section.get("observer", "geometric") == "geometric" else "")
    maps: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    folders: list[Path] = []
    steps = int(section["steps"])
    with tqdm(total=len(tokens) * len(variants) * steps, desc="closed-loop", unit="step",
              disable=not section.get("progress", True)) as bar:
        for token in tokens:
            scene = loader.get_scene_from_token(token)
            name = scene.scene_metadata.map_name
            if name not in maps:
                maps[name] = load_map(maps_root, name)
            cache = with_agents(build_metric_cache(scene, maps[name]), str(section.get("agents", "log_replay")))
            v2_cache = build_epdms_cache(scene, maps[name]) if metric == "epdms" else None
            oracle = scene_oracle(scene, section, blobs)
            for variant in variants:
                bar.set_postfix_str(f"{token} {variant}")
                observer = make_observer(scene, section, gen_cfg, oracle, generator)
                result = rollout(scene, pipeline, cache, observer, steps=steps, use_fc=variant == "fc",
                                 on_step=lambda _step: bar.update(1))
                epdms = None if v2_cache is None else epdms_of_rollout(
                    result, v2_cache, EPDMSConfig(human_filter=human_filter), traffic,
                    maps[name] if traffic == "reactive" else None)
                folder = out / token / variant
                write_rollout(folder, result, cache, getattr(observer, "views", None), bool(section.get("video", True)),
                              list(section["cameras"]), int(section.get("video_scale", 2)), epdms)
                folders.append(folder)
                row: dict[str, Any] = {"token": token, "variant": variant, "planner": planner_name,
                                       "observer": observer_name, "agents": section.get("agents", "log_replay"),
                                       "mode": "privileged" if dynamic != "static" and "lidar" not in observer_name
                                       else "honest"}
                row.update({f"open_{k}": result.open_loop[k] for k in SUBSCORES})
                row.update({f"closed_{k}": result.closed_loop[k] for k in SUBSCORES})
                row["metric"] = METRIC_LABEL[metric]
                if epdms is not None:
                    row.update(traffic=traffic, human_filter=human_filter)
                    row.update({f"epdms_open_{k}": v for k, v in epdms.open_loop.items()})
                    row.update({f"epdms_closed_{k}": v for k, v in epdms.closed_loop.items()})
                    finite = [e for e in epdms.step_ec if np.isfinite(e)]
                    row["epdms_mean_step_ec"] = float(np.mean(finite)) if finite else float("nan")
                row.update(drift_summary(result))
                row["steps_off_road"] = sum(not s.in_drivable_area for s in result.steps)
                row["steps_uncomfortable"] = sum(not s.comfortable for s in result.steps)
                rows.append(row)
    stages: dict[str, dict[str, float]] = {}
    if section.get("evaluate_dir"):
        for variant in sorted({r["variant"] for r in rows}):
            per_scene, stages[variant], _ = evaluate_scores(section["evaluate_dir"], variant)
            for r in rows:
                if r["variant"] == variant:
                    r["eval_one_stage_score"] = per_scene.get(r["token"], float("nan"))
                    r["eval_dir"] = str(section["evaluate_dir"])
    table = comparison_table(rows, stages)
    table.to_csv(out / "closed_vs_open.csv", index=False)
    return {"output_dir": out, "table": table, "csv": out / "closed_vs_open.csv", "folders": folders,
            "markdown": format_comparison(table)}


# -- counterfactual export -------------------------------------------------------------------------------
def run_counterfactual(cfg: Any) -> dict[str, Any]:
    """Export every scene × perturbation of the composed ``counterfactual`` config."""

    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    section = plain["counterfactual"]
    perturbations = []
    for i, p in enumerate(section.get("perturbations") or []):
        if not isinstance(p, Mapping) or "name" not in p:
            raise ValueError(f"counterfactual.perturbations[{i}]: expected {{name, lateral_m, heading_deg, "
                             f"speed_factor}}, got {p!r}")
        extra = set(p) - {"name", "lateral_m", "heading_deg", "speed_factor"}
        if extra:
            raise ValueError(f"counterfactual.perturbations[{i}]: unknown keys {sorted(extra)}")
        perturbations.append(Perturbation(str(p["name"]), float(p.get("lateral_m", 0.0)),
                                          float(p.get("heading_deg", 0.0)), float(p.get("speed_factor", 1.0))))
    if not perturbations:
        raise ValueError("counterfactual.perturbations is empty")
    out = Path(section["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    loader, _, _ = _loader(plain["data"])
    tokens = _tokens(loader, section)
    render: Any = None
    if section.get("render", True):
        render = GeometricRenderFn(list(section["cameras"]), tuple(section["image_size"]), str(section.get("frames", "all")),
                                   int(section["sweeps"]), float(section["voxel_size"]), int(section["splat"]),
                                   int(section["hole_fill"]), str(section.get("device", "cpu")))
        gen_cfg = plain.get("generator") or {"name": "geometric"}
        if gen_cfg.get("name", "geometric") != "geometric":

            check_image_size(section["image_size"], f"counterfactual.image_size (generator={gen_cfg['name']})")

            render = GeneratedRenderFn(render, build_generator(gen_cfg), int(section.get("wm_frames", 9)),
                                       int(gen_cfg.get("seed", 0)))
    written = []
    manifest = []
    with tqdm(total=len(tokens) * len(perturbations), desc="counterfactual", unit="scene",
              disable=not section.get("progress", True)) as bar:
        for token in tokens:
            scene = loader.get_scene_from_token(token)
            for p in perturbations:
                cf = counterfactual_scene(scene, p, render)
                path = write_synthetic_scene(cf, scene, out)
                written.append(path)
                manifest.append({"synthetic_token": cf.scene_metadata.initial_token, "original_token": token,
                                 "log_name": scene.scene_metadata.log_name, "perturbation": p.name,
                                 "lateral_m": p.lateral_m, "heading_deg": p.heading_deg,
                                 "speed_factor": p.speed_factor, "pickle": str(path.relative_to(out))})
                bar.update(1)
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(manifest[0]))
        w.writeheader()
        w.writerows(manifest)
    return {"output_dir": out, "pickles": written, "manifest": out / "manifest.csv"}
