"""``inspatio-drive <command> --help``: purpose, usage with --debug, one example, the exit statuses, and the knobs
of every config group's default option (not only the group's name)."""

from __future__ import annotations

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
