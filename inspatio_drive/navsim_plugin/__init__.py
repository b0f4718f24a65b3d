"""NAVSIM agent plugin: run any inspatio-drive planner (our DrivoR port, an installed DrivoR, the weight-free
baselines) with the future-consistency term inside navsim's own scoring scripts (docs/navsim_plugin.md).

``inspatio_drive.navsim_plugin.agent`` imports navsim, so it is only imported on use. :func:`install_agent_configs`
writes the agent config and its two config groups into navsim's agent config folder::

    <agent dir>/inspatio_agent.yaml
    <agent dir>/planner/{constant_velocity,vocabulary,drivor,drivor_installed}.yaml (+ selection/, rules/)
    <agent dir>/fc/geometric.yaml

The planner group is a copy of this package's ``configs/planner`` and ``fc/geometric.yaml`` is the ``model`` node of
``configs/scorer/geometric_fc.yaml``: the same nodes ``inspatio-drive evaluate`` composes, so both decide alike.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inspatio_drive.config import CONFIG_DIR

AGENT_YAML = Path(__file__).parent / "config" / "inspatio_agent.yaml"
NAVSIM_AGENT_DIR = Path("navsim") / "planning" / "script" / "config" / "common" / "agent"
"""navsim's agent config folder, relative to ``$NAVSIM_DEVKIT_ROOT``."""


def install_agent_configs(agent_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``inspatio_agent.yaml`` and its ``planner`` / ``fc`` groups into navsim's agent config folder
    (default ``$NAVSIM_DEVKIT_ROOT/navsim/planning/script/config/common/agent``); files of ours there are replaced,
    navsim's own agent configs are left alone. Returns the installed ``inspatio_agent.yaml``.

    Raises:
        FileNotFoundError: no ``agent_dir`` and ``NAVSIM_DEVKIT_ROOT`` unset or without that folder.
    """
    if agent_dir is None:
        root = os.environ.get("NAVSIM_DEVKIT_ROOT")
        if not root or not (Path(root) / NAVSIM_AGENT_DIR).is_dir():
            raise FileNotFoundError(
                f"navsim agent config folder not found: set NAVSIM_DEVKIT_ROOT (got {root!r}) to navsim's checkout "
                f"(it holds {NAVSIM_AGENT_DIR}) or pass the folder")
        agent_dir = Path(root) / NAVSIM_AGENT_DIR
    dest = Path(agent_dir)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(AGENT_YAML, dest / AGENT_YAML.name)
    shutil.rmtree(dest / "planner", ignore_errors=True)
    shutil.copytree(CONFIG_DIR / "planner", dest / "planner", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    fc = OmegaConf.load(CONFIG_DIR / "scorer" / "geometric_fc.yaml")["model"]
    (dest / "fc").mkdir(exist_ok=True)
    header = "# GeometricFC: the model node of inspatio-drive's configs/scorer/geometric_fc.yaml (written by install_agent_configs)\n"
    (dest / "fc" / "geometric.yaml").write_text(header + OmegaConf.to_yaml(fc))
    return dest / AGENT_YAML.name


def __getattr__(name: str) -> Any:
    if name == "InSpatioAgent":
        from inspatio_drive.navsim_plugin.agent import InSpatioAgent  # lazy: the agent module needs navsim

        return InSpatioAgent
    raise AttributeError(name)


__all__ = ["AGENT_YAML", "NAVSIM_AGENT_DIR", "InSpatioAgent", "install_agent_configs"]
