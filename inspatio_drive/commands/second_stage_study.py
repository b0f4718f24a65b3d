"""``inspatio-drive second-stage-study`` (configs/second_stage_study.yaml): the run is
:func:`inspatio_drive.evaluation.second_stage_study.run_second_stage_study`, given the follow-up maker of
:mod:`inspatio_drive.closed_loop.second_stage` (a room of the same layer)."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from inspatio_drive.closed_loop.second_stage import run_second_stage
from inspatio_drive.commands.base import compose_command, is_user_error, report_user_error
from inspatio_drive.evaluation.second_stage_study import run_second_stage_study


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive second-stage-study [key=value ...]``."""
    cfg = compose_command("second-stage-study", "second_stage_study", overrides)
    if cfg is None:
        return 2
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    try:
        result = run_second_stage_study(plain, run_second_stage)
    except Exception as exc:
        if not is_user_error(exc, (KeyError, FileNotFoundError)):
            raise
        return report_user_error("second-stage-study", exc)
    print(result["markdown"])
    print(f"\nsecond-stage-study: {result['csv']}, per_scene.csv, second_stage_study.md / .json in {result['output_dir']}")
    return 0
