"""Scene filter and sensor configuration with navsim semantics (``navsim/common/dataclasses.py``, v1.1 + v2's
synthetic-scene keys).

:class:`SceneFilter` windows each log into scenes of ``num_history_frames + num_future_frames``
frames starting every ``frame_interval`` frames (default: ``num_frames``, i.e. non-overlapping); the
scene token is the token of frame ``num_history_frames - 1``. :class:`SensorConfig` says, per camera
and for the LiDAR, whether to load it at every frame (``True``), never (``False``) or only at the
listed frame indices of the scene (``[3]`` = the current frame with the default 4 history frames).

navsim v2 adds the second stage: ``include_synthetic_scenes`` makes the loader also serve synthetic scene
pickles (:mod:`inspatio_drive.data.synthetic_scenes`), selected by ``synthetic_scene_tokens`` or, without it, by
their ``corresponding_original_scene``; ``reactive_synthetic_initial_tokens`` /
``non_reactive_synthetic_initial_tokens`` name the second-stage scenes of each traffic policy and ``all_mapping``
is carried as navsim has it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union

import yaml

SensorInclude = Union[bool, list[int]]  # noqa: UP007 - kept for dataclass field introspection
_HYDRA_KEYS = frozenset({"_target_", "_convert_", "_recursive_", "_partial_"})
_TOKEN_LIST_KEYS = ("log_names", "tokens", "synthetic_scene_tokens", "reactive_synthetic_initial_tokens",
                    "non_reactive_synthetic_initial_tokens")


@dataclass
class SceneFilter:
    """Which scenes a :class:`~inspatio_drive.data.loader.SceneLoader` yields (navsim ``SceneFilter``).

    Attributes:
        num_history_frames: frames up to and including the current one (>= 1), default 4 (−1.5 … 0 s).
        num_future_frames: frames after the current one (>= 0), default 10 (0.5 … 5.0 s).
        frame_interval: stride between window starts; ``None`` → ``num_frames`` (non-overlapping).
        has_route: drop scenes whose current frame has no route ``roadblock_ids``.
        max_scenes: stop after this many scenes (in log order).
        log_names: only these logs (file name without ``.pkl``); also filters synthetic scenes by log.
        tokens: only these scene tokens.
        include_synthetic_scenes: also serve synthetic scene pickles (navsim v2 second stage).
        all_mapping: navsim's first-stage → second-stage token mapping, carried unchanged (navsim reads the split's
            ``reactive_all_mapping`` instead: :class:`~inspatio_drive.data.splits.NavsimSplit`).
        synthetic_scene_tokens: only these synthetic scenes (``initial_token``), related to a loaded scene or not.
        reactive_synthetic_initial_tokens / non_reactive_synthetic_initial_tokens: the second-stage scenes scored
            with reactive / non-reactive traffic (``SceneLoader.reactive_tokens_stage_two`` …).
    """

    num_history_frames: int = 4
    num_future_frames: int = 10
    frame_interval: int | None = None
    has_route: bool = True
    max_scenes: int | None = None
    log_names: list[str] | None = None
    tokens: list[str] | None = None
    include_synthetic_scenes: bool = False
    all_mapping: Any = None
    synthetic_scene_tokens: list[str] | None = None
    reactive_synthetic_initial_tokens: list[str] | None = None
    non_reactive_synthetic_initial_tokens: list[str] | None = None

    def __post_init__(self) -> None:
        if self.frame_interval is None:
            self.frame_interval = self.num_frames
        if not isinstance(self.num_history_frames, int) or self.num_history_frames < 1:
            raise ValueError(f"SceneFilter.num_history_frames must be an int >= 1, got {self.num_history_frames!r}")
        if not isinstance(self.num_future_frames, int) or self.num_future_frames < 0:
            raise ValueError(f"SceneFilter.num_future_frames must be an int >= 0, got {self.num_future_frames!r}")
        if not isinstance(self.frame_interval, int) or self.frame_interval < 1:
            raise ValueError(f"SceneFilter.frame_interval must be an int >= 1 or None, got {self.frame_interval!r}")
        if self.max_scenes is not None and self.max_scenes < 1:
            raise ValueError(f"SceneFilter.max_scenes must be >= 1 or None, got {self.max_scenes!r}")
        if not isinstance(self.include_synthetic_scenes, bool):
            raise ValueError(f"SceneFilter.include_synthetic_scenes must be a bool, got {self.include_synthetic_scenes!r}")
        for name in _TOKEN_LIST_KEYS:
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"SceneFilter.{name} must be a list of str, got the single string {value!r}")
            if value is not None:
                setattr(self, name, [str(v) for v in value])
        if not self.include_synthetic_scenes and self.synthetic_scene_tokens:
            warnings.warn("SceneFilter: synthetic_scene_tokens are given but include_synthetic_scenes is false: no "
                          "synthetic scene will be loaded", stacklevel=2)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> SceneFilter:
        """Read a navsim scene-filter YAML (e.g. navsim's ``train_test_split/scene_filter/navtest.yaml``)."""

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping of SceneFilter fields, got {type(data).__name__}")
        try:
            return cls.from_mapping(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @property
    def num_frames(self) -> int:
        """Frames per scene: ``num_history_frames + num_future_frames``."""
        return self.num_history_frames + self.num_future_frames

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> SceneFilter:
        """Build from a dict / hydra config node (navsim's keys, v2's synthetic-scene keys included). Hydra's
        ``_target_`` / ``_convert_`` keys are ignored; any other unknown key is an error."""
        known = {f.name for f in fields(cls)}
        cfg = {k: v for k, v in cfg.items() if k not in _HYDRA_KEYS}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"SceneFilter: unknown key(s) {unknown}; expected some of {sorted(known)}")
        values = {k: (list(v) if k != "all_mapping" and isinstance(v, Iterable) and not isinstance(v, str | Mapping) else v)
                  for k, v in cfg.items()}
        return cls(**values)


def _check_include(name: str, value: Any) -> SensorInclude:
    if isinstance(value, bool):
        return value
    if isinstance(value, Iterable) and not isinstance(value, str):
        items = list(value)
        if all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items):
            return items
    raise ValueError(f"SensorConfig.{name} must be a bool or a list of frame indices >= 0, got {value!r}")


@dataclass
class SensorConfig:
    """Per-sensor loading spec (navsim ``SensorConfig``): ``bool`` = every frame or none, ``list[int]`` =
    only those frame indices of the scene (0 = oldest history frame)."""

    cam_f0: SensorInclude
    cam_l0: SensorInclude
    cam_l1: SensorInclude
    cam_l2: SensorInclude
    cam_r0: SensorInclude
    cam_r1: SensorInclude
    cam_r2: SensorInclude
    cam_b0: SensorInclude
    lidar_pc: SensorInclude

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _check_include(f.name, getattr(self, f.name)))

    def get_sensors_at_iteration(self, iteration: int) -> list[str]:
        """Sensor identifiers (``cam_f0`` … ``cam_b0``, ``lidar_pc``) to load at scene frame ``iteration``."""
        out = []
        for f in fields(self):
            include = getattr(self, f.name)
            if include is True or (isinstance(include, list) and iteration in include):
                out.append(f.name)
        return out

    @property
    def any_sensor(self) -> bool:
        """Whether any sensor is ever loaded."""
        return any(getattr(self, f.name) not in (False, []) for f in fields(self))

    @classmethod
    def build_all_sensors(cls, include: SensorInclude = True) -> SensorConfig:
        """Every sensor with the same spec (default: every frame)."""
        return cls(**{f.name: (list(include) if isinstance(include, list) else include) for f in fields(cls)})

    @classmethod
    def build_no_sensors(cls) -> SensorConfig:
        """No sensor at all (metadata only)."""
        return cls.build_all_sensors(include=False)

    @classmethod
    def build_drivor(cls, current_index: int = 3) -> SensorConfig:
        """DrivoR's inputs (``drivoR.yaml``): ``CAM_F0, CAM_L0, CAM_R0, CAM_B0`` at the current frame only, no LiDAR."""
        cur = [current_index]
        return cls(cam_f0=cur, cam_l0=cur, cam_l1=[], cam_l2=[], cam_r0=list(cur), cam_r1=[], cam_r2=[], cam_b0=list(cur), lidar_pc=[])

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any] | str) -> SensorConfig:
        """From ``"all"`` / ``"none"`` / ``"drivor"`` or a dict of the nine fields (missing ones = ``False``)."""
        if isinstance(cfg, str):
            builders = {"all": cls.build_all_sensors, "none": cls.build_no_sensors, "drivor": cls.build_drivor}
            if cfg not in builders:
                raise ValueError(f"SensorConfig: unknown preset {cfg!r}; expected one of {sorted(builders)} or a mapping")
            return builders[cfg]()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"SensorConfig: unknown key(s) {unknown}; expected some of {sorted(known)}")
        return cls(**{name: cfg.get(name, False) for name in known})
