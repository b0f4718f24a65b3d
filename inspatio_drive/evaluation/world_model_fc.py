"""The FC study with generated frames (issue 23, item 4a): what the future-consistency features of the world
model's frames are worth, on held-out sandbox scenes.

For every scene of a written sandbox split (``inspatio-drive sandbox``) the vocabulary planner proposes its K
candidates and :class:`~scorers.geometric.GeometricFC` (features only) computes the geometric features of all of
them; the ``generate_top`` best candidates by the planner's own selection score (``GeometricFC._top``) then get
frames from three sources, and the generated-frame features (``gen_*``) are computed from each by the same code
(:func:`scorers.features.compute_features` on the FC's own render of those candidates):

* ``render``: the geometric render of the FC's condition with its holes inpainted
  (``generator=geometric generator.hole_fill=telea``) — the frames the renderer alone would give;
* ``model``: the world model (``generator=inspatio generator.model=sandbox_small`` by default) through
  :meth:`GeometricFC.generate` (the FC's own generation path: condition, source frame, frame rate, resizing);
* ``oracle``: the sandbox oracle's true views from the same poses at the same times, rendered at
  ``generate_size`` and resized to the FC's ``image_size`` like the generated frames (privileged: the truth).

Outputs: how far the render's and the model's features are from the oracle's (per feature: mean |Δ|, Pearson
correlation, over the top-G candidates of every scene), and what they do to the selection: an FC head per source
(``none`` = geometric features only, as the shipped head) is trained by cross-validation over the scenes (each
fold's scenes are scored by a head trained on the other folds, :func:`scorers.train.train_head`), fused with the
planner's score (``base + w_fc · log p``) and the chosen candidate's true PDMS is averaged, beside the base
choice and oracle@K. Per-scene arrays are kept under ``<output_dir>/scenes`` (a rerun resumes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from inspatio_drive.config import compose
from inspatio_drive.evaluation.task import SUBSCORES, EvaluateTask
from inspatio_drive.geometry.se2 import relative_to_absolute_se2
from inspatio_drive.render.types import render_cameras
from inspatio_drive.sandbox.oracle import WORLD_FILE, CameraModel, Oracle
from inspatio_drive.world_model.factory import build_generator
from scorers.dataset import FCDataset
from scorers.features import FEATURE_NAMES, FEATURE_SPECS, compute_features
from scorers.fusion import fused_score, select
from scorers.train import predict_dataset, train_head

ASSETS = Path(__file__).resolve().parents[1] / "assets"
GEN_FEATURES = tuple(s.name for s in FEATURE_SPECS if s.group == "generated" and s.name != "has_generated")
"""The generated-frame features compared between sources."""
FRAME_SOURCES = ("render", "model", "oracle")
"""Where the top-G candidates' frames come from (see the module docstring)."""
HEAD_SOURCES = ("none", *FRAME_SOURCES)
"""FC heads of the selection part: ``none`` = geometric features only (no frames), then one per frame source."""


def evaluate_overrides(cfg: Mapping[str, Any], out: Path) -> list[str]:
    """The ``configs/evaluate.yaml`` overrides of the planner and the features-only FC of the study."""
    f = cfg["fc"]
    ov = [f"data.data_root={cfg['data_root']}", f"data.split={cfg['split']}", "data.scene_filter.has_route=false",
          "data.lenient=true", "planner=vocabulary", f"planner/selection={f['selection']}",
          f"planner.vocabulary={f['vocabulary'] or ASSETS / 'vocab_sandbox.safetensors'}",
          "+scorer=geometric_fc", "scorer.model.head=null",
          f"scorer.model.cameras=[{','.join(f['cameras'])}]",
          f"scorer.model.image_size=[{f['image_size'][0]},{f['image_size'][1]}]",
          f"scorer.model.generate_top={int(f['generate_top'])}",
          f"scorer.model.generate_size=[{f['generate_size'][0]},{f['generate_size'][1]}]",
          f"scorer.model.generate_substeps={int(f['generate_substeps'])}",
          f"eval.output_dir={out / 'evaluate'}", "eval.progress=false", "eval.artefacts=0", "eval.report=false"]
    return ov + [str(o) for o in f.get("evaluate_overrides") or []]


def oracle_frames(oracle: Oracle, origin: np.ndarray, t0: float, poses: torch.Tensor, cams: Any,
                  generate_size: Sequence[int], image_size: Sequence[int]) -> torch.Tensor:
    """The oracle's true views of candidates ``poses [G, T, 3]`` (current rear-axle frame, 0.5 s apart from
    ``t0`` + 0.5 s; ``origin`` = the current global ego pose) for the rig ``cams``: rendered at ``generate_size``
    and resized (bilinear) to ``image_size`` as :meth:`GeometricFC.generate` resizes the generated frames.

    Returns:
        ``[G, T, C, 3, H, W]`` float in [0, 1] (H, W = ``image_size``).
    """
    g, t = poses.shape[:2]
    w, h = int(generate_size[0]), int(generate_size[1])
    rig = cams.resized((w, h))
    models = [CameraModel(rig.intrinsics[c].numpy(), rig.T_ego_cam[c].numpy(), w, h) for c in range(len(rig.names))]
    glob = relative_to_absolute_se2(np.asarray(origin, np.float64), poses.reshape(-1, 3).double().numpy())
    times = t0 + 0.5 * np.tile(np.arange(1, t + 1), g)
    views = oracle.render_batch(models, glob, times, frame="global")
    video = torch.stack([torch.stack([torch.as_tensor(v.rgb).permute(2, 0, 1) for v in per_pose]) for per_pose in views])
    small = torch.nn.functional.interpolate(video.float().flatten(0, 1) / 255.0, size=(int(image_size[1]), int(image_size[0])),
                                            mode="bilinear", align_corners=False)
    return small.reshape(g, t, len(models), 3, int(image_size[1]), int(image_size[0])).clamp(0, 1)


def features_with_frames(fc: Any, agent_input: Any, poses: torch.Tensor, batch: Any, cams: Any, index: torch.Tensor,
                         frames: torch.Tensor, privileged: bool = False) -> dict[str, np.ndarray]:
    """The generated-frame features (group ``generated``: :data:`GEN_FEATURES` and ``has_generated``) of candidates
    ``index [G]`` with ``frames [G, T, C, 3, H, W]`` as their frames: the inputs :meth:`GeometricFC.__call__` builds
    (:meth:`GeometricFC.scorer_inputs`: its render ``batch`` of all K candidates, the current LiDAR) restricted to
    those candidates (:meth:`ScorerInputs.subset`) — each generated
    feature depends on its own candidate only (the free-space features do not: their grid spans the candidate set,
    so they are not returned). ``privileged`` frames (the oracle's) run the features in ``privileged`` mode.
    Returns ``{name: [G]}``."""
    inputs = fc.scorer_inputs(agent_input, poses, batch, cams).subset(index)
    inputs.generated_rgb, inputs.generated_index = frames, torch.arange(len(index))
    inputs.generated_privileged = privileged
    table = compute_features(inputs, fc.feature_cfg, "privileged" if privileged else fc.mode)
    return {n: table.column(n).double().numpy() for n in ("has_generated", *GEN_FEATURES)}


def scene_record(task: EvaluateTask, generators: Mapping[str, Any], token: str, sensor_blobs: Path) -> dict[str, np.ndarray]:
    """One scene's arrays: ``features_<source> [K, F]`` for :data:`HEAD_SOURCES` (``none`` = the FC's own table;
    a frame source = that table with the generated features of the top-G rows computed from its frames), ``index [G]``, ``base_log_score
    [K]``, the true sub-scores ``[K]`` and ``seconds_<source>``."""
    scene, plan, results, _cache, timings = task.plan_and_score(token)
    fc = task.pipeline.fc
    agent_input = scene.get_agent_input()
    poses = plan.candidates.poses.detach().double().cpu()
    base = np.stack([plan.fc.features[n].double().numpy() for n in FEATURE_NAMES], -1)
    batch = plan.fc.extras["render"]
    if batch is None:
        raise ValueError(f"scene {token}: the FC rendered nothing (no camera of {list(fc.cameras)})")
    cams = render_cameras(agent_input.cameras[-1], [n for n in fc.cameras if n in agent_input.cameras[-1]])
    index = fc._top(plan.candidates)  # the FC's own choice of the candidates to generate for
    out: dict[str, np.ndarray] = {"features_none": base.astype(np.float32), "index": index.numpy(),
                                  "base_log_score": plan.base_scores.double().cpu().numpy(),
                                  "seconds_none": np.asarray(timings.get("fc_s", np.nan))}
    out.update({k: np.asarray(getattr(results, k), np.float64) for k in SUBSCORES})
    folder = Path(sensor_blobs) / scene.scene_metadata.log_name
    if not (folder / WORLD_FILE).is_file():
        raise ValueError(f"scene {token}: not a sandbox scene (no {WORLD_FILE} under {folder})")
    oracle = Oracle(folder)
    current = scene.frames[scene.current_index]
    for source in FRAME_SOURCES:
        t0 = time.perf_counter()
        if source == "oracle":
            frames = oracle_frames(oracle, np.asarray(current.ego_status.ego_pose, np.float64),
                                   oracle.time_of(current.timestamp), poses[index], cams, fc.generate_size, fc.image_size)
        else:
            fc.generator = generators[source]
            try:
                frames = fc.generate(agent_input, poses[index], cams)
            finally:
                fc.generator = None
        rows = features_with_frames(fc, agent_input, poses, batch, cams, index, frames, privileged=source == "oracle")
        table = base.copy()
        for name, values in rows.items():
            table[index.numpy(), FEATURE_NAMES.index(name)] = values
        out[f"features_{source}"] = table.astype(np.float32)
        out[f"seconds_{source}"] = np.asarray(time.perf_counter() - t0)
    return out


def feature_distances(records: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Per frame source (render, model) and generated feature: mean |Δ| to the oracle's feature and the Pearson
    correlation with it, over the top-G candidates of every scene; and the oracle's own spread (std)."""
    rows = []
    cols = {n: FEATURE_NAMES.index(n) for n in GEN_FEATURES}
    truth = {n: np.concatenate([r["features_oracle"][r["index"], c] for r in records]) for n, c in cols.items()}
    for source in ("render", "model"):
        for name, c in cols.items():
            x = np.concatenate([r[f"features_{source}"][r["index"], c] for r in records]).astype(np.float64)
            y = truth[name].astype(np.float64)
            corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
            rows.append({"source": source, "feature": name, "mean_abs_diff": float(np.mean(np.abs(x - y))),
                         "corr": corr, "mean": float(x.mean()), "oracle_mean": float(y.mean()),
                         "oracle_std": float(y.std()), "n": len(x)})
    return rows


def _dataset(records: Sequence[Mapping[str, np.ndarray]], source: str, folds: np.ndarray) -> FCDataset:
    feats = np.stack([r[f"features_{source}"] for r in records]).astype(np.float32)
    return FCDataset(features=feats, feature_names=FEATURE_NAMES, split=np.asarray([f"f{f}" for f in folds]),
                     subscores={k: np.stack([r[k] for r in records]) for k in SUBSCORES}, privileged=source == "oracle",
                     base_log_score=np.stack([r["base_log_score"] for r in records]))


def cross_validated_probs(records: Sequence[Mapping[str, np.ndarray]], source: str, folds: int,
                          head: Mapping[str, Any], seed: int = 0) -> np.ndarray:
    """FC probabilities ``[M, K]``: scene m scored by a head trained on the scenes of the other folds."""
    m = len(records)
    fold = np.arange(m) % max(2, min(int(folds), m))
    ds = _dataset(records, source, fold)
    probs = np.zeros(ds.features.shape[:2])
    for f in np.unique(fold):
        train = _merge([ds.subset(f"f{g}") for g in np.unique(fold) if g != f])
        test = ds.subset(f"f{f}")
        result = train_head(train, None, hidden=tuple(head["hidden"]), lr=float(head["lr"]),
                            epochs=int(head["epochs"]), seed=seed, progress=False)
        probs[fold == f] = predict_dataset(result.head, test)
    return probs


def _merge(parts: Sequence[FCDataset]) -> FCDataset:
    return FCDataset(features=np.concatenate([p.features for p in parts]), feature_names=parts[0].feature_names,
                     split=np.concatenate([p.split for p in parts]),
                     subscores={k: np.concatenate([p.subscores[k] for p in parts]) for k in parts[0].subscores},
                     privileged=parts[0].privileged,
                     base_log_score=np.concatenate([p.base_log_score for p in parts]))  # type: ignore[misc]


def _ci(values: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(1)
    return float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def selection_rows(records: Sequence[Mapping[str, np.ndarray]], heads: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PDMS of the base choice, of the FC-fused choice per head source and ``w_fc``, and oracle@K; the fused
    rows with the paired difference to base and its 95 % bootstrap interval over scenes. ``heads``: the
    ``fc.heads`` node (folds, hidden, lr, epochs, seed, w_fc, n_boot)."""
    sel = heads
    score = np.stack([r["score"] for r in records])
    base = np.stack([r["base_log_score"] for r in records])
    m = np.arange(len(records))
    base_pick = score[m, select(base)]
    rows = [{"source": "base", "w_fc": 0.0, "pdms": float(base_pick.mean()), "diff_vs_base": 0.0,
             "ci_low": 0.0, "ci_high": 0.0, "scenes": len(records), "privileged": False},
            {"source": "oracle@K", "w_fc": float("nan"), "pdms": float(score.max(1).mean()),
             "diff_vs_base": float((score.max(1) - base_pick).mean()), "ci_low": float("nan"), "ci_high": float("nan"),
             "scenes": len(records), "privileged": True}]
    for source in HEAD_SOURCES:
        probs = cross_validated_probs(records, source, int(sel["folds"]), sel, int(sel["seed"]))
        for w in sel["w_fc"]:
            pick = score[m, select(fused_score(torch.as_tensor(base), torch.as_tensor(probs), float(w)).numpy())]
            diff = pick - base_pick
            lo, hi = _ci(diff, int(sel["n_boot"]))
            rows.append({"source": source, "w_fc": float(w), "pdms": float(pick.mean()), "diff_vs_base": float(diff.mean()),
                         "ci_low": lo, "ci_high": hi, "scenes": len(records), "privileged": source == "oracle"})
    return rows


def run_fc_study(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Part ``fc`` of ``inspatio-drive wm-sandbox-study`` → ``<output_dir>/wm_fc.{json,md}``, ``wm_fc_features.png``."""
    out = Path(str(cfg["output_dir"]))
    scenes_dir = out / "scenes"
    scenes_dir.mkdir(parents=True, exist_ok=True)
    show = bool(cfg.get("progress", True))
    task = EvaluateTask(OmegaConf.to_container(compose("evaluate", evaluate_overrides(cfg, out)), resolve=True))
    task.setup()
    tokens = task.tokens()[: cfg["fc"]["max_scenes"] or None]
    if not tokens:
        raise ValueError(f"{cfg['data_root']}/{cfg['split']}: no scenes")
    generators = {"render": build_generator({"name": "geometric", "hole_fill": str(cfg["fc"]["render_fill"])}),
                  "model": build_generator(dict(cfg["generator"]))}
    records = []
    for token in tqdm(tokens, desc="wm fc study", unit="scene", disable=not show):
        path = scenes_dir / f"{token}.npz"
        if not path.is_file():
            rec = scene_record(task, generators, token, task.blobs_path)
            tmp = scenes_dir / f".{token}.tmp.npz"
            np.savez(tmp, **rec)
            tmp.replace(path)
        with np.load(path) as z:
            records.append({k: z[k] for k in z.files})
    dist = feature_distances(records)
    sel = selection_rows(records, cfg["fc"]["heads"])
    seconds = {s: float(np.mean([r[f"seconds_{s}"] for r in records])) for s in HEAD_SOURCES}
    result = {"scenes": len(records), "distances": dist, "selection": sel, "seconds_per_scene": seconds,
              "config": dict(cfg)}
    (out / "wm_fc.json").write_text(json.dumps(result, indent=1, default=str))
    md = fc_markdown(dist, sel, seconds, len(records))
    (out / "wm_fc.md").write_text(md)
    plot_fc(records, sel, out / "wm_fc_features.png")
    return {**result, "markdown": md, "files": [str(out / n) for n in ("wm_fc.json", "wm_fc.md", "wm_fc_features.png")]}


def fc_markdown(dist: Sequence[Mapping[str, Any]], sel: Sequence[Mapping[str, Any]], seconds: Mapping[str, float],
                scenes: int) -> str:
    lines = [f"Generated-frame features vs the oracle's ({scenes} scenes, top-G candidates):", "",
             "| feature | oracle mean ± std | render mean abs diff | render corr | model mean abs diff | model corr |",
             "|---|---|---|---|---|---|"]
    by = {(r["source"], r["feature"]): r for r in dist}
    for name in GEN_FEATURES:
        r, g = by[("render", name)], by[("model", name)]
        lines.append(f"| {name} | {r['oracle_mean']:.3f} ± {r['oracle_std']:.3f} | {r['mean_abs_diff']:.3f} | "
                     f"{r['corr']:+.2f} | {g['mean_abs_diff']:.3f} | {g['corr']:+.2f} |")
    lines += ["", "PDMS of the chosen candidate (FC heads cross-validated over the scenes):", "",
              "| selection | w_fc | PDMS | Δ vs base [95 % CI] | privileged |", "|---|---|---|---|---|"]
    for r in sel:
        ci = "" if r["source"] in ("base", "oracle@K") else f" [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        w = "" if r["source"] in ("base", "oracle@K") else f"{r['w_fc']:g}"
        label = r["source"] if r["source"] in ("base", "oracle@K") else f"base + FC({r['source']})"
        lines.append(f"| {label} | {w} | {r['pdms']:.4f} | {r['diff_vs_base']:+.4f}{ci} | {r['privileged']} |")
    lines += ["", "seconds per scene: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())]
    return "\n".join(lines) + "\n"


def plot_fc(records: Sequence[Mapping[str, np.ndarray]], sel: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """One panel per generated feature (render and model value against the oracle's), and the PDMS per source."""
    import matplotlib  # lazy: plotting only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only

    fig, axes = plt.subplots(1, len(GEN_FEATURES) + 1, figsize=(3.3 * (len(GEN_FEATURES) + 1), 3.4))
    for ax, name in zip(axes, GEN_FEATURES):
        c = FEATURE_NAMES.index(name)
        y = np.concatenate([r["features_oracle"][r["index"], c] for r in records])
        for source, colour in (("render", "tab:orange"), ("model", "tab:blue")):
            x = np.concatenate([r[f"features_{source}"][r["index"], c] for r in records])
            ax.scatter(y, x, s=8, alpha=0.6, color=colour, label=source)
        lo, hi = float(min(y.min(), 0)), float(max(y.max(), 1e-6))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"oracle views: {name}", fontsize=7)
        ax.set_ylabel("render / generated frames", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    base = next(r["pdms"] for r in sel if r["source"] == "base")
    for source in HEAD_SOURCES:
        rs = [r for r in sel if r["source"] == source]
        ax.plot([r["w_fc"] for r in rs], [r["pdms"] for r in rs], marker="o", label=f"FC({source})")
    ax.axhline(base, color="k", ls="--", lw=0.8, label="base")
    ax.set_xlabel("w_fc")
    ax.set_ylabel("PDMS of the choice")
    ax.legend(fontsize=7)
    fig.suptitle("FC with generated frames (sandbox): features vs the oracle's, and the fused choice", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
