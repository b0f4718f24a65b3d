"""``inspatio-drive second-stage-study``: what imagining the second stage costs, measured on the sandbox.

Steps (``configs/second_stage_study.yaml``; every step resumable — finished logs, follow-up scenes and evaluations
are kept):

1. sandbox logs (``n`` logs of ``num_frames`` frames; every log frame ``f`` with 4 frames before and 16 after is a
   stage-one scene): :func:`~inspatio_drive.evaluation.study.write_study_split`;
2. the same follow-up scenes (same tokens, start states, objects) three times, by ``second-stage``: (a) ``oracle``
   — true camera views and LiDAR of the sandbox world at the perturbed poses; (b) ``geometric`` — the geometric
   renderer's views and the logged LiDAR re-expressed; (c) ``no_lidar`` — (b) without LiDAR;
3. two-stage EPDMS (navsim v2.2, reactive traffic) of each planner on each source: ``evaluate`` with
   ``data.split_file`` (the metric caches are shared: they do not depend on the sensors);
4. the table: stage-one / stage-two / two-stage EPDMS per planner and source, |Δ stage-two| of (b) and (c) against
   (a), Kendall τ / Spearman ρ of the planners' stage-two ranking (a) vs (b), and per-scene differences of the
   follow-up scores (``second_stage_study.csv`` / ``.md`` / ``.json``, ``per_scene.csv``).

The follow-up maker lives in ``closed_loop`` (the same layer as this room), so the command passes it in (``make``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from inspatio_drive.assets import SCORER_LEARNED_SANDBOX, VOCAB_SANDBOX
from inspatio_drive.config import compose
from inspatio_drive.data.synthetic_scenes import read_synthetic_scene
from inspatio_drive.evaluation.epdms import STATES_COLUMN, decode_states
from inspatio_drive.evaluation.run import run_evaluation
from inspatio_drive.evaluation.study import _render_config, write_study_split
from inspatio_drive.pdm.v2.cache import ORIGINAL, scene_type_of_token
from inspatio_drive.pdm.v2.two_stage import follow_up_weights

__all__ = ["SOURCES", "mapping_figure", "rank_agreement", "run_second_stage_study", "study_table"]

SOURCES: dict[str, list[str]] = {
    "oracle": ["second_stage.source=oracle", "second_stage.lidar=oracle"],
    "geometric": ["second_stage.source=geometric", "second_stage.lidar=reexpress"],
    "no_lidar": ["second_stage.source=geometric", "second_stage.lidar=none"],
}
"""The second-stage sensor sources: (a) true views, (b) imagined views + re-expressed LiDAR, (c) (b) without LiDAR."""
SPLIT = "second_stage_study"


def rank_agreement(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, bool]:
    """(Kendall τ, Spearman ρ, same order) of two score lists over the same planners (NaN when < 2 or constant)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = bool(np.array_equal(np.argsort(-x, kind="stable"), np.argsort(-y, kind="stable")))
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, same
    return float(stats.kendalltau(x, y).statistic), float(stats.spearmanr(x, y).statistic), same


def study_table(summaries: Mapping[tuple[str, str], pd.DataFrame], per_scene: pd.DataFrame,
                reference: str = "oracle", imagined: str = "geometric") -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per planner × source from each run's two-stage summary rows, |Δ| of every source's stage-two EPDMS
    to ``reference`` and the rank agreement of ``reference`` vs ``imagined``.

    Args:
        summaries: ``(planner, source)`` → that run's ``summary.csv`` (rows ``EPDMS stage-one`` / ``stage-two`` /
            ``two-stage``).
        per_scene: ``planner, source, token, score`` of every follow-up scene.
    """
    rows = []
    for (planner, source), s in summaries.items():
        m = s[s["variant"] == "base"].set_index("metric")["mean"]
        rows.append({"planner": planner, "source": source, "stage_one": float(m.get("EPDMS stage-one", math.nan)),
                     "stage_two": float(m.get("EPDMS stage-two", math.nan)),
                     "two_stage": float(m.get("EPDMS two-stage", math.nan)),
                     "mappings": int(s.loc[s["metric"] == "EPDMS two-stage", "scenes"].iloc[0])
                     if (s["metric"] == "EPDMS two-stage").any() else 0})
    table = pd.DataFrame(rows)
    ref = table[table["source"] == reference].set_index("planner")
    table["delta_stage_two"] = [r.stage_two - ref.loc[r.planner, "stage_two"] if r.planner in ref.index else math.nan
                                for r in table.itertuples()]
    scenes = per_scene.pivot_table(index=["planner", "token"], columns="source", values="score")
    diffs: dict[str, Any] = {}
    for source in scenes.columns:
        if source == reference:
            continue
        d = (scenes[source] - scenes[reference]).dropna()
        diffs[source] = {"scenes": len(d), "mean_abs": float(d.abs().mean()) if len(d) else math.nan,
                         "max_abs": float(d.abs().max()) if len(d) else math.nan,
                         "changed": float((d.abs() > 1e-9).mean()) if len(d) else math.nan}
    planners = sorted(set(ref.index) & set(table.loc[table["source"] == imagined, "planner"]))
    img = table[table["source"] == imagined].set_index("planner")
    tau, rho, same = rank_agreement([ref.loc[p, "stage_two"] for p in planners],
                                    [img.loc[p, "stage_two"] for p in planners])
    agreement = {"reference": reference, "imagined": imagined, "planners": planners, "kendall_tau": tau,
                 "spearman_rho": rho, "same_ranking": same,
                 "max_abs_delta_stage_two": float(table.loc[table["source"] == imagined, "delta_stage_two"].abs().max()),
                 "per_scene": diffs}
    return table, agreement


def table_markdown(table: pd.DataFrame, agreement: Mapping[str, Any], target: float) -> str:
    """The table as markdown, then the agreement lines."""
    lines = ["| planner | source | stage-one EPDMS | stage-two EPDMS | two-stage EPDMS | Δ stage-two vs oracle | mappings |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in table.sort_values(["planner", "source"]).itertuples():
        lines.append(f"| {r.planner} | {r.source} | {r.stage_one:.4f} | {r.stage_two:.4f} | {r.two_stage:.4f} | "
                     f"{r.delta_stage_two:+.4f} | {r.mappings} |")
    a = agreement
    lines.append("")
    lines.append(f"rank agreement of the planners' stage-two EPDMS, {a['reference']} vs {a['imagined']}: Kendall τ = "
                 f"{a['kendall_tau']:.3f}, Spearman ρ = {a['spearman_rho']:.3f}, same ranking: {a['same_ranking']}; "
                 f"max |Δ stage-two| = {a['max_abs_delta_stage_two']:.4f} (target ≤ {target})")
    for source, d in a["per_scene"].items():
        lines.append(f"per follow-up scene, {source} − {a['reference']}: {d['scenes']} scenes × planners, "
                     f"mean |Δ score| = {d['mean_abs']:.4f}, max = {d['max_abs']:.4f}, changed: {100 * d['changed']:.1f} %")
    return "\n".join(lines)


def _data_overrides(root: Path) -> list[str]:
    return [f"data.data_root={root}", f"data.split={SPLIT}", "data.scene_filter.frame_interval=1",
            "data.scene_filter.num_future_frames=8", "data.scene_filter.has_route=false", "data.lenient=true"]


def planner_override(override: object, vocabulary: str) -> str:
    """One planner override with ``@vocabulary`` → the vocabulary file and ``@learned`` → the shipped learned
    DrivoR-form scorer (fc=none, trained on the candidates of the shipped vocabulary)."""
    return str(override).replace("@vocabulary", vocabulary).replace("@learned", str(SCORER_LEARNED_SANDBOX))


def run_second_stage_study(cfg: Mapping[str, Any], make: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
    """Run the composed ``configs/second_stage_study.yaml`` (plain dict); ``make``: the ``second-stage`` run
    (:func:`inspatio_drive.closed_loop.second_stage.run_second_stage`). Returns the table, agreement and paths."""
    sources = list(cfg["sources"])
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown or "oracle" not in sources:
        raise ValueError(f"sources: expected some of {sorted(SOURCES)} including oracle (the reference), got {sources}")
    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    progress = bool(cfg.get("progress", True))
    sb = cfg["sandbox"]
    num_frames = int(sb["num_frames"])
    if num_frames < 21:
        raise ValueError(f"sandbox.num_frames: a stage-one scene needs 4 frames before it and 16 after it (companion, "
                         f"follow-ups 4 s ahead with 4 s of future): expected >= 21, got {num_frames}")
    root = out / "data"
    write_study_split(root, SPLIT, int(cfg["n"]), int(cfg["seed"]), cfg.get("scenarios"), num_frames=num_frames,
                      sensor_frames=num_frames - 8, camera_frames=None, config=_render_config(sb),
                      density=float(sb["density"]), jpeg_quality=int(sb["jpeg_quality"]), progress=progress)
    size = f"[{int(sb['image']['width'])},{int(sb['image']['height'])}]"
    splits: dict[str, Path] = {}
    for source in sources:
        made = make(compose("second_stage", [
            *_data_overrides(root), f"second_stage.output_dir={out / 'second_stage' / source}",
            f"second_stage.per_scene={int(cfg['per_scene'])}", f"second_stage.image_size={size}",
            f"second_stage.seed={int(cfg['seed'])}", f"second_stage.progress={str(progress).lower()}",
            *SOURCES[source], *[str(o) for o in cfg.get("second_stage_overrides") or []]]))
        splits[source] = Path(made["split_file"])
    planners: Mapping[str, Sequence[str]] = cfg["planners"]
    if cfg.get("only"):
        missing = sorted(set(cfg["only"]) - set(planners))
        if missing:
            raise ValueError(f"only: {missing} not among planners {sorted(planners)}")
        planners = {k: v for k, v in planners.items() if k in set(cfg["only"])}
    vocab = str(cfg.get("vocabulary") or VOCAB_SANDBOX)
    summaries: dict[tuple[str, str], pd.DataFrame] = {}
    per_scene = []
    for planner, overrides in planners.items():
        for source in sources:
            run = out / "evaluate" / planner / source
            result = run_evaluation(compose("evaluate", [
                *_data_overrides(root), f"data.split_file={splits[source]}", "metric=epdms", "traffic=reactive",
                f"eval.output_dir={run}", f"eval.metric_cache_dir={out / 'metric_cache'}", "eval.variants=[base]",
                "eval.artefacts=0", "eval.report=false", "eval.sensors=all", f"eval.progress={str(progress).lower()}",
                *[planner_override(o, vocab) for o in overrides],
                *[str(o) for o in cfg.get("evaluate_overrides") or []]]))
            summaries[(planner, source)] = result["summary"]
            two = pd.read_csv(run / "base_two_stage.csv", index_col=0)
            two = two[two["token"].map(lambda t: scene_type_of_token(str(t)) != ORIGINAL)
                      & ~two["token"].str.startswith("extended_pdm_score")]
            per_scene.append(two[["token", "score"]].assign(planner=planner, source=source))
    scenes = pd.concat(per_scene, ignore_index=True)
    scenes.to_csv(out / "per_scene.csv", index=False)
    table, agreement = study_table(summaries, scenes)
    table.to_csv(out / "second_stage_study.csv", index=False)
    markdown = table_markdown(table, agreement, float(cfg.get("target_delta", 0.02)))
    (out / "second_stage_study.md").write_text(markdown + "\n")
    (out / "second_stage_study.json").write_text(json.dumps({"agreement": agreement,
                                                             "table": table.to_dict(orient="records")}, indent=1))
    figure = None
    if "geometric" in sources:
        figure = mapping_figure(out, list(planners)[-1], out / "mapping.png")
    return {"output_dir": out, "table": table, "agreement": agreement, "markdown": markdown,
            "csv": out / "second_stage_study.csv", "figure": figure}


def mapping_figure(out: str | Path, planner: str, path: str | Path, reference: str = "oracle",
                   imagined: str = "geometric", camera: str = "CAM_F0") -> Path:
    """The picture of one mapping of a finished study (the one whose plan ends nearest a follow-up start): BEV of the stage-one scene's simulated chosen plan (global),
    its end point, the follow-up start points coloured by their Gaussian weight, and the follow-up's ``camera``
    at its current frame as ``imagined`` renders it and as the ``reference`` (oracle) sees it.

    Args:
        out: the study's ``output_dir``. planner: whose plan (a key of ``planners``).
    """
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    out = Path(out)
    split = yaml.safe_load((out / "second_stage" / imagined / "split.yaml").read_text())
    rows = pd.read_json(out / "evaluate" / planner / imagined / "results.jsonl", lines=True).set_index("token")

    def nearest(entry: list[Any]) -> float:  # the mapping whose plan ends closest to one of its follow-up starts
        e = rows.loc[entry[0], ["endpoint_x", "endpoint_y"]].to_numpy(float)
        p = rows.loc[[a for a, _ in entry[2]], ["start_point_x", "start_point_y"]].to_numpy(float)
        return float(np.min(np.linalg.norm(p - e, axis=1)))

    orig, _, pairs = min(split["reactive_all_mapping"], key=nearest)
    states = decode_states(rows.loc[orig, STATES_COLUMN])
    end = rows.loc[orig, ["endpoint_x", "endpoint_y"]].to_numpy(float)
    now = [a for a, _ in pairs]
    starts = rows.loc[now, ["start_point_x", "start_point_y"]].to_numpy(float)
    w = follow_up_weights(end, starts)
    o = states[0, :2]  # metres relative to the stage-one ego's start
    fig = plt.figure(figsize=(12, 4.2))
    grid = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.3, 1.3])
    ax = fig.add_subplot(grid[0])
    ax.plot(states[:, 0] - o[0], states[:, 1] - o[1], "-", color="tab:blue", label="stage-one plan (simulated)")
    ax.plot(0, 0, "o", color="tab:blue", ms=4)
    ax.plot(end[0] - o[0], end[1] - o[1], "x", color="k", ms=9, mew=2, label="its end point")
    sc = ax.scatter(starts[:, 0] - o[0], starts[:, 1] - o[1], c=w, cmap="viridis", vmin=0, vmax=1, s=60,
                    edgecolors="k", label="follow-up starts (colour: weight)")
    fig.colorbar(sc, ax=ax, orientation="horizontal", pad=0.18, label="weight exp(−d²/0.2), normalised")
    c = end - o  # zoom on the end point and the follow-up starts (the plan enters from its start)
    r = max(3.0, float(np.max(np.abs(starts - end))) + 1.0)
    ax.set_xlim(c[0] - r, c[0] + r)
    ax.set_ylim(c[1] - r, c[1] + r)
    ax.set_aspect("equal")
    for (x, y), wi in zip(starts - o, w, strict=True):
        ax.annotate(f"{wi:.2f}", (x, y), textcoords="offset points", xytext=(-8, 8), fontsize=7)
    ax.set_xlabel("x − x0 (m, global axes)")
    ax.set_ylabel("y − y0 (m)")
    ax.set_title(f"mapping {orig[:6]}…, {planner}: {len(now)} follow-ups", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.55))
    token = now[int(np.argmax(w))]
    for k, source in enumerate((imagined, reference)):
        scene = read_synthetic_scene(out / "second_stage" / source / "synthetic_scene_pickles" / f"{token}.pkl")
        image = scene.frames[scene.current_index].cameras[camera].image
        a = fig.add_subplot(grid[1 + k])
        a.imshow(image)
        a.set_title(f"{camera} of follow-up {token[:6]}… ({source})", fontsize=9)
        a.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
