"""``inspatio-drive wm-sandbox-study``: the small world model on written sandbox scenes (issue 23, item 4;
``configs/wm_sandbox_study.yaml``, docs/world_model.md). Part ``fc``: the FC's generated-frame features from the
world model, the hole-filled render and the oracle's true views, and the PDMS of the FC-fused choice per source
(:mod:`inspatio_drive.evaluation.world_model_fc`). Part ``drift``: closed-loop observation drift per step, the
world-model observer against the geometric one (:mod:`inspatio_drive.closed_loop.world_model_drift`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from omegaconf import OmegaConf

from inspatio_drive.closed_loop.world_model_drift import run_drift_study
from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.config import SettingError
from inspatio_drive.evaluation.world_model_fc import run_fc_study

PARTS = ("fc", "drift")


@handles_user_errors("wm-sandbox-study")
def main(overrides: Sequence[str]) -> int:
    cfg = compose_command("wm-sandbox-study", "wm_sandbox_study", overrides)
    if cfg is None:
        return 2
    c = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(c, dict)
    unknown = sorted(set(c["parts"]) - set(PARTS))
    if unknown:
        raise SettingError(f"parts: unknown {unknown}; expected some of {list(PARTS)}")
    if c["generator"].get("name") != "inspatio":
        raise SettingError(f"generator.name: expected inspatio (the world model measured), got {c['generator'].get('name')!r}")
    torch.set_num_threads(int(c["threads"]))
    for part, run in (("fc", run_fc_study), ("drift", run_drift_study)):
        if part in c["parts"]:
            result = run(c)
            print(result["markdown"])
            for path in result["files"]:
                print(path)
    return 0
