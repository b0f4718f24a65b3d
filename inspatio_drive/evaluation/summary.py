"""Closing summary of a run: mean PDMS and sub-scores per variant with bootstrap confidence intervals,
paired differences against a reference variant, a printable table and a plot.

EPDMS rows (``evaluate metric=epdms``, after the one-stage aggregation) are summarised with navsim v2's columns:
EPDMS NC DAC DDC TLC EP TTC LK HC EC; every summary row says which metric (``score_metric``, and ``traffic`` /
``human_filter`` for EPDMS)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inspatio_drive.contracts import METRIC_LABELS
from inspatio_drive.evaluation.epdms import EPDMS_SHORT, is_epdms
from inspatio_drive.evaluation.results import PDM_COLUMNS

SHORT = dict(METRIC_LABELS)  # navsim name → short name
ORDER = tuple(short for _, short in METRIC_LABELS)  # PDMS NC DAC DDC TTC EP C
EPDMS_ORDER = ("EPDMS", "NC", "DAC", "DDC", "TLC", "EP", "TTC", "LK", "HC", "EC")


def _order(summary: pd.DataFrame) -> tuple[str, ...]:
    """The metric order of a summary (v2 order when it holds EPDMS)."""
    return EPDMS_ORDER if "EPDMS" in set(summary.get("metric", [])) else ORDER


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values [N]`` (NaN for N = 0)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values (NaN when none: e.g. EC where no scene has a previous frame)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def summarize(df: pd.DataFrame, reference: str = "base", n_boot: int = 2000) -> pd.DataFrame:
    """One row per (variant, metric): mean, CI low/high over valid scenes, scenes, and — for variants other
    than ``reference`` — the paired mean difference to it on the scenes both scored, with its CI.

    Args:
        df: result rows (``token, variant, valid`` and the PDM columns), e.g. ``ResultStore.dataframe()``.
    """
    if df.empty:
        return pd.DataFrame()
    valid = df[df["valid"].astype(bool)]
    epdms = is_epdms(df)
    short = EPDMS_SHORT if epdms else SHORT
    metrics = [c for c in (EPDMS_SHORT if epdms else PDM_COLUMNS) if c in df]
    labels = {c: str(df[c].dropna().iloc[0]) for c in ("metric", "traffic", "human_filter")
              if c in df and df[c].notna().any()}
    if "metric" in labels:
        labels["score_metric"] = labels.pop("metric")
    ref = valid[valid["variant"] == reference].set_index("token")
    out = []
    for variant, part in valid.groupby("variant", sort=True):
        part = part.set_index("token")
        for metric in metrics:
            vals = part[metric].to_numpy(dtype=np.float64)
            lo, hi = bootstrap_ci(vals, n_boot)
            row = {"variant": variant, "metric": short.get(metric, metric), **labels, "mean": _mean(vals), "ci_low": lo, "ci_high": hi, "scenes": int(vals.size)}
            if variant != reference and not ref.empty:
                common = part.index.intersection(ref.index)
                diff = part.loc[common, metric].to_numpy(np.float64) - ref.loc[common, metric].to_numpy(np.float64)
                dlo, dhi = bootstrap_ci(diff, n_boot)
                row.update({"diff_vs_ref": _mean(diff),
                            "diff_ci_low": dlo, "diff_ci_high": dhi})
            out.append(row)
    return pd.DataFrame(out)


CI_NOTE = "mean±h: h = half-width of the 95 % bootstrap confidence interval of the mean over valid scenes"


def format_table(summary: pd.DataFrame, variants: Sequence[str] | None = None) -> str:
    """A compact text table: one line per variant, columns PDMS NC DAC DDC TTC EP C, each ``mean±h`` where ``h`` is
    the half-width of the 95 % bootstrap confidence interval of the mean over scenes (said under the table)."""
    if summary.empty:
        return "(no valid scenes)"
    order = list(_order(summary))
    variants = list(variants or sorted(summary["variant"].unique()))
    header = f"{'variant':<12}{'scenes':>7}  " + "  ".join(f"{m:>13}" for m in order)
    lines = [header, "-" * len(header)]
    for v in variants:
        part = summary[summary["variant"] == v].set_index("metric")
        if part.empty:
            continue
        cells = []
        for m in order:
            if m not in part.index:
                cells.append(f"{'–':>13}")
                continue
            r = part.loc[m]
            if not np.isfinite(r["mean"]):  # e.g. EC where no scene has a previous frame
                cells.append(f"{'–':>13}")
                continue
            half = (r["ci_high"] - r["ci_low"]) / 2
            cells.append(f"{r['mean']:>7.4f}±{half:<5.3f}")
        lines.append(f"{v:<12}{int(part['scenes'].iloc[0]):>7}  " + "  ".join(cells))
    lines.append(CI_NOTE)
    if "score_metric" in summary and summary["score_metric"].notna().any():
        first = summary.iloc[0]
        said = [f"metric: {first['score_metric']}"]
        said += [f"{k}={first[k]}" for k in ("traffic", "human_filter") if k in summary and pd.notna(first[k])]
        if "EC" in set(summary["metric"]):
            said.append("one-stage EPDMS: EC between the chosen plans of scenes 0.5 s apart in a log, "
                        "its weight dropped where a scene has none (EC – : no such pair)")
        lines.append(", ".join(said))
    return "\n".join(lines)


def summary_figure(summary: pd.DataFrame, title: str = "PDM score by variant") -> Any:
    """Grouped bar chart (metrics × variants) with CI error bars; the legend sits right of the axes, clear of
    the bars. Returns the matplotlib figure (the caller saves / closes it)."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    order = [m for m in _order(summary) if m in set(summary["metric"])]
    variants = sorted(summary["variant"].unique())
    fig, ax = plt.subplots(figsize=(1.2 * len(order) + 3.2, 3.6))
    width = 0.8 / max(1, len(variants))
    x = np.arange(len(order))
    for i, v in enumerate(variants):
        part = summary[summary["variant"] == v].set_index("metric").reindex(order)
        err = np.stack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, part["mean"], width, yerr=np.nan_to_num(err),
               capsize=2, label=v)
    ax.set_xticks(x, order)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over scenes (95 % CI)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, title="variant",
              title_fontsize=8)
    fig.tight_layout()
    return fig


def plot_summary(summary: pd.DataFrame, path: str | Path, title: str = "PDM score by variant") -> Path:
    """:func:`summary_figure` → PNG."""
    fig = summary_figure(summary, title)
    import matplotlib.pyplot as plt  # lazy: plotting only (summary_figure chose the Agg backend)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
