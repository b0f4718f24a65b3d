"""The ``data`` node of every command (``configs/data/*.yaml``): one schema, :class:`DataConfig`, and where a
split lives: ``<data_root>/navsim_logs/<split>``, ``<data_root>/sensor_blobs/<sensor_split or split>`` and the
maps root. A null ``data_root`` with ``split: sample`` is the sandbox sample bundled with the package. A split
named by one of navsim's split files (``navtest``, ``navmini``, ``navhard_two_stage``;
:mod:`inspatio_drive.data.splits`) lives in the folder of its ``data_split`` (``test``, ``mini``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from inspatio_drive.data.splits import NavsimSplit, available_splits, navsim_split, read_split_file

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sandbox" / "sample"
"""Data root of the bundled sample (written by :func:`inspatio_drive.sandbox.sample.write_sample`)."""
SAMPLE_SPLIT = "sample"

RENAMED_DATA_KEYS: dict[str, str] = {"openscene_data_root": "data_root"}
"""Keys of the ``data`` node that were renamed (old → new); the old spelling is refused with the new name."""


def sample_root() -> Path:
    """Data root of the bundled sample (``navsim_logs/sample``, ``sensor_blobs/sample``, ``maps``)."""
    if not (SAMPLE_DIR / "navsim_logs" / SAMPLE_SPLIT).is_dir():
        raise FileNotFoundError(f"{SAMPLE_DIR}: bundled sandbox sample missing; regenerate it with "
                                "inspatio_drive.sandbox.sample.write_sample()")
    return SAMPLE_DIR


@dataclass
class DataConfig:
    """Schema of the ``data`` node (``configs/data/sample.yaml``, ``configs/data/openscene.yaml``), read by
    :func:`inspatio_drive.data.scene_loader_from_config` for every command.

    Attributes:
        data_root: OpenScene / NAVSIM root holding ``navsim_logs/`` and ``sensor_blobs/``; null with
            ``split: sample`` = the bundled sandbox sample.
        split: ``navsim_logs/<split>`` (null = the only folder under ``navsim_logs``; the bundled sample when
            ``data_root`` is null too), or a navsim split name (``navtest``, ``navmini``,
            ``navhard_two_stage``: ``configs/data_splits/<name>.yaml``) = its ``data_split`` folder + its filter.
        sensor_split: ``sensor_blobs/<sensor_split>`` when it differs from ``split``.
        maps_root: nuPlan maps root; null = ``<data_root>/maps`` (:meth:`maps_dir`; ``configs/data/openscene.yaml``
            defaults it to ``$NUPLAN_MAPS_ROOT``).
        scene_token: one scene: the scene ``pdm-score`` scores and ``render`` renders; for the commands that run a
            split (``evaluate``, ``closed-loop`` …) it keeps that scene only (``scene_filter.tokens = [scene_token]``).
        scene_filter: :class:`~inspatio_drive.data.filters.SceneFilter` fields.
        scene_filter_yaml: a navsim scene-filter YAML whose fields override ``scene_filter``.
        sensor_config: ``none`` | ``all`` | ``drivor`` | a mapping of :class:`SensorConfig` fields.
        lenient, cache_logs, io_workers, index_cache_dir, draft_size, show_progress: ``SceneLoader`` knobs.
        synthetic_scenes_path: navsim v2 synthetic scene pickles, read when ``scene_filter.include_synthetic_scenes``
            (navhard's second stage); null = ``<data_root>/<split>/synthetic_scene_pickles`` (navsim's
            ``navhard_two_stage/synthetic_scene_pickles`` for ``split: navhard_two_stage``).
        synthetic_sensor_path: their sensor blobs; null = ``<synthetic_scenes_path>/../sensor_blobs``.
        split_file: a navsim split YAML anywhere (``data_split``, ``scene_filter``, ``reactive_all_mapping``), e.g.
            the ``split.yaml`` written by ``inspatio-drive second-stage``: used instead of the split named by
            ``split`` (logs from ``navsim_logs/<data_split>``); its synthetic scenes default to
            ``<split_file folder>/synthetic_scene_pickles``.
    """

    data_root: Optional[str] = None  # noqa: UP045 - OmegaConf structured configs need Optional
    split: Optional[str] = SAMPLE_SPLIT  # noqa: UP045
    sensor_split: Optional[str] = None  # noqa: UP045
    maps_root: Optional[str] = None  # noqa: UP045
    scene_token: Optional[str] = None  # noqa: UP045
    scene_filter: dict[str, Any] = field(default_factory=dict)
    scene_filter_yaml: Optional[str] = None  # noqa: UP045
    sensor_config: Any = "none"
    lenient: bool = False
    cache_logs: int = 2
    io_workers: int = 1
    index_cache_dir: Optional[str] = None  # noqa: UP045
    draft_size: Optional[list[int]] = None  # noqa: UP045
    show_progress: bool = True
    synthetic_scenes_path: Optional[str] = None  # noqa: UP045
    synthetic_sensor_path: Optional[str] = None  # noqa: UP045
    split_file: Optional[str] = None  # noqa: UP045

    @classmethod
    def from_node(cls, node: Mapping[str, Any] | DataConfig) -> DataConfig:
        """Validate a ``data`` node (dict or hydra ``DictConfig``) against the schema.

        Raises:
            ValueError: a renamed key (the message names the new one) or an unknown key.
        """
        if isinstance(node, DataConfig):
            return node

        plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        for old, new in RENAMED_DATA_KEYS.items():
            if old in plain:
                raise ValueError(f"data.{old} was renamed: use data.{new}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(plain) - known)
        if unknown:
            raise ValueError(f"data: unknown key(s) {unknown}; expected some of {sorted(known)}")
        plain = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in plain.items()}
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), plain))  # type: ignore[return-value]

    def root(self) -> Path:
        """The data root; the bundled sample when ``data_root`` is null and ``split`` is ``sample``.

        Raises:
            ValueError: no data root for a split other than the bundled sample.
        """
        if self.data_root in (None, "", "null"):
            if self.split not in (None, SAMPLE_SPLIT):
                raise ValueError(f"data.data_root is not set for split {self.split!r} (set $OPENSCENE_DATA_ROOT "
                                 "or pass data.data_root=...)")
            return sample_root()
        return Path(str(self.data_root)).expanduser()

    def split_name(self) -> str:
        """``split``, or when it is null the only folder under ``<data_root>/navsim_logs`` (``sample`` for the
        bundled sample).

        Raises:
            FileNotFoundError: no ``navsim_logs`` folder under the data root.
            ValueError: ``split`` is null and ``navsim_logs`` holds no or several folders.
        """
        if self.split not in (None, "", "null"):
            return str(self.split)
        if self.data_root in (None, "", "null"):
            return SAMPLE_SPLIT
        logs = self.root() / "navsim_logs"
        if not logs.is_dir():
            raise FileNotFoundError(f"data.data_root: {logs} not found (expected <data_root>/navsim_logs/<split>/*.pkl)")
        splits = sorted(p.name for p in logs.iterdir() if p.is_dir())
        if len(splits) != 1:
            raise ValueError(f"data.split: not set and {logs} holds {len(splits)} split folders {splits}; "
                             "choose one with data.split=<name>")
        return splits[0]

    def navsim_split(self) -> NavsimSplit | None:
        """The navsim split of this node: ``split_file`` when set, else the split file named by ``split``
        (``configs/data_splits``), else ``None`` (a plain folder)."""
        if self.split_file not in (None, "", "null"):
            return read_split_file(Path(str(self.split_file)).expanduser())
        return navsim_split(self.split_name())

    def maps_dir(self) -> Path:
        """The nuPlan maps root: ``maps_root``, or ``<data_root>/maps`` when it is null (the one rule of every
        command; ``configs/data/openscene.yaml`` sets ``maps_root`` from ``$NUPLAN_MAPS_ROOT``)."""
        if self.maps_root not in (None, "", "null"):
            return Path(str(self.maps_root)).expanduser()
        return self.root() / "maps"


def resolve_data_paths(data: Mapping[str, Any] | DataConfig) -> tuple[Path, Path, Path]:
    """``(navsim_logs/<folder>, sensor_blobs/<sensor_split or folder>, maps_root)`` of a ``data`` node, where
    ``folder`` is ``split`` or, for a navsim split name (``navtest`` …), its ``data_split``.

    Raises:
        ValueError: a renamed / unknown key, or no data root (see :meth:`DataConfig.root`).
        FileNotFoundError: the log folder does not exist.
    """
    cfg = DataConfig.from_node(data)
    root = cfg.root()
    split = cfg.split_name()
    named = cfg.navsim_split()
    folder = split if named is None else named.data_split
    logs, blobs = root / "navsim_logs" / folder, root / "sensor_blobs" / str(cfg.sensor_split or folder)
    if not logs.is_dir():
        via = "" if named is None else f" (navsim split {split!r} reads navsim_logs/{folder}: {named.path})"
        raise FileNotFoundError(f"data: {logs} not found{via} (expected <data_root>/navsim_logs/<split>/*.pkl; "
                                f"data.data_root={root}, data.split={split}; navsim split names: "
                                f"{', '.join(available_splits())})")
    return logs, blobs, cfg.maps_dir()


def resolve_synthetic_paths(data: Mapping[str, Any] | DataConfig) -> tuple[Path, Path]:
    """``(synthetic scene pickles, their sensor blobs)`` of a ``data`` node (see :class:`DataConfig`)."""
    cfg = DataConfig.from_node(data)
    if cfg.synthetic_scenes_path:
        scenes = Path(str(cfg.synthetic_scenes_path)).expanduser()
    elif cfg.split_file not in (None, "", "null"):
        scenes = Path(str(cfg.split_file)).expanduser().parent / "synthetic_scene_pickles"
    else:
        scenes = cfg.root() / str(cfg.split) / "synthetic_scene_pickles"
    sensors = (Path(str(cfg.synthetic_sensor_path)).expanduser() if cfg.synthetic_sensor_path
               else scenes.parent / "sensor_blobs")
    return scenes, sensors
