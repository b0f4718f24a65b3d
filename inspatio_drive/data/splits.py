"""navsim's named splits (``navtest``, ``navmini``, ``navhard_two_stage``): a log folder plus a scene filter.

navsim names a split by a ``train_test_split`` config: ``data_split`` (the folder ``navsim_logs/<data_split>``)
and a scene filter (``scene_filter/<name>.yaml``: windowing, log names and scene tokens). The split files navsim
ships are copied, with their provenance, to ``configs/data_splits/<name>.yaml``::

    data_split: test
    scene_filter: {num_history_frames: 4, num_future_frames: 10, frame_interval: 1, has_route: true,
                   max_scenes: null, log_names: [...], tokens: [...]}

A two-stage split (``navhard_two_stage``) also has navsim v2's second-stage keys: ``include_synthetic_scenes``,
``reactive_synthetic_initial_tokens`` (… in the filter) and, beside the filter, ``reactive_all_mapping``: a list of
``[first-stage token, its 0.5 s earlier token, [[synthetic token, its 0.5 s earlier companion], …]]``
(:attr:`NavsimSplit.reactive_all_mapping`).

``data.split=<name>`` resolves through that file when it exists (:func:`navsim_split`): the logs are read from
``navsim_logs/<data_split>`` and the file's filter is merged with the ``data.scene_filter`` node
(:func:`merge_scene_filters`). Any other ``data.split`` is a plain folder name, as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from inspatio_drive.config import CONFIG_DIR
from inspatio_drive.data.filters import SceneFilter

__all__ = ["SPLITS_DIR", "NavsimSplit", "available_splits", "merge_scene_filters", "navsim_split", "read_split_file"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # navhard_two_stage.yaml: 6k lines, ~10x faster in C
SPLITS_DIR = CONFIG_DIR / "data_splits"
"""Folder of the navsim split files (``<name>.yaml``)."""

_LIST_KEYS = ("log_names", "tokens", "synthetic_scene_tokens", "reactive_synthetic_initial_tokens",
              "non_reactive_synthetic_initial_tokens")
_SCALAR_KEYS = ("num_history_frames", "num_future_frames", "frame_interval", "has_route")
_DEFAULTS = {f.name: f.default for f in fields(SceneFilter)}


@dataclass(frozen=True)
class NavsimSplit:
    """A named navsim split: ``navsim_logs/<data_split>`` filtered by ``scene_filter`` (SceneFilter fields);
    ``reactive_all_mapping``: the two-stage mapping as the file has it (``None`` for one-stage splits), a list of
    ``[orig_token, prev_token, [[synthetic_token, synthetic_prev_token], …]]`` (parsed by the two-stage
    aggregation, :func:`inspatio_drive.pdm.v2.two_stage.parse_mappings`)."""

    name: str
    data_split: str
    scene_filter: dict[str, Any]
    path: Path
    reactive_all_mapping: list[Any] | None = None


def available_splits(directory: str | os.PathLike[str] = SPLITS_DIR) -> list[str]:
    """Names of the shipped navsim split files."""
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))


def navsim_split(name: str, directory: str | os.PathLike[str] = SPLITS_DIR) -> NavsimSplit | None:
    """The navsim split ``name`` (``configs/data_splits/<name>.yaml``), or ``None`` when there is no such file.

    Raises:
        ValueError: the split file is not a mapping with ``data_split`` and ``scene_filter`` (file named).
    """
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = Path(directory) / f"{name}.yaml"
    if not path.is_file():
        return None
    return read_split_file(path, name)


def read_split_file(path: str | os.PathLike[str], name: str | None = None) -> NavsimSplit:
    """A navsim split file anywhere (e.g. the ``split.yaml`` that ``inspatio-drive second-stage`` writes beside its
    synthetic scenes; ``data.split_file``): ``data_split``, ``scene_filter`` and optionally ``reactive_all_mapping``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a mapping with ``data_split`` and ``scene_filter`` (file named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: split file not found (expected a navsim split YAML: data_split, scene_filter, "
                                "reactive_all_mapping)")
    name = name or str(path)
    try:
        data = yaml.load(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("data_split"), str) or not isinstance(
            data.get("scene_filter"), Mapping):
        raise ValueError(f"{path}: expected a mapping with 'data_split' (str) and 'scene_filter' (mapping)")
    scene_filter = dict(data["scene_filter"])
    SceneFilter.from_mapping(scene_filter)  # the file's keys and values are SceneFilter's
    unknown = sorted(set(data) - {"data_split", "scene_filter", "reactive_all_mapping"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; expected data_split, scene_filter, reactive_all_mapping")
    mapping = data.get("reactive_all_mapping")
    if mapping is not None and not isinstance(mapping, list):
        raise ValueError(f"{path}: reactive_all_mapping: expected a list of [orig, prev, [[token, prev_token], ...]]")
    return NavsimSplit(name, data["data_split"], scene_filter, path, mapping)


def merge_scene_filters(split: NavsimSplit, node: Mapping[str, Any]) -> dict[str, Any]:
    """The split's scene filter combined with the ``data.scene_filter`` node.

    * ``log_names`` / ``tokens``: the split's list, narrowed to the node's list when both are given (the
      node's order); either one when only one is given.
    * ``max_scenes``: the smaller of the two when both are given.
    * ``include_synthetic_scenes``: the node's when it sets it (e.g. ``false``: the first stage only without the
      synthetic scene pickles), else the split's.
    * ``num_history_frames``, ``num_future_frames``, ``frame_interval``, ``has_route``: the split's value
      where it gives one (navsim's windowing); where it gives ``null`` the node's. A node value that is not the
      default and differs from the split's is refused (a conflict, not a silent choice).

    Raises:
        ValueError: a conflicting windowing key, naming it and both values.
    """
    out = dict(node)
    for key, value in split.scene_filter.items():
        mine = node.get(key)
        if key in _LIST_KEYS:
            if value is None:
                continue
            out[key] = list(value) if mine is None else [v for v in mine if v in set(map(str, value))]
        elif key == "include_synthetic_scenes":
            out[key] = value if mine is None else mine
        elif key == "max_scenes":
            out[key] = value if mine is None else (mine if value is None else min(int(mine), int(value)))
        elif key in _SCALAR_KEYS:
            if value is None:
                continue
            if mine is not None and mine != value and mine != _DEFAULTS[key]:
                raise ValueError(f"data.scene_filter.{key}={mine!r} conflicts with navsim split {split.name!r} "
                                 f"({key}: {value!r}, {split.path})")
            out[key] = value
        else:
            out[key] = value
    return out
