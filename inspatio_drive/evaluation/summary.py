"""Closing summary of a run: mean PDMS and sub-scores per variant with bootstrap confidence intervals,
paired differences against a reference variant, a printable table and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inspatio_drive.contracts import METRIC_LABELS
from inspatio_drive.evaluation.results import PDM_COLUMNS

SHORT = dict(METRIC_LABELS)  # navsim name → short name
ORDER = tuple(short for _, short in METRIC_LABELS)  # PDMS NC DAC DDC TTC EP C


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


def summarize(df: pd.DataFrame, reference: str = "base", n_boot: int = 2000) -> pd.DataFrame:
    """One row per (variant, metric): mean, CI low/high over valid scenes, scenes, and — for variants other
    than ``reference`` — the paired mean difference to it on the scenes both scored, with its CI.

    Args:
        df: result rows (``token, variant, valid`` and the PDM columns), e.g. ``ResultStore.dataframe()``.
    """
    if df.empty:
        return pd.DataFrame()
    valid = df[df["valid"].astype(bool)]
    metrics = [c for c in PDM_COLUMNS if c in df]
    ref = valid[valid["variant"] == reference].set_index("token")
    out = []
    for variant, part in valid.groupby("variant", sort=True):
        part = part.set_index("token")
        for metric in metrics:
            vals = part[metric].to_numpy(dtype=np.float64)
            lo, hi = bootstrap_ci(vals, n_boot)
            row = {"variant": variant, "metric": SHORT.get(metric, metric), "mean": float(np.nanmean(vals))
                   if vals.size else float("nan"), "ci_low": lo, "ci_high": hi, "scenes": int(vals.size)}
            if variant != reference and not ref.empty:
                common = part.index.intersection(ref.index)
                diff = part.loc[common, metric].to_numpy(np.float64) - ref.loc[common, metric].to_numpy(np.float64)
                dlo, dhi = bootstrap_ci(diff, n_boot)
                row.update({"diff_vs_ref": float(np.nanmean(diff)) if diff.size else float("nan"),
                            "diff_ci_low": dlo, "diff_ci_high": dhi})
            out.append(row)
    return pd.DataFrame(out)


CI_NOTE = "mean±h: h = half-width of the 95 % bootstrap confidence interval of the mean over valid scenes"


def format_table(summary: pd.DataFrame, variants: Sequence[str] | None = None) -> str:
    """A compact text table: one line per variant, columns PDMS NC DAC DDC TTC EP C, each ``mean±h`` where ``h`` is
    the half-width of the 95 % bootstrap confidence interval of the mean over scenes (said under the table)."""
    if summary.empty:
        return "(no valid scenes)"
    order = list(ORDER)
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
            half = (r["ci_high"] - r["ci_low"]) / 2
            cells.append(f"{r['mean']:>7.4f}±{half:<5.3f}")
        lines.append(f"{v:<12}{int(part['scenes'].iloc[0]):>7}  " + "  ".join(cells))
    lines.append(CI_NOTE)
    return "\n".join(lines)


def summary_figure(summary: pd.DataFrame, title: str = "PDM score by variant") -> Any:
    """Grouped bar chart (metrics × variants) with CI error bars; the legend sits right of the axes, clear of
    the bars. Returns the matplotlib figure (the caller saves / closes it)."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    order = [m for m in ORDER if m in set(summary["metric"])]
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
