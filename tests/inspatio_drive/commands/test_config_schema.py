"""Every sub-command config is checked against its structured schema (inspatio_drive/config/schema.py):
``--help`` prints its knobs, ``--cfg job`` composes, a misspelt key or a value of the wrong type exits 2 with one
line naming the key (and the expected type), and the schema defaults are the yaml defaults."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from inspatio_drive.commands import cli
from inspatio_drive.config import CONFIG_DIR, ConfigError, compose
from inspatio_drive.config.schema import SCHEMAS

COMMANDS = sorted(cli.SUBCOMMANDS)
GROUPS = {"data", "planner", "scorer", "worker", "generator"}  # config groups of the other rooms (typed Any)
ROOT = Path(__file__).resolve().parents[3]
_UNIONS = (typing.Union, types.UnionType)


def _leaves(cls: type, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted key, type)`` of every field of a schema, nested sections expanded; ``Any`` (group) fields kept."""
    out = []
    for name, tp in typing.get_type_hints(cls).items():
        key = f"{prefix}{name}"
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out += _leaves(tp, key + ".")
        else:
            out.append((key, tp))
    return out


def _plain(tp: object) -> object:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in _UNIONS:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else typing.Any
    return tp


def _schema(name: str) -> type:
    return SCHEMAS[cli.SUBCOMMANDS[name].config]


def _entry(name: str) -> typing.Callable[[list[str]], int]:
    """The command's own entry point (not the cli, whose fallback would hide a command that lets it escape)."""
    cmd = cli.SUBCOMMANDS[name]
    return getattr(importlib.import_module(cmd.module), cmd.function)


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_every_command_config_has_a_schema_first_in_its_defaults():
    for name in COMMANDS:
        config = cli.SUBCOMMANDS[name].config
        assert config in SCHEMAS, name
        defaults = OmegaConf.load(CONFIG_DIR / f"{config}.yaml").defaults
        assert defaults[0] == f"{config}_schema", config
        assert defaults[-1] == "_self_", config


@pytest.mark.parametrize("name", COMMANDS)
def test_help_prints_purpose_and_every_knob(name, capsys):
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert cli.SUBCOMMANDS[name].text in out
    for key, _ in _leaves(_schema(name)):
        leaf = key.rpartition(".")[2]
        if key in GROUPS:  # a config group of another room: listed as group=option
            continue
        assert f"{leaf}:" in out, (name, key)


@pytest.mark.parametrize("name", COMMANDS)
def test_cfg_job_composes(name, capsys):
    assert cli.main([name, "--cfg", "job"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    expected = compose(cli.SUBCOMMANDS[name].config)
    assert OmegaConf.to_container(printed) == OmegaConf.to_container(expected)


@pytest.mark.parametrize("name", COMMANDS)
def test_misspelt_key_exits_2_with_one_line_naming_it(name, capsys):
    key = next(k for k, tp in _leaves(_schema(name)) if tp is not typing.Any)
    typo = key + "_typo"
    assert _entry(name)([f"{typo}=1"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"inspatio-drive {name}: "), line
    assert f"{typo}: unknown key" in line
    assert key.rpartition(".")[2] in line  # the keys that exist are listed


def _wrong_value(tp: object) -> tuple[str, str] | None:
    """(value, expected text) of a value the type rejects."""
    tp = _plain(tp)
    if tp in (int, float, bool):
        return "not_a_number", tp.__name__
    if typing.get_origin(tp) is list:
        return "not_a_list", "a list"
    if tp is str:
        return "[1,2]", "str"
    return None


@pytest.mark.parametrize("name", COMMANDS)
def test_wrong_type_exits_2_naming_key_and_expected_type(name, capsys):
    key, value, expected = next(
        (k, *_wrong_value(tp)) for k, tp in _leaves(_schema(name)) if _wrong_value(tp) is not None
    )
    assert _entry(name)([f"{key}={value}"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{key}: expected {expected}" in line, line
    assert value in line


@pytest.mark.parametrize("config", sorted(SCHEMAS))
def test_schema_defaults_are_the_yaml_defaults(config):
    """The yaml supplies every knob (documented there) and the schema defaults are the same values and types."""
    composed = OmegaConf.to_container(compose(config), resolve=False)
    schema = OmegaConf.to_container(OmegaConf.structured(SCHEMAS[config]), resolve=False)
    assert isinstance(composed, dict) and isinstance(schema, dict)

    def typed(x: object) -> object:
        if isinstance(x, dict):
            return {k: typed(v) for k, v in x.items()}
        if isinstance(x, list):
            return [typed(v) for v in x]
        return (type(x).__name__, x)

    hints = typing.get_type_hints(SCHEMAS[config])
    for key, default in schema.items():
        if hints[key] is typing.Any:  # a config group: its own files give it
            continue
        assert typed(composed[key]) == typed(default), (config, key)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["eval.max_scenes=abc"], "eval.max_scenes: expected int or null, got 'abc'"),
        (["eval.max_scene=3"], "eval.max_scene: unknown key; eval has "),
        (["eval.variants=3"], "eval.variants: expected a list of str, got '3'"),
        (["data=nope"], "data=nope: no such option; choices: openscene, sample"),
        (["planner.no_such_knob=1"], "planner.no_such_knob: unknown key; planner has "),
        (["eval.max_scenes"], "Error parsing override 'eval.max_scenes'"),
    ],
)
def test_compose_errors_are_one_line(overrides, expected):
    with pytest.raises(ConfigError) as info:
        compose("evaluate", overrides)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_misspelt_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"did you mean eval\.max_scenes\?"):
        compose("evaluate", ["eval.max_scene=3"])


def test_closed_loop_help_and_bad_override_from_the_command_line():
    run = [sys.executable, "-m", "inspatio_drive", "closed-loop"]
    help_ = subprocess.run([*run, "--help"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert help_.returncode == 0, help_.stderr
    assert "closed_loop:" in help_.stdout and "max_scenes:" in help_.stdout
    bad = subprocess.run(
        [*run, "closed_loop.max_scenes=abc"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert bad.returncode == 2
    assert _one_line(bad.stderr) == (
        "inspatio-drive closed-loop: bad override: closed_loop.max_scenes: expected int or null, got 'abc'"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_help_example_composes(name):
    """The example that ``--help`` shows uses keys and types the schema accepts."""
    example = cli.SUBCOMMANDS[name].example.split()
    assert example[:2] == ["inspatio-drive", name]
    compose(cli.SUBCOMMANDS[name].config, example[2:])
