"""The FC study: PDMS and every sub-score for base selection, base + FC, FC alone and oracle@K, over
several FC seeds, with bootstrap confidence intervals, plus how much of the base → oracle gap FC closes.

Input is plain per-scene candidate arrays (:class:`StudyInputs`); the integration code produces them from
a sandbox test split (planner candidates, true PDM sub-scores per candidate, FC probabilities of heads
trained with different seeds, ``w_fc`` chosen per seed on validation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.contracts import METRIC_LABELS
from scorers.dataset import SUBSCORE_KEYS
from scorers.fusion import fused_score, select

METHODS = ("base", "base+fc", "fc", "oracle@K")
SUBSCORE_ORDER = METRIC_LABELS


@dataclass
class StudyInputs:
    """Per-scene candidate arrays of a *test* split (M scenes, K candidates, S FC seeds).

    Attributes:
        base_log_score: ``[M, K]`` planner selection score (log domain).
        fc_prob: ``[S, M, K]`` FC probabilities of S heads (different training seeds).
        subscores: name → ``[M, K]`` true sub-scores per candidate; must contain ``score`` (PDMS).
        w_fc: ``[S]`` fusion weights, chosen on validation for each seed.
        privileged: whether the FC features used privileged inputs.
        scoring_time_s: optional ``[M]`` or ``[S, M]`` seconds spent computing FC per scene.
        mask: optional ``[M, K]`` bool, False for padded candidates.
    """

    base_log_score: NDArray
    fc_prob: NDArray
    subscores: dict[str, NDArray]
    w_fc: Sequence[float]
    privileged: bool
    scoring_time_s: NDArray | None = None
    mask: NDArray | None = None

    def __post_init__(self) -> None:
        self.base_log_score = np.asarray(self.base_log_score, dtype=np.float64)
        self.fc_prob = np.asarray(self.fc_prob, dtype=np.float64)
        if self.fc_prob.ndim == 2:
            self.fc_prob = self.fc_prob[None]
        if self.base_log_score.ndim != 2:
            raise ValueError(f"base_log_score: expected [M, K], got {self.base_log_score.shape}")
        M, K = self.base_log_score.shape
        if self.fc_prob.shape[1:] != (M, K):
            raise ValueError(f"fc_prob: expected [S, {M}, {K}], got {self.fc_prob.shape}")
        if "score" not in self.subscores:
            raise ValueError("subscores must contain 'score' (true PDMS per candidate)")
        for k, v in self.subscores.items():
            if np.shape(v) != (M, K):
                raise ValueError(f"subscores[{k!r}]: expected [{M}, {K}], got {np.shape(v)}")
        if len(self.w_fc) != self.fc_prob.shape[0]:
            raise ValueError(
                f"w_fc: expected {self.fc_prob.shape[0]} weights (one per seed), got {len(self.w_fc)}"
            )


@dataclass
class Stat:
    """Mean and bootstrap confidence interval."""

    mean: float
    lo: float
    hi: float

    def fmt(self, scale: float = 100.0, digits: int = 1) -> str:
        return f"{self.mean * scale:.{digits}f} [{self.lo * scale:.{digits}f}, {self.hi * scale:.{digits}f}]"


@dataclass
class StudyRow:
    method: str
    mode: str
    metrics: dict[str, Stat]
    time_s: float | None = None


@dataclass
class StudyResult:
    """Rows per method, the gap closed by base+fc (and fc alone), and the issue's target checks."""

    rows: list[StudyRow]
    gap_closed: Stat
    gap_closed_fc_alone: Stat
    target_met: bool
    subscores_not_lowered: dict[str, bool]
    num_scenes: int
    num_seeds: int
    ci: float
    extra: dict = field(default_factory=dict)


def hierarchical_bootstrap(
    values: Mapping[str, Sequence[NDArray]], *, n_boot: int = 1000, seed: int = 0
) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
    """The one paired (seed, scene) bootstrap of the FC studies (:func:`run_study`, the sandbox study's
    :func:`inspatio_drive.evaluation.study.study_table` and its ablation).

    Args:
        values: method → one ``[M_s, P]`` array per seed (P statistics per scene; the rows of a seed are the same
            scenes for every method, seeds may have different scene counts).

    Returns:
        ``(point, draws)``: method → ``[P]`` mean over seeds of the per-seed scene mean, and ``[n_boot, P]`` its
        bootstrap draws. Each draw resamples seeds with replacement, then scenes within each drawn seed; every
        method gets the same draw, so differences between methods are paired.
    """
    methods = list(values)
    n_seeds = len(values[methods[0]])
    if n_seeds == 0 or any(len(values[m]) != n_seeds for m in methods):
        raise ValueError("hierarchical_bootstrap: every method needs the same (non-zero) number of seeds")
    sizes = [len(v) for v in values[methods[0]]]
    for m in methods:
        if [len(v) for v in values[m]] != sizes:
            raise ValueError(f"hierarchical_bootstrap: method {m!r} has scene counts {[len(v) for v in values[m]]}, "
                             f"expected {sizes}")
    if min(sizes) == 0:
        raise ValueError("hierarchical_bootstrap: a seed without scenes")
    rng = np.random.default_rng(seed)
    arr = {m: [np.asarray(v, np.float64).reshape(len(v), -1) for v in values[m]] for m in methods}
    p = arr[methods[0]][0].shape[1]
    draws = {m: np.empty((n_boot, p)) for m in methods}
    for b in range(n_boot):
        picked = rng.integers(0, n_seeds, n_seeds)
        idx = {s: rng.integers(0, sizes[s], sizes[s]) for s in sorted(set(picked.tolist()))}
        for m in methods:
            draws[m][b] = np.mean([arr[m][s][idx[s]].mean(0) for s in picked], axis=0)
    point = {m: np.mean([a.mean(0) for a in arr[m]], axis=0) for m in methods}
    return point, draws


def paired_difference(point: Mapping[str, NDArray], draws: Mapping[str, NDArray], a: str, b: str,
                      ci: float = 0.95) -> tuple[NDArray, NDArray, NDArray]:
    """``a − b`` per statistic from :func:`hierarchical_bootstrap` output: ``(mean [P], lo [P], hi [P])``, the
    percentile CI of the paired draws (both methods resampled with the same seeds and scenes)."""
    alpha = (1.0 - ci) / 2
    d = draws[a] - draws[b]
    return point[a] - point[b], np.quantile(d, alpha, axis=0), np.quantile(d, 1 - alpha, axis=0)


def selections(inputs: StudyInputs) -> dict[str, NDArray[np.int64]]:
    """Selected candidate per method: ``[S, M]`` indices (base and oracle repeated over seeds)."""
    S = inputs.fc_prob.shape[0]
    base = select(inputs.base_log_score, inputs.mask)
    oracle = select(inputs.subscores["score"], inputs.mask)
    fused = np.stack(
        [
            select(
                fused_score(inputs.base_log_score, inputs.fc_prob[s], float(inputs.w_fc[s])).numpy(),
                inputs.mask,
            )
            for s in range(S)
        ]
    )
    fc = np.stack([select(inputs.fc_prob[s], inputs.mask) for s in range(S)])
    return {"base": np.tile(base, (S, 1)), "base+fc": fused, "fc": fc, "oracle@K": np.tile(oracle, (S, 1))}


def run_study(inputs: StudyInputs, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> StudyResult:
    """Evaluate the four selection methods with a hierarchical (seed, scene) bootstrap.

    Each bootstrap draw resamples seeds and scenes with replacement (the same draw for every method, so
    differences are paired); a statistic is the mean over drawn seeds of the mean over drawn scenes.
    """
    sel = selections(inputs)
    S, M = sel["base"].shape
    alpha = (1.0 - ci) / 2
    names = [k for k, _ in SUBSCORE_ORDER if k in inputs.subscores] + [
        k for k in inputs.subscores if k not in dict(SUBSCORE_ORDER)
    ]

    def values(method: str, key: str) -> NDArray:  # [S, M] sub-score of the selected candidate
        return np.take_along_axis(inputs.subscores[key][None].repeat(S, 0), sel[method][..., None], axis=2)[
            ..., 0
        ]

    def stat(point: float, draws: NDArray) -> Stat:
        d = draws[np.isfinite(draws)]
        if d.size == 0:
            return Stat(point, float("nan"), float("nan"))
        return Stat(point, float(np.quantile(d, alpha)), float(np.quantile(d, 1 - alpha)))

    mode = "privileged" if inputs.privileged else "honest"
    times = None if inputs.scoring_time_s is None else float(np.mean(inputs.scoring_time_s))
    per_method = {m: [np.stack([values(m, k)[s] for k in names], -1) for s in range(S)] for m in METHODS}
    point, draws = hierarchical_bootstrap(per_method, n_boot=n_boot, seed=seed)
    rows, draws_pdms, means = [], {}, {}
    for method in METHODS:
        metrics = {}
        for i, key in enumerate(names):
            metrics[key] = stat(float(point[method][i]), draws[method][:, i])
            means[(method, key)] = float(point[method][i])
            if key == "score":
                draws_pdms[method] = draws[method][:, i]
        uses_fc = method in ("base+fc", "fc")
        rows.append(StudyRow(method, mode if uses_fc else "n/a", metrics, times if uses_fc else None))

    def gap(method: str) -> Stat:
        num = means[(method, "score")] - means[("base", "score")]
        den = means[("oracle@K", "score")] - means[("base", "score")]
        point = num / den if abs(den) > 1e-12 else float("nan")
        dd = draws_pdms["oracle@K"] - draws_pdms["base"]
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(np.abs(dd) > 1e-12, (draws_pdms[method] - draws_pdms["base"]) / dd, np.nan)
        return stat(point, b)

    g = gap("base+fc")
    not_lowered = {k: means[("base+fc", k)] >= means[("base", k)] - 1e-12 for k in names if k != "score"}
    return StudyResult(
        rows=rows,
        gap_closed=g,
        gap_closed_fc_alone=gap("fc"),
        target_met=bool(np.isfinite(g.mean) and g.mean >= 0.3 and all(not_lowered.values())),
        subscores_not_lowered=not_lowered,
        num_scenes=M,
        num_seeds=S,
        ci=ci,
        extra={"w_fc": [float(w) for w in inputs.w_fc]},
    )


def to_markdown(result: StudyResult) -> str:
    """Markdown table (values ×100, mean [CI]) and a summary line."""
    keys = list(result.rows[0].metrics)
    label = dict(SUBSCORE_ORDER)
    head = ["method", "FC inputs"] + [label.get(k, k) for k in keys] + ["FC time / scene"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result.rows:
        t = "–" if r.time_s is None else f"{r.time_s * 1000:.0f} ms"
        lines.append("| " + " | ".join([r.method, r.mode] + [r.metrics[k].fmt() for k in keys] + [t]) + " |")
    pct = round(result.ci * 100)
    lines += [
        "",
        f"{result.num_scenes} scenes × {result.num_seeds} FC seeds; values ×100, mean [{pct} % bootstrap CI over "
        f"seeds and scenes]; w_fc per seed {result.extra.get('w_fc')}.",
        f"Gap base → oracle@K closed by base+fc: {result.gap_closed.fmt()} % "
        f"(FC alone: {result.gap_closed_fc_alone.fmt()} %). Target (≥ 30 % and no sub-score mean lowered): "
        f"{'met' if result.target_met else 'not met'}"
        + (
            ""
            if all(result.subscores_not_lowered.values())
            else f" — lowered: {[label.get(k, k) for k, ok in result.subscores_not_lowered.items() if not ok]}"
        )
        + ".",
    ]
    return "\n".join(lines)


def plot_study(result: StudyResult, path: str | Path) -> Path:
    """Grouped bars (metric × method) with CI error bars, PNG."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    path = Path(path)
    keys = list(result.rows[0].metrics)
    label = dict(SUBSCORE_ORDER)
    x = np.arange(len(keys))
    width = 0.8 / len(result.rows)
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=100)
    for i, r in enumerate(result.rows):
        m = np.array([r.metrics[k].mean for k in keys]) * 100
        lo = np.array([r.metrics[k].lo for k in keys]) * 100
        hi = np.array([r.metrics[k].hi for k in keys]) * 100
        err = np.nan_to_num(np.stack([m - lo, hi - m]).clip(min=0))
        ax.bar(x + (i - (len(result.rows) - 1) / 2) * width, m, width, yerr=err, capsize=2, label=r.method)
    ax.set_xticks(x, [label.get(k, k) for k in keys])
    ax.set_ylabel("score ×100")
    mode = next((r.mode for r in result.rows if r.mode != "n/a"), "")
    ax.set_title(f"FC study ({mode}): {result.num_scenes} scenes × {result.num_seeds} seeds")
    ax.set_ylim(
        max(0.0, float(np.nanmin([r.metrics[k].lo for r in result.rows for k in keys]) * 100) - 5), 101
    )
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_study_inputs(inputs: StudyInputs, path: str | Path) -> Path:
    """Write :class:`StudyInputs` as an NPZ: ``base_log_score [M, K]``, ``fc_prob [S, M, K]``, ``w_fc [S]``,
    ``privileged []``, one ``[M, K]`` array per sub-score (``score`` required), optional
    ``scoring_time_s`` and ``candidate_mask [M, K]``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "base_log_score": inputs.base_log_score,
        "fc_prob": inputs.fc_prob,
        "w_fc": np.asarray(inputs.w_fc, dtype=np.float64),
        "privileged": np.asarray(bool(inputs.privileged)),
        **{k: np.asarray(v, dtype=np.float64) for k, v in inputs.subscores.items()},
    }
    if inputs.scoring_time_s is not None:
        arrays["scoring_time_s"] = np.asarray(inputs.scoring_time_s, dtype=np.float64)
    if inputs.mask is not None:
        arrays["candidate_mask"] = np.asarray(inputs.mask, dtype=bool)
    np.savez_compressed(path, **arrays)
    return path


def load_study_inputs(path: str | Path) -> StudyInputs:
    """Read the NPZ written by :func:`save_study_inputs` (no pickles; errors name the file and key)."""

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"study inputs not found: {path}")
    with np.load(path, allow_pickle=False) as npz:
        missing = [
            k for k in ("base_log_score", "fc_prob", "w_fc", "privileged", "score") if k not in npz.files
        ]
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}")
        try:
            return StudyInputs(
                base_log_score=npz["base_log_score"],
                fc_prob=npz["fc_prob"],
                subscores={k: npz[k] for k in SUBSCORE_KEYS if k in npz.files},
                w_fc=npz["w_fc"].tolist(),
                privileged=bool(npz["privileged"]),
                scoring_time_s=npz["scoring_time_s"] if "scoring_time_s" in npz.files else None,
                mask=npz["candidate_mask"] if "candidate_mask" in npz.files else None,
            )
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
