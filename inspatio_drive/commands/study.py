"""``inspatio-drive study``: the future-consistency study on sandbox splits (configs/study.yaml); the run is
:func:`inspatio_drive.evaluation.study.run_study`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, is_user_error, report_user_error
from inspatio_drive.evaluation.study import run_study


def main(overrides: Sequence[str]) -> int:
    """``inspatio-drive study [key=value ...]`` (``configs/study.yaml``)."""
    cfg = compose_command("study", "study", overrides)
    if cfg is None:
        return 2
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    try:
        result = run_study(plain)
    except Exception as exc:
        if not is_user_error(exc, (KeyError,)):  # KeyError: an unknown sandbox scenario
            raise
        return report_user_error("study", exc)
    if "markdown" in result:
        print(result["markdown"])
        name = Path(result["plot"]).stem  # study (metric=pdms) or study_epdms
        print(f"\nstudy: {result['output_dir']}/{name}.md, {name}.json, {result['plot']}")
    return 0
