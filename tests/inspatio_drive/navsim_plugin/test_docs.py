"""docs/navsim_plugin.md tried as written: its install line registers the agent, and every scoring command's agent
overrides compose with navsim's override syntax into an agent that builds (or refuses with the file it names)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from inspatio_drive.navsim_plugin import NAVSIM_AGENT_DIR

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DOC = ROOT / "docs" / "navsim_plugin.md"


def _fake():
    spec = importlib.util.spec_from_file_location("_fake_navsim_docs", HERE / "fake_navsim.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _commands() -> list[list[str]]:
    """The shell commands of the doc's bash blocks (continuation lines joined, comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    out = []
    for block in blocks:
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                out.append(shlex.split(line))
    return out


def _scoring_commands():
    return [c for c in _commands() if c[0] == "python" and "run_pdm_score" in c[1]]


@pytest.fixture
def navsim_root(tmp_path):
    """A navsim checkout's config layout (agent group with navsim's default agent, a scoring config)."""
    agent_dir = tmp_path / "navsim_devkit" / NAVSIM_AGENT_DIR
    agent_dir.mkdir(parents=True)
    (agent_dir / "constant_velocity_agent.yaml").write_text("_target_: navsim.agents.ConstantVelocityAgent\n")
    (agent_dir.parent / "default_run_pdm_score.yaml").write_text(
        "defaults:\n  - agent: constant_velocity_agent\n  - _self_\nexperiment_name: x\n")
    return tmp_path / "navsim_devkit"


def test_readme_links_the_navsim_page():
    assert "docs/navsim_plugin.md" in (ROOT / "README.md").read_text()


def test_install_line_registers_the_agent(navsim_root):
    line = next(c for c in _commands() if c[:2] == ["python", "-c"] and "install_agent_configs" in c[2])
    env = {**os.environ, "NAVSIM_DEVKIT_ROOT": str(navsim_root), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", line[2]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    agent_dir = navsim_root / NAVSIM_AGENT_DIR
    assert done.stdout.strip() == str(agent_dir / "inspatio_agent.yaml")
    assert (agent_dir / "planner" / "drivor.yaml").is_file() and (agent_dir / "fc" / "geometric.yaml").is_file()
    assert (agent_dir / "constant_velocity_agent.yaml").is_file()  # navsim's own agents kept


def test_scripts_per_navsim_version():
    scripts = {(Path(c[1]).name, next(a for a in c if a.startswith("train_test_split="))) for c in _scoring_commands()}
    assert ("run_pdm_score_one_stage.py", "train_test_split=navtest") in scripts  # v2.x one-stage
    assert ("run_pdm_score.py", "train_test_split=navhard_two_stage") in scripts  # v2.x two-stage
    assert ("run_pdm_score.py", "train_test_split=navtest") in scripts  # v1.1


@pytest.mark.parametrize("index", range(3))
def test_scoring_commands_build_their_agent(index, navsim_root, monkeypatch):
    from inspatio_drive.navsim_plugin import install_agent_configs

    for name, mod in _fake().navsim_modules(True).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.delitem(sys.modules, "inspatio_drive.navsim_plugin.agent", raising=False)
    monkeypatch.delenv("DRIVOR_CHECKPOINT", raising=False)
    install_agent_configs(navsim_root / NAVSIM_AGENT_DIR)
    command = _scoring_commands()[index]
    overrides = [a for a in command[2:] if a.startswith("agent")]
    assert overrides[0] == "agent=inspatio_agent"
    with initialize_config_dir(str(navsim_root / NAVSIM_AGENT_DIR.parent), version_base=None):
        cfg = compose("default_run_pdm_score", overrides)
    checkpoint = cfg.agent.planner.get("checkpoint")
    assert ("agent/fc=geometric" in overrides) == (cfg.agent.fc is not None)
    if checkpoint:  # the doc's placeholder files reach their loaders (not a TypeError of a merged node)
        files = [checkpoint] + ([cfg.agent.fc.head] if cfg.agent.fc is not None else [])
        with pytest.raises(InstantiationException, match="|".join(re.escape(f) for f in files)):
            instantiate(cfg.agent)
    else:
        agent = instantiate(cfg.agent)
        assert agent.pipeline.planner.name == "constant_velocity"
    importlib.invalidate_caches()
