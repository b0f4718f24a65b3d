"""``inspatio-drive report run_dir=…``: the HTML result viewer of an evaluation run (configs/report.yaml)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from inspatio_drive.commands.base import compose_command
from inspatio_drive.evaluation.report import write_run_report


def main(overrides: Sequence[str]) -> int:
    cfg = compose_command("report", "report", overrides)
    if cfg is None:
        return 2
    try:
        index = write_run_report(cfg.run_dir, cfg.out_dir, cfg.artefacts_dir, cfg.title, cfg.reference_variant)
    except FileNotFoundError as exc:
        print(f"inspatio-drive report: {exc}", file=sys.stderr)
        return 2
    print(f"report: {index}  (open it in a browser; it needs no server)")
    return 0
