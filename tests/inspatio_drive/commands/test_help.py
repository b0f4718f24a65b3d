"""``inspatio-drive <command> --help``: purpose, usage with --debug, one example, the exit statuses, and the knobs
of every config group's default option (not only the group's name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from inspatio_drive.commands import cli
from inspatio_drive.config import CONFIG_DIR


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_help_has_example_exit_status_and_group_knobs(name, capsys):
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    cmd = cli.SUBCOMMANDS[name]
    assert f"example: {cmd.example}" in out and "exit status: 0 done; 2 a user error" in out and "--debug" in out
    for group, option in cli._group_defaults(cmd.config):
        path = CONFIG_DIR / group / f"{option}.yaml"
        if not path.is_file():
            continue
        assert f"configs/{group}/{option}.yaml" in out
        for key in OmegaConf.load(path):
            if key != "defaults":
                assert f"{key}:" in out, (name, group, key)


def test_evaluate_help_names_exit_3(capsys):
    cli.main(["evaluate", "--help"])
    assert "3 finished with valid=False rows (eval.fail_on_invalid)" in capsys.readouterr().out


def test_help_piped_into_head_is_no_traceback():
    """``inspatio-drive evaluate --help | head -1``: the reader goes away early (here: before the first write,
    so the write surely fails); no BrokenPipeError traceback, exit 0."""
    root = Path(__file__).resolve().parents[3]
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "inspatio_drive", "evaluate", "--help"], cwd=root,
                              stdout=write, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0
