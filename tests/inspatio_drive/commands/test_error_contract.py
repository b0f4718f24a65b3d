"""The error contract of every sub-command (inspatio_drive/commands/base.py): a user error found while the command
runs (a missing file or data root, an unknown name, a value out of range, a missing mandatory value) exits 2 with
one line on stderr naming it, and no traceback; ``--debug`` adds the traceback; a bug still raises."""

from __future__ import annotations

import importlib

import pytest

from inspatio_drive.commands import base, cli
from inspatio_drive.commands import report as report_command

# command -> (overrides that hold a user error found at run time, a piece of the one line it must print);
# {tmp} is a fresh folder for whatever the command would write
USER_ERRORS: dict[str, tuple[list[str], str]] = {
    "demo": (["planner.vocabulary=/nonexistent/vocab.safetensors", "eval.output_dir={tmp}/demo"],
             "/nonexistent/vocab.safetensors"),
    "evaluate": (["data=openscene", "data.data_root=/nonexistent", "eval.output_dir={tmp}/eval"],
                 "/nonexistent/navsim_logs/test"),
    "report": (["run_dir=/nonexistent/run"], "/nonexistent/run: not an evaluation run"),
    "pdm-score": (["candidates=/nonexistent/cands.json"], "/nonexistent/cands.json"),
    "metric-cache": (["data.data_root=/nonexistent", "data.maps_root=/nonexistent/maps", "cache_path={tmp}/mc"],
                     "/nonexistent"),
    "sandbox": (["scenarios=[no_such_scenario]", "root={tmp}/sb", "n=1"], "no_such_scenario"),
    "render": (["source=navsim", "data.data_root=/nonexistent", "output_dir={tmp}/render"],
               "data.data_root: /nonexistent/navsim_logs not found"),
    "render-fidelity": (["scenarios=[no_such_scenario]"], "no_such_scenario"),
    "build-vocab": (["data.data_root=/nonexistent", "output={tmp}/v.safetensors"], "/nonexistent/navsim_logs"),
    "train-fc": (["dataset=/nonexistent/fc.npz", "output_dir={tmp}/fc"], "/nonexistent/fc.npz"),
    "train-scorer": (["dataset=/nonexistent/fc.npz", "output_dir={tmp}/sc"], "/nonexistent/fc.npz"),
    "train-drivor-fc": (["planner.checkpoint=/nonexistent/drivor.pth", "planner.model.image_size=[56,28]",
                         "output_dir={tmp}/dfc"], "DrivoR checkpoint /nonexistent/drivor.pth: no such file"),
    "study": (["scenarios=[no_such_scenario]", "output_dir={tmp}/study"], "no_such_scenario"),
    "fc-table": (["inputs=/nonexistent/study.npz", "output_dir={tmp}/t"], "/nonexistent/study.npz"),
    "closed-loop": (["data.data_root=/nonexistent", "closed_loop.output_dir={tmp}/cl"], "/nonexistent/navsim_logs"),
    "counterfactual": (["data.data_root=/nonexistent", "counterfactual.output_dir={tmp}/cf"],
                       "/nonexistent/navsim_logs"),
    "second-stage": (["data.data_root=/nonexistent", "second_stage.output_dir={tmp}/s2"], "/nonexistent/navsim_logs"),
    "bench-camera-only": (["variants=[{{name: x, depth: sonar}}]", "output_dir={tmp}/bco"], "got 'sonar'"),
    "train-world-model": (["data.dir=/nonexistent/clips", "output_dir={tmp}/wm"], "/nonexistent/clips"),
    "second-stage-study": (["sources=[geometric]", "n=0", "output_dir={tmp}/s2s"], "including oracle"),
    "figures": (["which=[no_such_picture]", "out={tmp}/img"], "no_such_picture"),
    "bench-data": (["workdir=/dev/null/x", "num_logs=1", "image_logs=0"], "/dev/null/x"),
    "bench-render": (["cameras=[NO_SUCH_CAM]"], "NO_SUCH_CAM"),
    "bench-pdm": (["scenes=[/nonexistent/scene]"], "/nonexistent/scene"),
    "bench-metric-cache": (["data.data_root=/nonexistent"], "/nonexistent"),
    "bench-sandbox": (["scenario=no_such_scenario"], "no_such_scenario"),
    "bench-planners": (["image_size=[0,0]", "drivor=false", "repeats=1"], "image_size: expected [width, height] > 0"),
    "bench-fc": (["num_candidates=0"], "num_candidates: expected an integer >= 1, got 0"),
    "bench-evaluate": (["data.data_root=/nonexistent", "n=2", "workers=[1]", "work_dir={tmp}/be"], "/nonexistent"),
    "bench-world-model": (["pipeline=no_such_pipeline"], "no_such_pipeline"),
    "wm-sandbox-study": (["parts=[nope]", "output_dir={tmp}/wms"], "unknown ['nope']"),
}


def test_every_command_has_a_user_error_case():
    assert set(USER_ERRORS) == set(cli.SUBCOMMANDS)


def _run(name: str, tmp_path, *extra: str, direct: bool = False) -> int:
    overrides, _ = USER_ERRORS[name]
    args = [*(ov.format(tmp=tmp_path) for ov in overrides), *extra]
    if direct:  # the command's own entry point, as a script or a test calls it
        cmd = cli.SUBCOMMANDS[name]
        return getattr(importlib.import_module(cmd.module), cmd.function)(args)
    return cli.main([name, *args])


@pytest.mark.parametrize("direct", [False, True], ids=["cli", "entry"])
@pytest.mark.parametrize("name", sorted(USER_ERRORS))
def test_user_error_exits_2_with_one_line(name, direct, tmp_path, capsys):
    assert _run(name, tmp_path, direct=direct) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"inspatio-drive {name}: "), lines[0]
    assert USER_ERRORS[name][1] in lines[0], lines[0]


@pytest.mark.parametrize("name", ["report", "evaluate", "sandbox", "bench-fc", "closed-loop"])
def test_debug_adds_the_traceback(name, tmp_path, capsys):
    assert _run(name, tmp_path, "--debug") == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith(f"inspatio-drive {name}: ")


def test_missing_mandatory_value_names_the_key(capsys):
    assert cli.main(["report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "inspatio-drive report: run_dir: missing mandatory value; give it on the command line (run_dir=...)"


def test_a_bug_is_not_a_user_error(monkeypatch):
    """An exception outside the documented user-error types propagates (traceback, exit 1)."""
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(report_command, "write_run_report", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["report", "run_dir=/nonexistent"])


def test_unknown_flag_exits_2(capsys):
    assert cli.main(["report", "--verbose"]) == 2
    assert "unknown option '--verbose'" in capsys.readouterr().err


def test_user_error_list_resolves_every_documented_type():
    """Every ``module:Class`` of USER_ERRORS names an exception class (a typo would silently drop it)."""
    for entry in base.USER_ERRORS:
        module, _, name = entry.partition(":")
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, BaseException), entry


def test_unset_environment_variable_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("NO_SUCH_VAR_FOR_TEST", raising=False)
    assert cli.main(["report", "run_dir=${oc.env:NO_SUCH_VAR_FOR_TEST}"]) == 2
    assert capsys.readouterr().err.strip() == (
        "inspatio-drive report: run_dir: environment variable NO_SUCH_VAR_FOR_TEST is not set; expected it set, "
        "or run_dir=<value>")
