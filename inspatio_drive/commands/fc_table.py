"""``inspatio-drive fc-table``: the FC study table (markdown), plot and JSON of a study-inputs NPZ
(configs/fc_table.yaml, knobs in configs/scorer/study.yaml; the statistics are :func:`scorers.study.run_study`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from inspatio_drive.commands.base import compose_command, handles_user_errors
from scorers.study import load_study_inputs, plot_study, run_study, to_markdown


@handles_user_errors("fc-table")
def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive fc-table inputs=<npz> [output_dir=...]``: table (markdown) + plot (PNG) + JSON."""
    cfg = compose_command("fc-table", "fc_table", overrides)
    if cfg is None:
        return 2
    result = run_study(load_study_inputs(cfg.inputs), n_boot=cfg.n_boot, ci=cfg.ci, seed=cfg.seed)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(result)
    (out / "study.md").write_text(md + "\n")
    plot_study(result, out / "study.png")
    rows = [
        {"method": r.method, "mode": r.mode, "time_s": r.time_s, **{k: vars(v) for k, v in r.metrics.items()}}
        for r in result.rows
    ]
    (out / "study.json").write_text(
        json.dumps(
            {"rows": rows, "gap_closed": vars(result.gap_closed), "gap_closed_fc_alone": vars(result.gap_closed_fc_alone),
             "target_met": result.target_met, "subscores_not_lowered": result.subscores_not_lowered,
             "num_scenes": result.num_scenes, "num_seeds": result.num_seeds, "ci": result.ci},
            indent=2,
        )
    )  # fmt: skip
    print(md)
    return 0
