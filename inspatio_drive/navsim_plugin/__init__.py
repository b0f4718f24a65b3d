"""NAVSIM agent plugin: run any inspatio-drive planner (our DrivoR port, an installed DrivoR, the weight-free
baselines) with the future-consistency term inside navsim's own ``run_pdm_score.py``.

``inspatio_drive.navsim_plugin.agent`` imports navsim, so it is only imported on use; copy
``config/inspatio_agent.yaml`` into navsim's ``navsim/planning/script/config/common/agent/`` and run
``python navsim/planning/script/run_pdm_score.py agent=inspatio_agent ...`` (README "Use inside NAVSIM").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AGENT_YAML = Path(__file__).parent / "config" / "inspatio_agent.yaml"


def __getattr__(name: str) -> Any:
    if name == "InSpatioAgent":
        from inspatio_drive.navsim_plugin.agent import InSpatioAgent  # lazy: the agent module needs navsim

        return InSpatioAgent
    raise AttributeError(name)


__all__ = ["AGENT_YAML", "InSpatioAgent"]
