"""``inspatio-drive study``: what the future-consistency (FC) term does to PDMS, on sandbox splits.

Steps (``configs/study.yaml``; each resumable — finished outputs are kept — and skippable via ``steps``):

1. ``sandbox``  — write the splits under ``<output_dir>/data``: ``train``, ``val``, ``train_vocab``
   (annotations only, for the vocabulary) and ``test_s<seed>`` per seed; world seeds are disjoint ranges
   (checked) and scenes go round robin over the scenario catalogue. Sensors are written for the agent's
   history frames only (``sandbox.sensor_frames``): PDM scoring reads annotations, never future sensors.
2. ``vocab``    — ``build-vocab`` on the ``train_vocab`` + ``train`` pool → ``vocab.safetensors``.
3. ``features`` — ``evaluate`` the vocabulary planner + honest rule scorer with ``GeometricFC(head=None)`` on
   train and val with ``eval.dump_dir`` → :func:`~inspatio_drive.evaluation.fc_data.collect_fc_dataset`
   → ``fc_dataset.npz``.
4. ``train``    — ``train-fc`` per seed on train (early stopping and ``w_fc`` on val only) →
   ``heads/s<seed>/fc_head.safetensors`` + ``metrics.json``.
5. ``test``     — ``evaluate`` ``test_s<seed>`` with head ``s<seed>`` and its ``w_fc`` (variants base, fc,
   fc_only, oracle; every row says honest / privileged).
7. ``ablation`` — (issue 21; needs ``dump_test``) rule, rule + post-hoc FC, the learned DrivoR-form scorer
   without and with FC inputs (``train-scorer`` per seed on train / val), oracle@K, re-selected on the dumped test
   candidates, paired differences, per-scenario breakdown (:mod:`inspatio_drive.evaluation.study_ablation`) →
   ``ablation.md``, ``ablation.json``, ``ablation.png``; with ``metric=epdms`` train / val are first scored with
   EPDMS and dumped (``features_epdms/``), the learned scorers train on v2 targets (``scorers_epdms/``) and the
   ``test_epdms`` dumps are re-selected → ``ablation_epdms.*``.
6. ``report``   — :func:`study_table` over the test rows: PDMS and every sub-score per method, mean over seeds
   with a (seed, scene) bootstrap CI, FC time per scene, share of the base → oracle@K gap closed → ``study.md``,
   ``study.json``, ``study.png``; optionally into a README block and the package assets.

``metric=epdms`` (with ``traffic=`` / ``epdms.human_filter=``, ``evaluate``'s knobs) scores the test step with
NAVSIM v2.2 one-stage EPDMS (runs under ``test_epdms/s<seed>``) and reports EPDMS and the v2 sub-scores
(``study_epdms.md`` / ``.json`` / ``.png``). The features / train steps stay on v1.1: the FC label is NC·DAC, whose
rules v1.1 and v2 share under log replay, and ``w_fc`` is chosen on validation v1.1 PDMS (FC trained on the v2
sub-scores is issue #21). So a PDMS and an EPDMS study share one ``output_dir`` (sandbox, vocabulary, heads).
The ``ablation`` step's learned scorers are the exception: with ``metric=epdms`` they train on the v2 sub-scores.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from inspatio_drive.config import compose
from inspatio_drive.contracts import METRIC_LABELS
from inspatio_drive.data.pcd import write_pcd
from inspatio_drive.data.writers import write_jpeg, write_log
from inspatio_drive.evaluation.epdms import (
    EPDMS_METRICS,
    METRIC_LABEL,
    check_metric,
    drop_unlabelled_ec,
    with_one_stage,
)
from inspatio_drive.evaluation.fc_data import collect_fc_dataset
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.evaluation.run import run_evaluation
from inspatio_drive.evaluation.study_ablation import ABLATION_METRICS, epdms_ablation_note, run_ablation
from inspatio_drive.evaluation.study_weights import weight_rule_markdown, weight_rule_table
from inspatio_drive.sandbox.gpkg import write_maps_root
from inspatio_drive.sandbox.oracle import WORLD_FILE, LidarModel, Oracle, RenderConfig, save_world_spec
from inspatio_drive.sandbox.scenarios import SCENARIOS, generate_scene
from inspatio_drive.sandbox.writer import frame_dicts
from planners.vocabulary import build_vocab_from_config
from scorers.study import hierarchical_bootstrap
from scorers.train import train_fc_from_config

STEPS = ("sandbox", "vocab", "features", "train", "test", "report", "ablation")
METHODS: tuple[tuple[str, str], ...] = (("base", "base"), ("fc", "base+FC"), ("fc_only", "FC alone"),
                                        ("oracle", "oracle@K"))
METRICS: tuple[tuple[str, str], ...] = METRIC_LABELS
README_BEGIN, README_END = "<!-- study:begin -->", "<!-- study:end -->"


# -- step 1: sandbox splits ----------------------------------------------------------------------------------
def split_plan(cfg: Mapping[str, Any]) -> dict[str, tuple[int, int, int]]:
    """``split name → (n scenes, first world seed, frames per log)`` for every split of the study.

    Raises:
        ValueError: two splits whose world-seed ranges overlap, or a seed-free split count.
    """
    sb = cfg["sandbox"]
    plan = {"train": (int(cfg["train"]["n"]), int(cfg["train"]["seed"]), int(sb["num_frames"])),
            "val": (int(cfg["val"]["n"]), int(cfg["val"]["seed"]), int(sb["num_frames"])),
            "train_vocab": (int(cfg["vocab"]["n"]), int(cfg["vocab"]["seed"]), int(cfg["vocab"]["num_frames"]))}
    for s in cfg["seeds"]:
        plan[f"test_s{int(s)}"] = (int(cfg["test"]["n"]), int(cfg["test"]["seed"]) + int(s) * int(cfg["test"]["seed_stride"]),
                                   int(sb["num_frames"]))
    ranges = sorted((seed, seed + n, name) for name, (n, seed, _) in plan.items() if n > 0)
    for (a0, a1, an), (b0, _, bn) in itertools.pairwise(ranges):
        if b0 < a1:
            raise ValueError(f"study: world seeds of splits {an!r} [{a0}, {a1}) and {bn!r} (from {b0}) overlap; "
                             "change train.seed / val.seed / vocab.seed / test.seed / test.seed_stride")
    return plan


def _render_config(sb: Mapping[str, Any]) -> Any:
    lid = sb["lidar"]
    return RenderConfig(
        width=int(sb["image"]["width"]), height=int(sb["image"]["height"]),
        lidar=LidarModel(int(lid["channels"]), int(lid["azimuths"]), tuple(float(x) for x in lid["elevation"]),
                         tuple(float(x) for x in lid["origin"]), float(lid["max_range"])),
        texture_res=float(sb["texture_res"]), shadows=bool(sb["shadows"]), workers=int(sb["workers"]),
    )  # fmt: skip


def write_study_split(
    root: Path,
    split: str,
    n: int,
    seed: int,
    scenarios: Sequence[str] | None,
    *,
    num_frames: int,
    sensor_frames: int | None,
    camera_frames: int | None = None,
    config: Any,
    density: float = 1.0,
    jpeg_quality: int = 85,
    progress: bool = True,
) -> list[Path]:
    """Write ``n`` sandbox logs (scene ``i``: ``scenarios[i % len]``, world seed ``seed + i``) under ``root``.

    LiDAR PCDs are written for the first ``sensor_frames`` frames only (``None``: every frame; ``0``: none,
    and no map — annotation-only logs for the vocabulary), camera JPEGs (all 8) for the last
    ``camera_frames`` of those (``None``: all of them; ``1``: the current frame only, DrivoR's input). A log whose pickle exists is
    skipped (the pickle is written last, atomically), so an interrupted split resumes.

    Returns:
        the log pickle paths, in scene order.
    """

    names = study_scenarios(scenarios)
    logs_dir, blobs = root / "navsim_logs" / split, root / "sensor_blobs" / split
    out: list[Path] = []
    for i in tqdm(range(n), desc=f"sandbox {split}", unit="log", disable=not progress, file=sys.stderr):
        scenario = names[i % len(names)]
        name = f"sandbox-{scenario.replace('_', '-')}-{seed + i:04d}"
        pkl = logs_dir / f"{name}.pkl"
        out.append(pkl)
        if pkl.is_file():
            continue
        world = generate_scene(scenario, seed + i, num_frames=num_frames, density=density, name=name)
        frames = frame_dicts(world, config)
        k = num_frames if sensor_frames is None else min(int(sensor_frames), num_frames)
        if k > 0:
            oracle = Oracle(world, config)
            write_maps_root(root / "maps", world.location, world.network, world.origin)
            save_world_spec(blobs / world.name / WORLD_FILE, world, config)
            first_cam = 0 if camera_frames is None else max(0, k - int(camera_frames))
            for i, (frame, t) in enumerate(list(zip(frames, world.frame_times))[:k]):
                pose = world.ego_pose_global(float(t))
                if i >= first_cam:
                    for name, view in oracle.render_rig(pose, float(t)).items():
                        write_jpeg(blobs / frame["cams"][name]["data_path"], view.rgb, quality=jpeg_quality)
                write_pcd(blobs / frame["lidar_path"], oracle.lidar(pose, float(t)))
        write_log(pkl, frames)
    return out


# -- evaluation helpers ----------------------------------------------------------------------------------------
def evaluate_overrides(cfg: Mapping[str, Any], split: str, out: Path, *, head: str | None, weight: float,
                       variants: Sequence[str], dump_dir: Path | None, metric: Sequence[str] = ()) -> list[str]:
    """The ``inspatio-drive evaluate`` overrides of one study evaluation (vocabulary planner + honest rules);
    ``metric``: the metric overrides (:func:`metric_overrides`), before the user's ``evaluate_overrides``."""
    root = Path(cfg["output_dir"]) / "data"
    ov = [
        f"data.data_root={root}", f"data.split={split}", "data.scene_filter.has_route=false",
        # future frames carry annotations only (sandbox.sensor_frames): their sensors load as empty
        f"data.lenient={str(bool(cfg['sandbox'].get('sensor_frames') is not None)).lower()}",
        "planner=vocabulary", f"planner/selection={cfg.get('selection') or 'v1'}",
        f"planner.vocabulary={Path(cfg['output_dir']) / 'vocab.safetensors'}",
        "+scorer=geometric_fc", f"scorer.model.head={'null' if head is None else head}", f"scorer.w_fc={weight}",
        f"eval.output_dir={out}", f"eval.variants=[{','.join(variants)}]",
        f"eval.dump_dir={'null' if dump_dir is None else dump_dir}", "eval.artefacts=0", "eval.report=false",
        f"eval.progress={str(bool(cfg.get('progress', True))).lower()}",
    ]
    return ov + list(metric) + [str(o) for o in cfg.get("evaluate_overrides") or []]


def study_metric(cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(metric, traffic, human_filter)`` of a study config, checked (one-line ``ValueError``) before any work."""
    metric, traffic = str(cfg.get("metric") or "pdms"), str(cfg.get("traffic") or "log_replay")
    human_filter = str((cfg.get("epdms") or {}).get("human_filter") or "v2.2")
    check_metric(metric, traffic, human_filter)
    return metric, traffic, human_filter


def metric_overrides(metric: str, traffic: str, human_filter: str) -> list[str]:
    """The ``evaluate`` overrides of the test step: none for ``pdms`` (evaluate's default), the three knobs for
    ``epdms``."""
    if metric == "pdms":
        return []
    return [f"metric={metric}", f"traffic={traffic}", f"epdms.human_filter={human_filter}"]


def epdms_note(traffic: str, human_filter: str) -> str:
    """The line a ``metric=epdms`` study table carries: what was scored with which metric."""
    reactive = (" With traffic=reactive, v2's NC is against IDM agents re-simulated around the ego, which the "
                "v1.1 targets did not see." if traffic == "reactive" else "")
    return (f"Metric: NAVSIM v2.2 one-stage EPDMS ({METRIC_LABEL['epdms']}, traffic={traffic}, "
            f"human_filter={human_filter}) for every test selection (base, base+FC, FC alone, oracle@K ranked by "
            "the frame's EPDMS without EC). The FC head is trained on NAVSIM v1.1 targets (features step scored "
            "with metric=pdms: the FC label is NC·DAC, whose rules v1.1 and v2 share under log replay) and w_fc "
            "is chosen on validation v1.1 PDMS; FC trained against the v2 sub-scores is issue #21." + reactive)


def _evaluate(overrides: list[str]) -> dict[str, Any]:
    return run_evaluation(compose("evaluate", overrides))


# -- step 6: the table ---------------------------------------------------------------------------------------
@dataclass
class StudyTable:
    """Per method and metric: mean over seeds of the per-seed scene means, with bootstrap CI bounds.

    Attributes:
        rows: one dict per method: ``method``, ``inputs`` (honest / privileged), ``metric → (mean, lo, hi)``,
            ``fc_time_s`` (mean FC seconds per scene: render + features + head; None without FC),
            ``select_time_s`` (mean seconds per scene to choose: planner proposal + honest rule scorer, plus FC
            where used; for oracle@K the PDM scoring of every candidate).
        gap_closed: ``(mean, lo, hi)`` share of the base → oracle@K PDMS gap closed by base+FC.
        gap_closed_fc_alone: same for FC alone.
        subscores_not_lowered: metric → base+FC mean ≥ base mean.
        target_met: gap closed ≥ 30 % and no sub-score mean lowered.
        w_fc: chosen on validation, per seed.
        metrics: (column, label) of the table: :data:`METRICS` (v1.1 PDMS) or :data:`EPDMS_METRICS` (less EC
            when it was dropped), aggregate first.
        notes: extra lines under the table (the metric, a dropped EC column).
    """

    rows: list[dict[str, Any]]
    gap_closed: tuple[float, float, float]
    gap_closed_fc_alone: tuple[float, float, float]
    subscores_not_lowered: dict[str, bool]
    target_met: bool
    scenes_per_seed: dict[int, int]
    w_fc: dict[int, float]
    ci: float
    metrics: tuple[tuple[str, str], ...] = METRICS
    notes: tuple[str, ...] = ()


def study_table(per_seed: Mapping[int, pd.DataFrame], w_fc: Mapping[int, float], *, n_boot: int = 2000,
                ci: float = 0.95, seed: int = 0, metrics: Sequence[tuple[str, str]] = METRICS,
                notes: Sequence[str] = ()) -> StudyTable:
    """Aggregate the test rows of every seed (``evaluate`` result frames: token, variant, valid, mode,
    sub-scores, timings ``propose_s``, ``fc_s``, ``pdm_s``)

    ``metrics``: the (column, label) pairs tabulated, the aggregate (``score``) first — :data:`METRICS` for
    ``metric=pdms`` rows, :data:`EPDMS_METRICS` for ``metric=epdms`` rows. EC
    (``two_frame_extended_comfort``) is dropped, with a note, when a counted row has none (no scene 0.5 s
    earlier in its log; its one-stage score then has no EC term) — a mean over some scenes only would not
    be comparable across methods.

    Only scenes valid in every variant count. A statistic is the mean over seeds of the per-seed scene mean;
    its CI comes from a hierarchical bootstrap (seeds with replacement, then scenes within each drawn seed),
    the same draws for every method, so differences are paired.

    Raises:
        ValueError: a seed without a scene valid in all four variants.
    """
    keys = [k for k, _ in metrics]
    values: dict[int, dict[str, np.ndarray]] = {}  # seed → variant → [M, len(keys)]
    modes: dict[str, set[str]] = {v: set() for v, _ in METHODS}
    fc_time: list[float] = []
    sel_time: dict[str, list[float]] = {v: [] for v, _ in METHODS}
    for s, df in per_seed.items():
        df = df[df["variant"].isin([v for v, _ in METHODS])]
        ok = df.groupby("token")["valid"].agg(lambda x: bool(np.all(x)) and len(x) == len(METHODS))
        tokens = sorted(ok.index[ok.to_numpy()])
        if not tokens:
            raise ValueError(f"study: seed {s} has no test scene valid in all of {[v for v, _ in METHODS]}")
        values[s] = {}
        for v, _ in METHODS:
            part = df[(df["variant"] == v) & df["token"].isin(tokens)].drop_duplicates("token", keep="last")
            part = part.set_index("token").loc[tokens]
            values[s][v] = part[keys].to_numpy(np.float64)
            modes[v].update(str(m) for m in part["mode"])
            if v == "fc" and "fc_s" in part:
                fc_time += [float(t) for t in part["fc_s"] if t is not None and np.isfinite(t)]
            cols = {"base": ["propose_s"], "fc": ["propose_s", "fc_s"], "fc_only": ["propose_s", "fc_s"],
                    "oracle": ["pdm_s"]}[v]
            if all(c in part for c in cols):
                tot = part[cols].astype(np.float64).sum(axis=1).to_numpy()
                sel_time[v] += [float(x) for x in tot if np.isfinite(x)]
    seeds = sorted(values)
    per = {v: [values[s][v] for s in seeds] for v, _ in METHODS}
    metrics, per, ec_note = drop_unlabelled_ec(metrics, per)
    keys = [k for k, _ in metrics]
    values = {s: {v: per[v][j] for v, _ in METHODS} for j, s in enumerate(seeds)}
    notes = [*notes, *([ec_note] if ec_note else [])]
    alpha = (1 - ci) / 2
    point, draws = hierarchical_bootstrap({v: [values[s][v] for s in seeds] for v, _ in METHODS}, n_boot=n_boot,
                                          seed=seed)
    rows = []
    for v, label in METHODS:
        lo, hi = np.quantile(draws[v], alpha, axis=0), np.quantile(draws[v], 1 - alpha, axis=0)
        rows.append({"method": label, "variant": v, "inputs": "/".join(sorted(modes[v])),
                     **{k: (float(point[v][i]), float(lo[i]), float(hi[i])) for i, k in enumerate(keys)},
                     "fc_time_s": float(np.mean(fc_time)) if v in ("fc", "fc_only") and fc_time else None,
                     "select_time_s": float(np.mean(sel_time[v])) if sel_time[v] else None})

    def gap(v: str) -> tuple[float, float, float]:
        den = point["oracle"][0] - point["base"][0]
        p = (point[v][0] - point["base"][0]) / den if abs(den) > 1e-12 else float("nan")
        dd = draws["oracle"][:, 0] - draws["base"][:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(np.abs(dd) > 1e-12, (draws[v][:, 0] - draws["base"][:, 0]) / dd, np.nan)
        g = g[np.isfinite(g)]
        return (float(p), *(map(float, np.quantile(g, [alpha, 1 - alpha])) if g.size else (float("nan"),) * 2))

    not_lowered = {k: bool(point["fc"][i] >= point["base"][i] - 1e-12) for i, k in enumerate(keys) if k != "score"}
    g = gap("fc")
    return StudyTable(rows, g, gap("fc_only"), not_lowered,
                      bool(np.isfinite(g[0]) and g[0] >= 0.3 and all(not_lowered.values())),
                      {s: len(values[s]["base"]) for s in seeds}, {int(s): float(w_fc[s]) for s in seeds}, ci,
                      tuple(metrics), tuple(notes))


def table_markdown(t: StudyTable) -> str:
    """Markdown table (values ×100, ``mean [lo, hi]``) and the summary lines."""
    label = dict(t.metrics)
    head = ["method", "inputs", *label.values(), "FC time / scene", "selection time / scene"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in t.rows:
        cells = [f"{r[k][0] * 100:.1f} [{r[k][1] * 100:.1f}, {r[k][2] * 100:.1f}]" for k in label]
        ft = "–" if r["fc_time_s"] is None else f"{r['fc_time_s']:.2f} s"
        st = "–" if r.get("select_time_s") is None else f"{r['select_time_s']:.2f} s"
        lines.append("| " + " | ".join([r["method"], r["inputs"], *cells, ft, st]) + " |")
    pct = round(t.ci * 100)
    lowered = [label[k] for k, ok in t.subscores_not_lowered.items() if not ok]
    fmt = "{:.0f} % [{:.0f}, {:.0f}]".format
    lines += ["",
              f"Scenes per seed (valid in every variant): {t.scenes_per_seed}; w_fc chosen on validation per seed: "
              f"{t.w_fc}. Values ×100, mean over seeds [{pct} % bootstrap CI, seeds then scenes resampled].",
              f"Share of the base → oracle@K {label['score']} gap closed: base+FC {fmt(*(x * 100 for x in t.gap_closed))}, "
              f"FC alone {fmt(*(x * 100 for x in t.gap_closed_fc_alone))}. Target (≥ 30 % and no sub-score mean "
              f"lowered): {'met' if t.target_met else 'not met'}" + (f" (lowered: {', '.join(lowered)})" if lowered else "")
              + ".", *t.notes]
    return "\n".join(lines)


def plot_table(t: StudyTable, path: Path) -> Path:
    """Grouped bars (metric × method) with CI error bars (PNG)."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    keys = [k for k, _ in t.metrics]
    x = np.arange(len(keys))
    width = 0.8 / len(t.rows)
    fig, ax = plt.subplots(figsize=(7.5, 3.4), dpi=90)
    for i, r in enumerate(t.rows):
        m = np.array([r[k][0] for k in keys]) * 100
        err = np.stack([m - np.array([r[k][1] for k in keys]) * 100, np.array([r[k][2] for k in keys]) * 100 - m])
        ax.bar(x + (i - (len(t.rows) - 1) / 2) * width, m, width, yerr=np.clip(err, 0, None), capsize=2,
               label=f"{r['method']} ({r['inputs']})")
    ax.set_xticks(x, [dict(t.metrics)[k] for k in keys])
    ax.set_ylabel("score ×100 (test mean)")
    lo = min(r[k][1] for r in t.rows for k in keys) * 100
    ax.set_ylim(max(0.0, lo - 5), 101)
    n = sum(t.scenes_per_seed.values())
    what = "" if t.metrics[0][1] == "PDMS" else f" ({t.metrics[0][1]})"
    ax.set_title(f"FC study{what}: {n} test scenes over {len(t.scenes_per_seed)} seeds")
    ax.legend(ncol=2, fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def table_json(t: StudyTable) -> dict[str, Any]:
    return {"rows": t.rows, "gap_closed": t.gap_closed, "gap_closed_fc_alone": t.gap_closed_fc_alone,
            "subscores_not_lowered": t.subscores_not_lowered, "target_met": t.target_met,
            "scenes_per_seed": {str(k): v for k, v in t.scenes_per_seed.items()},
            "w_fc": {str(k): v for k, v in t.w_fc.items()}, "ci": t.ci,
            **({} if t.metrics == METRICS else {"metrics": [list(m) for m in t.metrics], "notes": list(t.notes)})}


def replace_readme_block(path: Path, text: str) -> None:
    """Replace the ``<!-- study:begin --> ... <!-- study:end -->`` block of ``path`` (appended if absent)."""
    old = path.read_text() if path.is_file() else ""
    block = f"{README_BEGIN}\n{text.rstrip()}\n{README_END}"
    if README_BEGIN in old and README_END in old:
        new = old[: old.index(README_BEGIN)] + block + old[old.index(README_END) + len(README_END):]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


# -- the pipeline ----------------------------------------------------------------------------------------------
def study_scenarios(scenarios: Sequence[str] | str | None) -> list[str]:
    """The sandbox catalogue names of ``scenarios`` (``None``: all); a ``ValueError`` names unknown ones."""
    names = [scenarios] if isinstance(scenarios, str) else list(scenarios) if scenarios else list(SCENARIOS)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"scenarios: unknown {unknown}; expected names from {sorted(SCENARIOS)}")
    return names


def run_study(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Run the steps of a composed ``configs/study.yaml`` (plain dict); returns paths and the table."""
    metric, traffic, human_filter = study_metric(cfg)  # before any work
    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    steps = list(cfg["steps"])
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise ValueError(f"study.steps: unknown {bad}; expected a subset of {list(STEPS)}")
    seeds = [int(s) for s in cfg["seeds"]]
    if not seeds:
        raise ValueError("study.seeds: at least one seed")
    study_scenarios(cfg.get("scenarios"))  # before any work
    plan = split_plan(cfg)
    data = out / "data"
    progress = bool(cfg.get("progress", True))
    result: dict[str, Any] = {"output_dir": str(out)}
    log = (lambda msg: print(f"study: {msg}", file=sys.stderr)) if progress else (lambda msg: None)

    if "sandbox" in steps:
        sb, config = cfg["sandbox"], _render_config(cfg["sandbox"])
        for split, (n, seed, frames) in plan.items():
            log(f"sandbox split {split}: {n} logs, world seeds {seed}..{seed + n - 1}")
            write_study_split(data, split, n, seed, cfg.get("scenarios"), num_frames=frames,
                              sensor_frames=0 if split == "train_vocab" else sb.get("sensor_frames"),
                              camera_frames=sb.get("camera_frames"), config=config,
                              density=float(sb["density"]), jpeg_quality=int(sb["jpeg_quality"]), progress=progress)

    vocab = out / "vocab.safetensors"
    if "vocab" in steps and not vocab.is_file():

        # the train pool: annotation-only train_vocab logs and the train logs, linked into one split folder
        pool = data / "navsim_logs" / "vocab_pool"
        pool.mkdir(parents=True, exist_ok=True)
        for split in ("train_vocab", "train"):
            for pkl in sorted((data / "navsim_logs" / split).glob("*.pkl")):
                if not (pool / pkl.name).exists():
                    shutil.copyfile(pkl, pool / pkl.name)
        v = cfg["vocabulary"]
        build_vocab_from_config(compose("build_vocab", [f"data.data_root={data}", "data.split=vocab_pool", f"output={vocab}", f"k={int(v['k'])}",
                               f"frame_interval={int(v['frame_interval'])}", f"iters={int(v['iters'])}",
                               f"speed_edges=[{','.join(str(float(e)) for e in v['speed_edges'])}]"]))
    result["vocab"] = str(vocab)

    dataset = out / "fc_dataset.npz"
    if "features" in steps:
        for split in ("train", "val"):
            _evaluate(evaluate_overrides(cfg, split, out / "features" / split, head=None, weight=0.0,
                                         variants=["base", "oracle"], dump_dir=out / "features" / split / "dump"))

        collect_fc_dataset({s: out / "features" / s / "dump" for s in ("train", "val")}, dataset)
    result["dataset"] = str(dataset)

    heads = {s: out / "heads" / f"s{s}" for s in seeds}
    if "train" in steps:

        for s in seeds:
            if (heads[s] / "metrics.json").is_file():
                continue
            train_fc_from_config(compose("train_fc", [f"dataset={dataset}", f"output_dir={heads[s]}", f"seed={s}", "train_split=train",
                           "val_split=val", f"progress={str(progress).lower()}",
                           *[str(o) for o in cfg.get("train_fc_overrides") or []]]))

    def w_fc(s: int) -> float:
        metrics = heads[s] / "metrics.json"
        if not metrics.is_file():
            raise FileNotFoundError(f"study: {metrics} missing; run the train step first")
        w = json.loads(metrics.read_text()).get("w_fc")
        if w is None:
            raise ValueError(f"{metrics}: no w_fc chosen on validation")
        return float(w)

    # the test runs and the report of each metric are apart, so a PDMS and an EPDMS study share the rest
    test_dir, name = (out / "test", "study") if metric == "pdms" else (out / "test_epdms", "study_epdms")
    if "test" in steps:
        for s in seeds:
            _evaluate(evaluate_overrides(cfg, f"test_s{s}", test_dir / f"s{s}",
                                         head=str(heads[s] / "fc_head.safetensors"), weight=w_fc(s),
                                         variants=[v for v, _ in METHODS],
                                         dump_dir=test_dir / f"s{s}" / "dump" if cfg.get("dump_test") else None,
                                         metric=metric_overrides(metric, traffic, human_filter)))

    if "report" in steps:

        rep = cfg["report"]
        frames = {s: ResultStore(test_dir / f"s{s}").dataframe() for s in seeds}
        if metric == "epdms":
            frames = {s: with_one_stage(df) for s, df in frames.items()}  # the journal's EC and one-stage score
            table = study_table(frames, {s: w_fc(s) for s in seeds}, n_boot=int(rep["n_boot"]), ci=float(rep["ci"]),
                                metrics=EPDMS_METRICS, notes=[epdms_note(traffic, human_filter)])
        else:
            table = study_table(frames, {s: w_fc(s) for s in seeds}, n_boot=int(rep["n_boot"]), ci=float(rep["ci"]))
        md = table_markdown(table)
        zs = rep.get("weight_rules")
        if zs and metric == "epdms":
            md += ("\n\nThe offline table of the validation rules for `w_fc` (`report.weight_rules`) tabulates v1.1 "
                   "PDM sub-scores: not produced with metric=epdms.")
        elif zs and all((out / "test" / f"s{s}" / "dump").is_dir() for s in seeds):

            md += ("\n\nThe validation rule for `w_fc` (`fusion.z`), re-selecting the dumped test candidates offline "
                   "(weights chosen on val only; ×100, mean over seeds):\n\n"
                   + weight_rule_markdown(weight_rule_table(out, seeds, [float(z) for z in zs])))
        (out / f"{name}.md").write_text(md + "\n")
        (out / f"{name}.json").write_text(json.dumps(table_json(table), indent=1))
        result["plot"] = str(plot_table(table, out / f"{name}.png"))
        if rep.get("plot"):
            shutil.copyfile(out / f"{name}.png", Path(rep["plot"]))
        if rep.get("readme"):
            replace_readme_block(Path(rep["readme"]), md)
        if rep.get("assets_dir"):
            result["assets"] = ship_assets(out, seeds[0], Path(rep["assets_dir"]))
        result["table"] = table
        result["markdown"] = md

    if "ablation" in steps:
        notes: list[str] = []
        if metric == "epdms":
            # the v2 targets of the learned scorers: train and val scored by evaluate metric=epdms (the same
            # candidates as the features step: vocabulary planner + rule scorer + GeometricFC features), dumped
            ev = out / "features_epdms"
            for split in ("train", "val"):
                _evaluate(evaluate_overrides(cfg, split, ev / split, head=None, weight=0.0, variants=["base", "oracle"],
                                             dump_dir=ev / split / "dump",
                                             metric=metric_overrides(metric, traffic, human_filter)))
            collect_fc_dataset({s: ev / s / "dump" for s in ("train", "val")}, out / ABLATION_METRICS[metric].dataset)
            notes.append(epdms_ablation_note(traffic, human_filter))
        result["ablation"] = run_ablation(out, seeds, cfg.get("ablation") or {}, progress=progress, metric=metric,
                                          notes=notes)
        if metric == "pdms" and (cfg.get("report") or {}).get("assets_dir"):  # the shipped scorers are v1.1 ones
            result["assets"] = ship_assets(out, seeds[0], Path(cfg["report"]["assets_dir"]))
    return result


ASSET_NAMES = {"vocab.safetensors": "vocab_sandbox.safetensors",
               "heads/s{seed}/fc_head.safetensors": "fc_head_sandbox.safetensors",
               "scorers/s{seed}/none/scorer.safetensors": "scorer_sandbox_learned.safetensors",
               "scorers/s{seed}/features/scorer.safetensors": "scorer_sandbox_learned_fc.safetensors"}
"""Study output (under ``output_dir``, ``{seed}`` = the first seed) → shipped asset name (``report.assets_dir``)."""


def ship_assets(out: Path, seed: int, assets: Path) -> list[str]:
    """Copy the study's vocabulary, seed ``seed``'s FC head and (once the ablation step made them) its learned
    DrivoR-form scorers without and with FC inputs into ``assets`` (:data:`ASSET_NAMES`), together, so the shipped
    scorers and FC head always come with the vocabulary whose candidates they were trained on. Returns the names
    copied; raises ``FileNotFoundError`` when the vocabulary or the FC head is missing."""
    assets.mkdir(parents=True, exist_ok=True)
    copied = []
    for src, name in ASSET_NAMES.items():
        path = out / src.format(seed=seed)
        if not path.is_file():
            if "scorers/" in src:  # made by the ablation step, which may not have run yet
                continue
            raise FileNotFoundError(f"study: {path} missing; run the vocab and train steps first")
        shutil.copyfile(path, assets / name)
        copied.append(name)
    return copied
