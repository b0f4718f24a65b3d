"""Hydra configuration helpers: every sub-command composes ``configs/<name>.yaml`` with overrides.

Every command config starts its defaults list with its structured-config schema (``<name>_schema``, the
dataclasses of :mod:`inspatio_drive.config.schema`, stored in hydra's ConfigStore by :func:`compose`), so a
misspelt key or a value of the wrong type fails at compose time with a one-line :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from inspatio_drive.config.schema import RENAMED_KEYS, SCHEMAS, register

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

_registered = False


class ConfigError(ConfigCompositionException, ValueError):
    """A config that does not compose (misspelt key, wrong type, unknown group option, bad override syntax);
    its message is one line that names the key and what was expected."""


class SettingError(ConfigError):
    """A config that composes but whose values cannot be used: a required value left unset (e.g. DrivoR without a
    checkpoint) or settings that exclude each other. One line naming the keys to set; unlike a
    :class:`ConfigError` it is not reported as a bad override."""


def compose(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with hydra ``key=value`` overrides.

    Raises:
        FileNotFoundError: if the config file does not exist.
        ConfigError: if the overrides (or the file) do not fit the config: one line naming the key and what
            was expected, e.g. ``eval.max_scenes: expected int or null, got 'abc'``; a renamed key
            (:data:`~inspatio_drive.config.schema.RENAMED_KEYS`) names the new one: ``data_root: renamed data.data_root``.
    """

    if not (CONFIG_DIR / f"{config_name}.yaml").is_file():
        raise FileNotFoundError(f"no config {config_name!r}: expected {CONFIG_DIR / (config_name + '.yaml')}")
    renamed = RENAMED_KEYS.get(config_name, {})
    for ov in overrides:
        key = _override_key(ov)
        if "=" in ov and key in renamed:
            raise ConfigError(f"{key}: renamed {renamed[key]} (one spelling in every command)")
    try:
        cfg = _compose(config_name, overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(describe_error(exc, config_name, overrides)) from exc
    extra = _keys_outside_schema(cfg, SCHEMAS.get(config_name))
    if extra:
        key, keys = extra[0]
        parent = key.rpartition(".")[0] or config_name
        text = f"{key}: unknown key (added with +key=...); {parent} has {', '.join(keys)}"
        close = difflib.get_close_matches(key.rpartition(".")[2], keys, n=1)
        if close:
            text += f" (did you mean {'.'.join(filter(None, [key.rpartition('.')[0], close[0]]))}?)"
        raise ConfigError(text)
    return cfg


def _keys_outside_schema(node: object, tp: object, prefix: str = "") -> list[tuple[str, list[str]]]:
    """``(dotted key, the keys the schema has there)`` for every key of ``node`` that its schema dataclass ``tp``
    does not declare (hydra lets ``+key=value`` add keys to a structured config; config groups typed ``Any`` are
    their own files' business)."""
    while typing.get_origin(tp) in _UNIONS:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else typing.Any
    if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or not isinstance(node, DictConfig):
        return []
    hints = typing.get_type_hints(tp)
    out: list[tuple[str, list[str]]] = []
    for key in node.keys():
        if key not in hints:
            out.append((f"{prefix}{key}", list(hints)))
        else:
            out += _keys_outside_schema(node._get_node(key), hints[key], f"{prefix}{key}.")
    return out


def _compose(config_name: str, overrides: Sequence[str]) -> DictConfig:
    global _registered

    if not _registered:

        register()
        _registered = True
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


# ------------------------------------------------------------------------------------------- error messages

_UNIONS = (typing.Union, types.UnionType)
_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _override_value(full_key: str, overrides: Sequence[str]) -> str | None:
    """The text given for ``full_key`` on the command line (the last one: hydra applies them in order)."""
    for ov in reversed(overrides):
        if "=" in ov and _override_key(ov) == full_key:
            return ov.split("=", 1)[1]
    return None


def _type_text(tp: object) -> str | None:
    """``int``, ``int or null``, ``a list of float``, ``a mapping``; None for ``Any``."""
    if tp is typing.Any:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _UNIONS:
        inner = [a for a in args if a is not type(None)]
        text = _type_text(inner[0]) if len(inner) == 1 else None
        return None if text is None else f"{text} or null"
    if origin in (list, Sequence, typing.List):  # noqa: UP006
        item = _type_text(args[0]) if args else None
        return "a list" if item is None else f"a list of {item}"
    if origin in (dict, typing.Dict) or dataclasses.is_dataclass(tp):  # noqa: UP006
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _schema_type(config_name: str, full_key: str) -> object:
    """The schema type of ``full_key`` (``a.b[0].c``) in the schema of ``config_name``, or ``Any``."""

    tp: object = SCHEMAS.get(config_name, typing.Any)
    for name, index in _KEY_PART.findall(full_key):
        while typing.get_origin(tp) in _UNIONS:  # X | None -> X
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = inner[0] if len(inner) == 1 else typing.Any
        if index:
            args = typing.get_args(tp)
            tp = args[0] if typing.get_origin(tp) in (list, typing.List) and args else typing.Any  # noqa: UP006
        elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp).get(name, typing.Any)
        else:
            return typing.Any
    return tp


def _unknown_key(full_key: str, config_name: str, overrides: Sequence[str]) -> str:
    """``a.b.c: unknown key; a.b has x, y, z (did you mean y?)`` from the config composed without that override."""

    parent, _, leaf = full_key.rpartition(".")
    rest = [ov for ov in overrides if _override_key(ov) != full_key]
    keys: list[str] = []
    try:
        node = _compose(config_name, rest)
        node = OmegaConf.select(node, parent) if parent else node
        if isinstance(node, DictConfig):
            keys = [str(k) for k in node.keys()]
    except Exception:  # the rest does not compose either: name the key only
        keys = []
    text = f"{full_key}: unknown key"
    if keys:
        text += f"; {parent or config_name} has {', '.join(keys)}"
        close = difflib.get_close_matches(leaf, keys, n=1)
        if close:
            text += f" (did you mean {'.'.join(filter(None, [parent, close[0]]))}?)"
    return text


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines()]
    keep = [
        ln
        for ln in lines
        if ln
        and not ln.startswith(
            ("See https://", "full_key:", "object_type=", "reference_type=", "Config search path")
        )
    ]
    return "; ".join(ln.rstrip(".") for ln in keep)


def describe_error(exc: BaseException, config_name: str, overrides: Sequence[str] = ()) -> str:
    """One line for a composition error: the key and what was expected (``key: expected int, got 'abc'``,
    ``key: unknown key; parent has ...``, ``group=option: no such option; choices ...``)."""

    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        return f"{group}={option}: no such option; choices: {', '.join(exc.options)}"
    cause: BaseException | None = exc
    while cause is not None and not (
        isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None)
    ):
        cause = cause.__cause__
    if cause is None:
        return _one_line(str(exc))
    full_key = str(cause.full_key)  # type: ignore[attr-defined]
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return _unknown_key(full_key, config_name, overrides)
    if isinstance(cause, ValidationError):
        listed = re.sub(r"(\[\d+\])+$", "", full_key)
        if listed != full_key and any(_override_key(ov) == listed for ov in overrides if "=" in ov):
            full_key = listed  # the whole list was given: name the list and its type
        expected = _type_text(_schema_type(config_name, full_key))
        got = _override_value(full_key, overrides)
        if got is None:
            m = re.search(r"Value '(.*)' of type", str(cause)) or re.search(
                r"value: (.*)$", str(cause).splitlines()[0]
            )
            got = m.group(1) if m else None
        if expected is not None:
            return (
                f"{full_key}: expected {expected}, got {got!r}"
                if got is not None
                else f"{full_key}: expected {expected}"
            )
    return f"{full_key}: {_one_line(str(getattr(cause, 'msg', cause)))}"


def portable_paths(value: object) -> object:
    """Replace absolute paths in (nested) metadata by their file names, so files written here carry no
    machine-specific paths (checkpoint / vocabulary metadata that is shipped or shared)."""

    if isinstance(value, dict):
        return {k: portable_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable_paths(v) for v in value)
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name
    return value
