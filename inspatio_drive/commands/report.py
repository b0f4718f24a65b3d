"""``inspatio-drive report run_dir=…``: the HTML result viewer of an evaluation run (configs/report.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.commands.base import compose_command, is_user_error, report_user_error
from inspatio_drive.evaluation.report import write_run_report


def main(overrides: Sequence[str]) -> int:
    cfg = compose_command("report", "report", overrides)
    if cfg is None:
        return 2
    try:
        index = write_run_report(cfg.run_dir, cfg.out_dir, cfg.artefacts_dir, cfg.title, cfg.reference_variant)
    except Exception as exc:  # no run_dir given, or not a run folder
        if not is_user_error(exc):
            raise
        return report_user_error("report", exc)
    print(f"report: {index}  (open it in a browser; it needs no server)")
    return 0
