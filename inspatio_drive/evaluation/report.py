"""``inspatio-drive report``: the static HTML viewer of an evaluation run (scene list with PDMS per
variant, BEV plots, synced video panels per candidate)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from inspatio_drive.evaluation.results import JOURNAL, ResultStore
from inspatio_drive.evaluation.summary import summarize
from inspatio_drive.viewer import build_report


def write_run_report(run_dir: str | Path, out_dir: str | Path | None = None, artefacts_dir: str | Path | None = None,
                     title: str = "inspatio-drive evaluation", reference_variant: str = "base") -> Path:
    """Build ``<out_dir>/index.html`` for the run in ``run_dir``; returns its path."""
    run_dir = Path(run_dir)
    if not (run_dir / JOURNAL).is_file():
        raise FileNotFoundError(f"{run_dir}: not an evaluation run (no {JOURNAL}); expected the eval.output_dir of an evaluate run")
    store = ResultStore(run_dir)
    df = store.dataframe()
    summary_rows = []
    if not df.empty:
        s = summarize(df, reference=reference_variant, n_boot=500)
        pdms = s[s["metric"] == "PDMS"]
        for _, r in pdms.iterrows():
            summary_rows.append({"variant": r["variant"], "scenes": r["scenes"], "PDMS": r["mean"],
                                 "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
    scene_rows: dict[str, dict[str, object]] = {}
    for row in store.rows():
        scene_rows.setdefault(row["token"], {})[f"pdms_{row['variant']}"] = row.get("score")
    artefacts = Path(artefacts_dir) if artefacts_dir else run_dir / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    invalid = _invalid_rows(run_dir)
    return build_report(artefacts, Path(out_dir) if out_dir else run_dir / "report", title, summary_rows, scene_rows,
                        invalid=invalid)


def _invalid_rows(run_dir: Path) -> list[dict[str, object]]:
    """The run's ``invalid.csv`` (``token, variants, error`` of the valid=False rows, written by evaluate) as rows."""
    path = run_dir / "invalid.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return []
    return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
