import numpy as np
import pandas as pd
import pytest

from inspatio_drive.evaluation.summary import (
    CI_NOTE,
    bootstrap_ci,
    format_table,
    plot_summary,
    summarize,
    summary_figure,
)


def _rows(n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        base = rng.uniform(0.3, 0.9)
        for variant, score in (("base", base), ("fc", base + 0.05)):
            rows.append({"token": f"t{i}", "variant": variant, "valid": True, "score": score,
                         "no_at_fault_collisions": 1.0, "ego_progress": score})
    rows.append({"token": "bad", "variant": "fc", "valid": False, "score": float("nan")})
    return pd.DataFrame(rows)


def test_bootstrap_ci_contains_mean_and_shrinks():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.5, 0.1, 20), rng.normal(0.5, 0.1, 2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4
    assert np.isnan(bootstrap_ci(np.array([np.nan]))[0])


def test_summarize_paired_difference_and_table(tmp_path):
    s = summarize(_rows())
    pdms = s[(s["variant"] == "fc") & (s["metric"] == "PDMS")].iloc[0]
    assert pdms["scenes"] == 40  # the invalid row is excluded
    assert pdms["diff_vs_ref"] == pytest.approx(0.05)
    assert pdms["diff_ci_low"] == pytest.approx(0.05) and pdms["diff_ci_high"] == pytest.approx(0.05)
    text = format_table(s)
    assert text.splitlines()[2].startswith("base") and "PDMS" in text.splitlines()[0]
    assert plot_summary(s, tmp_path / "s.png").stat().st_size > 5000


def test_summary_plot_legend_is_clear_of_the_bars():
    fig = summary_figure(summarize(_rows(), n_boot=50))
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [p.get_window_extent() for p in ax.patches]
    assert bars and not any(legend.overlaps(b) for b in bars)
    assert not legend.overlaps(ax.get_window_extent())  # outside the plotting area altogether


def test_table_says_what_the_plus_minus_is():
    table = format_table(summarize(_rows(), n_boot=50))
    assert "±" in table and table.splitlines()[-1] == CI_NOTE
