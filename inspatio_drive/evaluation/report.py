"""``inspatio-drive report``: the static HTML viewer of an evaluation run (scene list with PDMS — or the one-stage
EPDMS of a ``metric=epdms`` run, with its sub-metrics — per variant, BEV plots, synced video panels per
candidate)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from inspatio_drive.evaluation.epdms import is_epdms, with_one_stage
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
    df = with_one_stage(store.dataframe())  # EPDMS rows: EC and the one-stage score (adjacent scenes of a log)
    label = "EPDMS" if is_epdms(df) else "PDMS"
    summary_rows = []
    s = summarize(df, reference=reference_variant, n_boot=500) if not df.empty else pd.DataFrame()
    if not s.empty:  # empty when every row is valid=False
        main = s[s["metric"] == label]
        for _, r in main.iterrows():
            row: dict[str, object] = {"variant": r["variant"], "scenes": r["scenes"], label: r["mean"],
                                      "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            subs = s[(s["variant"] == r["variant"]) & (s["metric"] != label)]
            row.update({str(m): v for m, v in zip(subs["metric"], subs["mean"], strict=True)})
            row.update({k: r[k] for k in ("score_metric", "traffic", "human_filter") if k in r and pd.notna(r[k])})
            summary_rows.append(row)
    scene_rows: dict[str, dict[str, object]] = {}
    for _, row in df.iterrows():
        scene_rows.setdefault(row["token"], {})[f"{label.lower()}_{row['variant']}"] = row.get("score")
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
