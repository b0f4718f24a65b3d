"""``inspatio-drive second-stage`` (configs/second_stage.yaml); the maker is
:mod:`inspatio_drive.closed_loop.second_stage`."""

from __future__ import annotations

from collections.abc import Sequence

from inspatio_drive.closed_loop.second_stage import run_second_stage
from inspatio_drive.commands.base import compose_and_run


def main(overrides: Sequence[str]) -> int:
    result = compose_and_run("second-stage", "second_stage", overrides, run_second_stage,
                             (FileNotFoundError, ValueError, KeyError))
    if result is None:
        return 2
    pairs = sum(len(m[2]) for m in result["mappings"])
    print(f"\nsecond-stage: {len(result['mappings'])} stage-one scenes, {pairs} follow-up pairs "
          f"({result['skipped']} scenes already written, {len(result['failed'])} skipped; source={result['source']}, "
          f"lidar={result['lidar']})")
    if result["too_short"]:
        print(f"  {result['too_short']} scenes lack the log frames (4 before, ahead_frames + future_frames after; "
              f"listed in {result['output_dir']}/failed.csv)")
    for token, reason in [f for f in result["failed"] if not f[1].startswith("_TooShort")][:5]:
        print(f"  skipped {token}: {reason}")
    print(f"split    : {result['split_file']}")
    print(f"evaluate : inspatio-drive evaluate metric=epdms traffic=reactive data.split_file={result['split_file']} "
          "(same data.* as here)")
    return 0
