"""The ``inspatio-drive`` dispatcher: the command list and an unknown command."""

from inspatio_drive.commands import cli


def test_cli_help_lists_subcommands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("demo", "evaluate", "sandbox", "render", "train-fc", "closed-loop"):
        assert name in out


def test_cli_unknown_subcommand(capsys):
    assert cli.main(["no-such-thing"]) == 2
    assert "unknown subcommand" in capsys.readouterr().err
