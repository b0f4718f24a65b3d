"""The study's ``ablation`` step (issue 21): does a learned DrivoR-form scorer select better when it sees the FC
features of every candidate?

On the study's own splits and candidates (the vocabulary planner's K proposals of every scene, dumped with every
true sub-score by the features and test steps), per seed ``s``:

* ``rule``          — the honest rule scorer's selection (the study's ``base``);
* ``rule+FC``       — ``rule + w_fc · logσ(FC)`` with head ``heads/s<s>`` and its validation ``w_fc`` (post-hoc FC);
* ``learned``       — a DrivoR-form scorer (:mod:`planners.scoring.drivor_form`, ``fc=none``) trained with seed s on
  the train split, early-stopped on val (``scorers/s<s>/none``);
* ``learned+FC``    — the same with FC inputs (``fc=features`` and / or ``features+head``: ``scorers/s<s>/<mode>``);
* ``oracle@K``      — the best candidate by the true PDMS.

Test scenes are re-selected offline from the dumps (``dump_test=true``); statistics are
:func:`scorers.study.hierarchical_bootstrap` (seeds, then scenes, resampled; paired), with paired differences and
their 95 % CIs, a per-scenario breakdown, and the FC / scoring time per scene. Outputs: ``ablation.md``,
``ablation.json``, ``ablation.png`` under the study's output folder.

One code path per metric (:data:`ABLATION_METRICS`): ``pdms`` (NAVSIM v1.1: the features step's train / val
dataset, ``test/`` dumps, ``scorers/``, ``ablation.*``) and ``epdms`` (NAVSIM v2.2 one-stage: train / val dumped by
``evaluate metric=epdms`` → ``fc_dataset_epdms.npz``, learned scorers trained with ``targets=v2`` and selected with
DrivoR's v2 selection → ``scorers_epdms/``, ``test_epdms/`` dumps, ``ablation_epdms.*``). With EPDMS every
method's chosen candidates are scored as navsim's one-stage aggregation does (:func:`one_stage_of_choice`: EC
against the same method's choice 0.5 s earlier in the log, none on the study's one-scene logs); the rule scorer and
rule + FC keep the v1.1 FC head and ``w_fc`` (chosen on validation v1.1 PDMS).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspatio_drive.config import compose
from inspatio_drive.contracts import METRIC_LABELS
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.evaluation.epdms import EPDMS_METRICS, METRIC_LABEL, drop_unlabelled_ec
from inspatio_drive.evaluation.fc_data import collect_fc_dataset
from inspatio_drive.evaluation.results import ResultStore
from inspatio_drive.pdm.v2 import SUBMETRICS, FrameResult, one_stage_rows
from planners.scoring.drivor_form import load_scorer
from planners.scoring.train_drivor_form import (
    fc_inputs,
    predict_logits,
    scorer_batch,
    train_scorer_from_config,
)
from scorers.dataset import FCDataset, load_dataset
from scorers.fusion import fused_score, select
from scorers.head import load_head
from scorers.study import hierarchical_bootstrap, paired_difference

METRICS: tuple[tuple[str, str], ...] = METRIC_LABELS
PAIRS: tuple[tuple[str, str], ...] = (("learned+FC", "learned"), ("rule+FC", "rule"), ("learned", "rule"),
                                      ("oracle@K", "learned+FC"))


@dataclass(frozen=True)
class AblationMetric:
    """Where the ablation of one metric reads and writes, under the study's output folder.

    Attributes:
        metric: ``pdms`` | ``epdms`` (the study's ``metric``). metrics: (column, label) of its table, aggregate first.
        dataset: the train / val FC dataset NPZ the learned scorers train on. test_dir: the test runs
            (``<test_dir>/s<seed>``, dumps in ``dump/``). scorers: folder of the learned scorers. output: stem of the
            ``.md`` / ``.json`` / ``.png`` outputs. targets: ``train-scorer targets=`` (``v1`` / ``v2``).
    """

    metric: str
    metrics: tuple[tuple[str, str], ...]
    dataset: str
    test_dir: str
    scorers: str
    output: str
    targets: str


ABLATION_METRICS: dict[str, AblationMetric] = {
    "pdms": AblationMetric("pdms", METRIC_LABELS, "fc_dataset.npz", "test", "scorers", "ablation", "v1"),
    "epdms": AblationMetric("epdms", EPDMS_METRICS, "fc_dataset_epdms.npz", "test_epdms", "scorers_epdms",
                            "ablation_epdms", "v2"),
}
"""The ablation of each study ``metric`` (module docstring)."""


def scenario_of_log(log_name: str) -> str:
    """Sandbox catalogue name of a study log ``sandbox-<scenario with dashes>-<world seed>``."""
    parts = log_name.split("-")
    return "_".join(parts[1:-1]) if len(parts) > 2 and parts[0] == "sandbox" else log_name


def scenarios_of_split(data_root: Path, split: str) -> dict[str, str]:
    """``{scene token: scenario}`` of a study split (read from its logs' names)."""
    loader = SceneLoader(data_root / "navsim_logs" / split, data_root / "sensor_blobs" / split,
                         SceneFilter(has_route=False), SensorConfig.build_no_sensors(), show_progress=False)
    return {t: scenario_of_log(log) for log, tokens in loader.get_tokens_list_per_log().items() for t in tokens}


def _test_dataset(out: Path, seed: int, spec: AblationMetric = ABLATION_METRICS["pdms"]) -> FCDataset:
    dump = out / spec.test_dir / f"s{seed}" / "dump"
    if not any(dump.glob("*.npz")):
        how = "" if spec.metric == "pdms" else f" metric={spec.metric}"
        raise FileNotFoundError(f"{dump}: no test dumps (run the study's test step{how} with dump_test=true)")
    test = load_dataset(collect_fc_dataset({"test": dump}, out / spec.test_dir / f"s{seed}" / "fc_dataset.npz"))
    if (test.metric or METRIC_LABEL["pdms"]) != METRIC_LABEL[spec.metric]:
        raise ValueError(f"{dump}: dumps scored with {test.metric}, the {spec.output} table needs "
                         f"{METRIC_LABEL[spec.metric]}")
    return test


def one_stage_of_choice(dump: Path, test: FCDataset, idx: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """``[M, len(keys)]`` navsim one-stage values (sub-metrics, EC, ``score``) of the candidates ``idx [M]`` chosen in
    the EPDMS test scenes ``test`` (dumped in ``dump``): each chosen candidate's sub-metrics and simulated states
    through :func:`~inspatio_drive.pdm.v2.one_stage_rows`, so EC pairs a choice with the same method's choice 0.5 s
    earlier in its log (NaN where there is none) and ``score`` is navsim's one-stage EPDMS — what ``evaluate
    metric=epdms`` reports for a variant that chooses ``idx``.

    Raises:
        ValueError: a dump without the candidates' simulated states (re-run ``evaluate metric=epdms``).
    """
    frames = []
    for m, token in enumerate(test.scene_tokens):
        with np.load(dump / f"{token}.npz", allow_pickle=False) as z:
            if "epdms_states" not in z.files:
                raise ValueError(f"{dump / f'{token}.npz'}: no epdms_states; re-run evaluate metric=epdms")
            k = int(idx[m])
            frames.append(FrameResult(str(token), str(z["log_name"]), float(z["time_point_s"]), str(z["scene_type"]),
                                      {c: float(test.subscores[c][m, k]) for c in SUBMETRICS},
                                      np.asarray(z["epdms_states"][k], np.float64)))
    rows = one_stage_rows(frames)[:-1]  # the last row is navsim's average_all_frames
    return np.array([[r[c] for c in keys] for r in rows], np.float64).reshape(len(frames), len(keys))


def train_scorers(out: Path, seeds: Sequence[int], modes: Sequence[str], overrides: Sequence[str],
                  progress: bool, heads: str = "heads", metric: str = "pdms") -> dict[tuple[int, str], Path]:
    """``train-scorer`` per seed and FC mode on the metric's train / val dataset (``fc_dataset.npz`` /
    ``fc_dataset_epdms.npz``, targets v1 / v2) into ``<scorers>/s<seed>/<mode>`` (skipped when its
    ``metrics.json`` exists)."""
    spec = ABLATION_METRICS[metric]
    paths = {}
    for s in seeds:
        for mode in ("none", *modes):
            folder = out / spec.scorers / f"s{s}" / mode.replace("+", "_")
            paths[(s, mode)] = folder / "scorer.safetensors"
            if (folder / "metrics.json").is_file():
                continue
            ov = [f"dataset={out / spec.dataset}", f"output_dir={folder}", f"seed={s}", f"fc={mode}",
                  f"targets={spec.targets}", f"progress={str(progress).lower()}", "resume=true"]
            if mode == "features+head":
                ov.append(f"fc_head={out / heads / f's{s}' / 'fc_head.safetensors'}")
            train_scorer_from_config(compose("train_scorer", ov + [str(o) for o in overrides]))
    return paths


def _learned_choice(path: Path, test: FCDataset, head_path: Path, targets: str = "v1") -> tuple[np.ndarray, float]:
    """``([M] chosen index, seconds per scene)`` of a trained scorer (DrivoR's selection of its ``targets``) on the
    test scenes; a ``ValueError`` names a scorer trained on other targets than the table's."""
    model, _ = load_scorer(path)
    if model.config.targets != targets:
        raise ValueError(f"{path}: trained with targets={model.config.targets}, this table needs targets={targets} "
                         "(delete the folder to retrain)")
    head = load_head(head_path)[0] if model.config.fc == "features+head" else None
    t0 = time.perf_counter()
    x, names = fc_inputs(test, model.config.fc, model.config.fc_names[: len(model.config.fc_names)
                                                                       - (len(head.outputs) if head else 0)], head)
    if names != model.config.fc_names:
        raise ValueError(f"{path}: trained on FC inputs {model.config.fc_names}, the test data give {names}")
    batch = scorer_batch(test, model.config, x)
    scores = model.selection_scores(predict_logits(model, batch)).double()
    scores = scores.masked_fill(~torch.from_numpy(test.candidate_mask), float("-inf"))
    return torch.argmax(scores, -1).numpy(), (time.perf_counter() - t0) / max(1, len(test.split))


def ablation_table(out: Path, seeds: Sequence[int], modes: Sequence[str], w_fc: Mapping[int, float], *,
                   n_boot: int = 2000, ci: float = 0.95, heads: str = "heads", metric: str = "pdms",
                   notes: Sequence[str] = ()) -> dict[str, Any]:
    """The ablation numbers (module docstring) as a JSON-able dict; ``metric``: a key of :data:`ABLATION_METRICS`
    (an ``epdms`` table also carries ``metric``, ``metrics`` — its columns, less EC when a scene has none — and
    ``notes``, the lines under it)."""
    spec = ABLATION_METRICS[metric]
    metrics = list(spec.metrics)
    keys = [k for k, _ in metrics]
    per: dict[str, list[np.ndarray]] = {}
    scen: list[np.ndarray] = []
    times: dict[str, list[float]] = {}
    for s in seeds:
        test = _test_dataset(out, s, spec)
        mask = test.candidate_mask
        if metric == "epdms":
            def picked(idx: np.ndarray, test: FCDataset = test, s: int = s) -> np.ndarray:
                return one_stage_of_choice(out / spec.test_dir / f"s{s}" / "dump", test, idx, keys)
        else:
            truth = np.stack([test.subscores[k] for k in keys], -1)  # [M, K, P]

            def picked(idx: np.ndarray, truth: np.ndarray = truth) -> np.ndarray:
                return np.take_along_axis(truth, idx[:, None, None], axis=1)[:, 0]  # [M, P]

        head_path = out / heads / f"s{s}" / "fc_head.safetensors"
        head, _ = load_head(head_path)
        cols = [test.feature_names.index(n) for n in head.feature_names]
        t0 = time.perf_counter()
        with torch.no_grad():
            prob = torch.sigmoid(head.eval()(torch.as_tensor(test.features[..., cols]))).double()
        fused = fused_score(torch.as_tensor(test.base_log_score), prob, float(w_fc[s])).numpy()
        times.setdefault("rule+FC (head + fusion)", []).append((time.perf_counter() - t0) / len(test.split))
        per.setdefault("rule", []).append(picked(select(test.base_log_score, mask)))
        per.setdefault("rule+FC", []).append(picked(select(fused, mask)))
        for mode in ("none", *modes):
            name = "learned" if mode == "none" else ("learned+FC" if len(modes) == 1 else f"learned+FC ({mode})")
            path = out / spec.scorers / f"s{s}" / mode.replace("+", "_") / "scorer.safetensors"
            idx, dt = _learned_choice(path, test, head_path, spec.targets)
            per.setdefault(name, []).append(picked(idx))
            times.setdefault(name, []).append(dt)
        # oracle@K: the best true score of the frame (EPDMS: without EC, as evaluate's oracle variant)
        per.setdefault("oracle@K", []).append(picked(select(test.subscores["score"], mask)))
        tokens = scenarios_of_split(out / "data", f"test_s{s}")
        scen.append(np.array([tokens.get(str(t), "?") for t in test.scene_tokens]))
    metrics, per, ec_note = drop_unlabelled_ec(metrics, per)
    keys = [k for k, _ in metrics]
    point, draws = hierarchical_bootstrap(per, n_boot=n_boot)
    alpha = (1 - ci) / 2
    rows = [{"method": m, **{k: (float(point[m][i]), float(np.quantile(draws[m][:, i], alpha)),
                                 float(np.quantile(draws[m][:, i], 1 - alpha))) for i, k in enumerate(keys)}}
            for m in per]
    fc_name = "learned+FC" if len(modes) == 1 else f"learned+FC ({modes[0]})"
    pairs = [(fc_name if a == "learned+FC" else a, fc_name if b == "learned+FC" else b) for a, b in PAIRS]
    pairs += [(f"learned+FC ({m})", "learned") for m in modes[1:]]
    diffs = []
    for a, b in pairs:
        mean, lo, hi = paired_difference(point, draws, a, b, ci)
        diffs.append({"a": a, "b": b, **{k: (float(mean[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(keys)}})
    by_scenario = []
    all_scen = np.concatenate(scen)
    for name in sorted(set(all_scen.tolist())):
        sel = [sc == name for sc in scen]
        keep = [i for i, m in enumerate(sel) if m.any()]
        sub = {m: [per[m][i][sel[i]] for i in keep] for m in per}
        p2, d2 = hierarchical_bootstrap(sub, n_boot=max(200, n_boot // 4))
        mean, lo, hi = paired_difference(p2, d2, fc_name, "learned", ci)
        by_scenario.append({"scenario": name, "scenes": int(sum(int(m.sum()) for m in sel)),
                            **{m: float(p2[m][0]) for m in per},
                            "diff": {k: (float(mean[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(keys)}})
    den = point["oracle@K"][0] - point["learned"][0]
    fc_times = []
    for s in seeds:
        store = out / spec.test_dir / f"s{s}"
        if store.is_dir():
            df = ResultStore(store).dataframe()
            if "fc_s" in df:
                fc_times += [float(t) for t in df.loc[df["variant"] == "fc", "fc_s"] if np.isfinite(t)]
    return {"rows": rows, "diffs": diffs, "by_scenario": by_scenario, "seeds": [int(s) for s in seeds],
            "scenes_per_seed": {str(s): len(v) for s, v in zip(seeds, per["rule"], strict=True)},
            "gap_closed_learned_fc": float((point[fc_name][0] - point["learned"][0]) / den) if abs(den) > 1e-12
            else float("nan"),
            "fc_features_s_per_scene": float(np.mean(fc_times)) if fc_times else None,
            "scoring_s_per_scene": {k: float(np.mean(v)) for k, v in times.items()}, "ci": ci,
            "w_fc": {str(s): float(w_fc[s]) for s in seeds}, "fc_name": fc_name, "heads": heads,
            **({} if metric == "pdms" else {"metric": metric, "metrics": [list(m) for m in metrics],
                                            "notes": [*notes, *([ec_note] if ec_note else [])]})}


def _cell(v: Sequence[float]) -> str:
    return f"{v[0] * 100:.1f} [{v[1] * 100:.1f}, {v[2] * 100:.1f}]"


def ablation_markdown(t: Mapping[str, Any]) -> str:
    """Markdown: methods table, paired differences, per-scenario PDMS (EPDMS), times, the target check and the
    table's notes."""
    label = dict(_metrics(t))
    score = label["score"]
    head = ["method", *label.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in t["rows"]:
        lines.append("| " + " | ".join([r["method"], *(_cell(r[k]) for k in label)]) + " |")
    lines += ["", "Paired differences (×100, mean [95 % CI]; seeds and scenes resampled together):", "",
              "| difference | " + " | ".join(label.values()) + " |", "|" + "---|" * (len(label) + 1)]
    for d in t["diffs"]:
        lines.append("| " + " | ".join([f"{d['a']} − {d['b']}", *(_cell(d[k]) for k in label)]) + " |")
    fc = t["fc_name"]
    methods = [r["method"] for r in t["rows"]]
    lines += ["", f"Per scenario ({score} ×100, mean over seeds; last column {fc} − learned [95 % CI]):", "",
              "| scenario | scenes | " + " | ".join(methods) + f" | {fc} − learned |", "|" + "---|" * (len(methods) + 3)]
    for r in t["by_scenario"]:
        lines.append("| " + " | ".join([r["scenario"], str(r["scenes"]), *(f"{r[m] * 100:.1f}" for m in methods),
                                        _cell(r["diff"]["score"])]) + " |")
    main = next(d for d in t["diffs"] if d["a"] == fc and d["b"] == "learned")
    lowered = [label[k] for k in label if k != "score" and main[k][2] < 0]
    met = main["score"][0] >= 0.02 and main["score"][1] > 0 and not lowered
    times = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in t["scoring_s_per_scene"].items())
    fcs = t["fc_features_s_per_scene"]
    lines += ["",
              f"Scenes per seed: {t['scenes_per_seed']}; w_fc (rule+FC) per seed: {t['w_fc']}. Scoring time per scene "
              f"(given the FC features): {times}; FC features (render + features + head, the test step's `fc_s`): "
              f"{'n/a' if fcs is None else f'{fcs:.2f} s'} per scene.",
              f"Share of the learned → oracle@K {score} gap closed by FC inputs: {t['gap_closed_learned_fc'] * 100:.0f} %. "
              f"Target ({fc} ≥ learned + 2.0 {score}, paired CI above 0, no sub-score significantly lower): "
              f"{'met' if met else 'not met'}" + (f" (significantly lower: {', '.join(lowered)})" if lowered else "") + ".",
              *t.get("notes", [])]
    return "\n".join(lines)


def _metrics(t: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column, label) of an ablation table (a PDMS table's JSON predates the ``metrics`` key)."""
    return [(str(k), str(lbl)) for k, lbl in t.get("metrics") or METRICS]


def plot_ablation(t: Mapping[str, Any], path: Path) -> Path:
    """Grouped bars (metric × method) with CI error bars (PNG)."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    metrics = _metrics(t)
    keys = [k for k, _ in metrics]
    x = np.arange(len(keys))
    width = 0.8 / len(t["rows"])
    fig, ax = plt.subplots(figsize=(8 if len(keys) <= 7 else 9.5, 3.6), dpi=90)
    for i, r in enumerate(t["rows"]):
        m = np.array([r[k][0] for k in keys]) * 100
        err = np.stack([m - np.array([r[k][1] for k in keys]) * 100, np.array([r[k][2] for k in keys]) * 100 - m])
        ax.bar(x + (i - (len(t["rows"]) - 1) / 2) * width, m, width, yerr=np.clip(err, 0, None), capsize=2,
               label=r["method"])
    ax.set_xticks(x, [lbl for _, lbl in metrics])
    ax.set_ylabel("score ×100 (test mean, 95 % CI)")
    lo = min(r[k][1] for r in t["rows"] for k in keys) * 100
    ax.set_ylim(max(0.0, lo - 5), 101)
    n = sum(t["scenes_per_seed"].values())
    what = "" if metrics[0][1] == "PDMS" else f" ({metrics[0][1]})"
    ax.set_title(f"Scorer ablation{what}: {n} test scenes over {len(t['seeds'])} seeds")
    ax.legend(ncol=3, fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def heads_w_fc(out: Path, heads: str, seeds: Sequence[int]) -> dict[int, float]:
    """``w_fc`` chosen on validation per seed, from ``<heads>/s<seed>/metrics.json``."""
    w = {}
    for s in seeds:
        path = out / heads / f"s{s}" / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"study: {path} missing; run the train step (or train-fc into {heads}/s{s}) first")
        value = json.loads(path.read_text()).get("w_fc")
        if value is None:
            raise ValueError(f"{path}: no w_fc chosen on validation")
        w[int(s)] = float(value)
    return w


def run_ablation(out: Path, seeds: Sequence[int], cfg: Mapping[str, Any], progress: bool = True, *,
                 metric: str = "pdms", notes: Sequence[str] = ()) -> dict[str, Any]:
    """Train the learned scorers (``cfg``: the study's ``ablation`` node) and write ``ablation.md/json/png``
    (``metric=epdms``: ``ablation_epdms.*`` from ``fc_dataset_epdms.npz`` and the ``test_epdms`` dumps, ``notes``
    under the table; :data:`ABLATION_METRICS`).

    ``cfg.heads`` (default ``heads``, the train step's) names the folder of the FC heads (and their ``w_fc``) that
    rule+FC and ``fc=features+head`` use."""
    spec = ABLATION_METRICS[metric]
    modes = [str(m) for m in cfg.get("fc_modes") or ["features"]]
    bad = [m for m in modes if m not in ("features", "features+head")]
    if bad:
        raise ValueError(f"study.ablation.fc_modes: unknown {bad}; expected features and / or features+head")
    heads = str(cfg.get("heads") or "heads")
    w_fc = heads_w_fc(out, heads, seeds)
    train_scorers(out, seeds, modes, [str(o) for o in cfg.get("train_scorer_overrides") or []], progress, heads,
                  metric)
    table = ablation_table(out, seeds, modes, w_fc, n_boot=int(cfg.get("n_boot", 2000)), heads=heads, metric=metric,
                           notes=notes)
    md = ablation_markdown(table)
    (out / f"{spec.output}.md").write_text(md + "\n")
    (out / f"{spec.output}.json").write_text(json.dumps(table, indent=1))
    plot_ablation(table, out / f"{spec.output}.png")
    return {"table": table, "markdown": md}


def epdms_ablation_note(traffic: str, human_filter: str) -> str:
    """The line under an ``ablation_epdms`` table: which metric scored what, and what stays v1.1."""
    return (f"Metric: NAVSIM v2.2 one-stage EPDMS ({METRIC_LABEL['epdms']}, traffic={traffic}, "
            f"human_filter={human_filter}) of every method's chosen candidate (navsim's one-stage aggregation of each "
            "method's own choices). learned / learned+FC: DrivoR-form scorers trained with targets=v2 (one logit per "
            "v2 sub-score) on train scenes scored by evaluate metric=epdms, early-stopped on val, selected with "
            "DrivoR's v2 selection (v2_targets weights; the EC term left out where EC had no label). rule and "
            "rule+FC are the v1.1 ones: the rule scorer's v1_comfort selection, and the study's FC head (trained on "
            "the v1.1 sub-scores of the features step) with w_fc chosen on validation v1.1 PDMS; features+head "
            "feeds that v1.1 head's logits. oracle@K: the candidate with the best frame EPDMS without EC (as evaluate).")
