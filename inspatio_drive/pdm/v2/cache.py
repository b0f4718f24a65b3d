"""NAVSIM v2 (EPDMS) metric cache: the v1.1 fields plus what the extended score needs (plain arrays, no pickles).

navsim v2.2's ``MetricCache`` (``metric_cache.py:29-57``, ``MetricCacheProcessor.compute_metric_cache``) keeps the
v1.1 content (PDM-Closed trajectory, centerline, drivable-area map, route lanes, logged ego state) and changes or
adds:

* the observation covers **41** steps (t = 0 … 4 s at 0.1 s; v1.1: 51);
* red-light polygons per step: every RED traffic light of the frames t0 … t0 + 4 s whose lane connector is an
  interior lane of the *logged* route roadblocks, as that connector's polygon (token ``red_light_<id>``), each
  2 Hz status held for the 5 steps that follow it;
* ``timepoint`` (µs), ``scene_type`` (``ORIGINAL``, or ``SYNTHETIC`` when the token has 17 characters),
  the logged human future (8 poses at 0.5 s in the current rear-axle frame; ``None`` for synthetic scenes),
  the human past (ego states of the history frames t = −1.5 … 0 s, global), and the past / current / future
  tracked objects (here: the history frames' boxes, and the observation's per-step box states).

Stored as a folder: ``manifest.json`` with ``format`` :data:`~inspatio_drive.pdm.types.EPDMS_CACHE_FORMAT`, the
v1.1 ``arrays.npz``, and ``epdms.npz`` with the v2 arrays. A v1.1 cache folder given to :meth:`EPDMSCache.load`
(and a v2 folder given to :meth:`MetricCache.load`) is refused with a one-line message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts.errors import MetricCacheFormatError
from inspatio_drive.pdm.types import (
    CACHE_FORMAT,
    CORRUPT_FIELD_ERRORS,
    EPDMS_CACHE_FORMAT,
    STATE_SIZE,
    MetricCache,
    corrupt_cache_error,
    read_arrays,
    read_manifest,
)

__all__ = [
    "EPDMS_BUILDER_VERSION",
    "EPDMS_CACHE_VERSION",
    "NUM_STEPS",
    "ORIGINAL",
    "RED_LIGHT_PREFIX",
    "SYNTHETIC",
    "EPDMSCache",
    "RedLights",
    "scene_type_of_token",
]

EPDMS_CACHE_VERSION = 1
EPDMS_BUILDER_VERSION = "navsim-v2.2/1"
"""Semantics version of the v2 builder, stored in every v2 cache entry and store manifest."""
"""Version of the on-disk EPDMS cache format written by :meth:`EPDMSCache.save`."""
NUM_STEPS = 41
"""Observation / simulation steps of the v2 scorer (t = 0 … 4 s at 0.1 s)."""
ORIGINAL, SYNTHETIC = "ORIGINAL", "SYNTHETIC"
RED_LIGHT_PREFIX = "red_light"
TRACK_ARRAYS = ("centers", "headings", "sizes", "velocities")
SYNTHETIC_TOKEN_LENGTH = 17


def scene_type_of_token(token: str) -> str:
    """navsim's rule (``MCP:317``): a 17-character token is a synthetic (stage-2) scene, any other is original."""
    return SYNTHETIC if len(str(token)) == SYNTHETIC_TOKEN_LENGTH else ORIGINAL


@dataclass
class RedLights:
    """Red on-route lane connectors per observation step.

    Attributes:
        connector_ids: ``[R]`` lane-connector ids (token in navsim: ``red_light_<id>``).
        polygons: ``[R]`` shapely polygons (global) of the connectors.
        active: ``[R, T]`` bool, True where the connector is red at that 0.1 s step.
    """

    connector_ids: list[str]
    polygons: NDArray[np.object_]
    active: NDArray[np.bool_]

    def __post_init__(self) -> None:
        self.connector_ids = [str(c) for c in self.connector_ids]
        self.polygons = np.asarray(list(self.polygons), dtype=object).reshape(-1)
        r = len(self.connector_ids)
        self.active = np.asarray(self.active, dtype=bool).reshape(r, -1) if r else np.zeros((0, NUM_STEPS), bool)
        if len(self.polygons) != r:
            raise ValueError(f"RedLights: {r} connector ids but {len(self.polygons)} polygons")

    @property
    def tokens(self) -> list[str]:
        return [f"{RED_LIGHT_PREFIX}_{c}" for c in self.connector_ids]

    def __len__(self) -> int:
        return len(self.connector_ids)


@dataclass
class EPDMSCache:
    """Everything the EPDMS scorer needs for one scene.

    Attributes:
        base: the v1.1 content (:class:`MetricCache`) with a 41-step observation.
        timepoint_us: time of the current frame (µs; navsim ``timepoint``).
        scene_type: :data:`ORIGINAL` or :data:`SYNTHETIC`.
        human_trajectory: ``[8, 3]`` logged future poses (x, y, heading) at t = 0.5 … 4 s in the current
            rear-axle frame, or ``None`` (synthetic scenes, or logs without enough future frames).
        past_time_us: ``[H]`` times of the history frames (oldest first, the last = ``timepoint_us``).
        past_states: ``[H, 11]`` logged global ego states at ``past_time_us`` (:class:`StateIndex` layout).
        red_lights: red on-route connectors per step.
        past_tracks: tracked objects of the history frames before the current one, one dict per frame
            (``tokens``, ``types``, ``centers [N, 2]``, ``headings [N]``, ``sizes [N, 3]``, ``velocities [N, 2]``,
            global); informative (navsim ``past_detections_tracks``), not used by the scorer.
        current_tracks: the current frame's tracked objects in the same form (navsim ``current_tracked_objects``;
            the reactive policy starts its IDM vehicles from them). Future tracked objects are the observation's
            steps 1 … 40.
        extra: JSON metadata (builder version, map parameters…).
    """

    base: MetricCache
    timepoint_us: int
    scene_type: str
    human_trajectory: NDArray[np.float64] | None
    past_time_us: NDArray[np.int64]
    past_states: NDArray[np.float64]
    red_lights: RedLights
    past_tracks: list[dict[str, Any]] = field(default_factory=list)
    current_tracks: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.timepoint_us = int(self.timepoint_us)
        if self.scene_type not in (ORIGINAL, SYNTHETIC):
            raise ValueError(f"EPDMSCache.scene_type: expected {ORIGINAL} or {SYNTHETIC}, got {self.scene_type!r}")
        if self.human_trajectory is not None:
            self.human_trajectory = np.asarray(self.human_trajectory, dtype=np.float64)
            if self.human_trajectory.ndim != 2 or self.human_trajectory.shape[1] != 3:
                raise ValueError(
                    f"EPDMSCache.human_trajectory: expected [P, 3], got {self.human_trajectory.shape}"
                )
        self.past_time_us = np.asarray(self.past_time_us, dtype=np.int64).reshape(-1)
        self.past_states = np.asarray(self.past_states, dtype=np.float64)
        if self.past_states.shape != (len(self.past_time_us), STATE_SIZE):
            raise ValueError(
                f"EPDMSCache.past_states: expected [{len(self.past_time_us)}, {STATE_SIZE}], "
                f"got {self.past_states.shape}"
            )
        steps = self.base.observation.num_steps
        if steps != NUM_STEPS:
            raise ValueError(f"EPDMSCache.base.observation: expected {NUM_STEPS} steps (t = 0…4 s), got {steps}")
        if len(self.red_lights) and self.red_lights.active.shape[1] != NUM_STEPS:
            raise ValueError(
                f"EPDMSCache.red_lights.active: expected [R, {NUM_STEPS}], got {self.red_lights.active.shape}"
            )

    # ------------------------------------------------------------------ convenience
    @property
    def token(self) -> str:
        return self.base.token

    @property
    def log_name(self) -> str:
        return self.base.log_name

    @property
    def time_s(self) -> float:
        return self.timepoint_us * 1e-6

    # ------------------------------------------------------------------ on-disk format
    def save(self, directory: str | Path) -> Path:
        """Write the folder (v1.1 ``arrays.npz`` + ``epdms.npz`` + one ``manifest.json``); returns it."""
        d = self.base.save(directory)
        manifest = read_manifest(d / "manifest.json")
        rl = self.red_lights
        arrays: dict[str, NDArray[Any]] = {
            "past_time_us": self.past_time_us,
            "past_states": self.past_states,
            "red_light_active": rl.active,
        }
        if self.human_trajectory is not None:
            arrays["human_trajectory"] = self.human_trajectory
        if len(rl):
            _, coords, offsets = shapely.to_ragged_array(list(rl.polygons))
            arrays["red_light_coords"] = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
            arrays.update({f"red_light_offsets_{i}": np.asarray(o, dtype=np.int64) for i, o in enumerate(offsets)})
            n_offsets = len(offsets)
        else:
            n_offsets = 0
        for i, frame in enumerate(self.past_tracks):
            for key in TRACK_ARRAYS:
                arrays[f"past_tracks_{i}_{key}"] = np.asarray(frame[key], dtype=np.float64)
        if self.current_tracks is not None:
            for key in TRACK_ARRAYS:
                arrays[f"current_tracks_{key}"] = np.asarray(self.current_tracks[key], dtype=np.float64)
        np.savez(d / "epdms.tmp.npz", **arrays)
        (d / "epdms.tmp.npz").replace(d / "epdms.npz")
        manifest.update(
            {
                "format": EPDMS_CACHE_FORMAT,
                "version": EPDMS_CACHE_VERSION,
                "epdms": {
                    "timepoint_us": self.timepoint_us,
                    "scene_type": self.scene_type,
                    "has_human_trajectory": self.human_trajectory is not None,
                    "red_light_connector_ids": rl.connector_ids,
                    "red_light_num_offsets": n_offsets,
                    "past_tracks": [
                        {"tokens": list(map(str, f["tokens"])), "types": list(map(str, f["types"]))}
                        for f in self.past_tracks
                    ],
                    "current_tracks": None
                    if self.current_tracks is None
                    else {
                        "tokens": list(map(str, self.current_tracks["tokens"])),
                        "types": list(map(str, self.current_tracks["types"])),
                    },
                    "extra": self.extra,
                    "arrays": sorted(arrays),
                },
            }
        )
        (d / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> EPDMSCache:
        """Read a folder written by :meth:`save`; a v1.1 cache, a corrupt or truncated file is a ValueError
        naming the path."""
        d = Path(directory)
        man_path = d / "manifest.json"
        for name in ("manifest.json", "arrays.npz"):
            if not (d / name).is_file():
                raise FileNotFoundError(f"metric cache {d}: missing {name}")
        manifest = read_manifest(man_path)
        fmt = manifest.get("format")
        if fmt == CACHE_FORMAT:
            raise MetricCacheFormatError(
                f"{d}: is a NAVSIM v1.1 (PDMS) metric cache; the EPDMS scorer needs a v2 cache "
                "(rebuild it with metric-cache metric=epdms)"
            )
        if fmt != EPDMS_CACHE_FORMAT:
            raise MetricCacheFormatError(f"{man_path}: field 'format' is {fmt!r}, expected {EPDMS_CACHE_FORMAT!r}")
        if manifest.get("version") != EPDMS_CACHE_VERSION:
            raise MetricCacheFormatError(
                f"{man_path}: field 'version' is {manifest.get('version')!r}, this code reads version "
                f"{EPDMS_CACHE_VERSION}; rebuild the cache"
            )
        if not (d / "epdms.npz").is_file():
            raise FileNotFoundError(f"metric cache {d}: missing epdms.npz")
        try:
            meta = manifest["epdms"]
            base = MetricCache.from_manifest(d, manifest)
            a = read_arrays(d / "epdms.npz")
            missing = sorted(set(meta["arrays"]) - set(a))
            if missing:
                raise MetricCacheFormatError(f"{d / 'epdms.npz'}: missing arrays {missing}")
            ids = meta["red_light_connector_ids"]
            if ids:
                offsets = tuple(a[f"red_light_offsets_{i}"] for i in range(meta["red_light_num_offsets"]))
                polys = shapely.from_ragged_array(shapely.GeometryType.POLYGON, a["red_light_coords"], offsets)
            else:
                polys = np.array([], dtype=object)
            past_tracks = [
                {"tokens": f["tokens"], "types": f["types"], **{k: a[f"past_tracks_{i}_{k}"] for k in TRACK_ARRAYS}}
                for i, f in enumerate(meta["past_tracks"])
            ]
            cur = meta.get("current_tracks")
            current_tracks = (
                None
                if cur is None
                else {"tokens": cur["tokens"], "types": cur["types"], **{k: a[f"current_tracks_{k}"] for k in TRACK_ARRAYS}}
            )
            return cls(
                base=base,
                timepoint_us=meta["timepoint_us"],
                scene_type=meta["scene_type"],
                human_trajectory=a["human_trajectory"] if meta["has_human_trajectory"] else None,
                past_time_us=a["past_time_us"],
                past_states=a["past_states"],
                red_lights=RedLights(ids, polys, a["red_light_active"]),
                past_tracks=past_tracks,
                current_tracks=current_tracks,
                extra=meta.get("extra", {}),
            )
        except CORRUPT_FIELD_ERRORS as exc:
            raise corrupt_cache_error(d, exc) from exc


def as_epdms_cache(cache: object, what: str = "metric cache") -> EPDMSCache:
    """``cache`` if it is an :class:`EPDMSCache`; a v1.1 :class:`MetricCache` is refused with a clear message."""
    if isinstance(cache, EPDMSCache):
        return cache
    if isinstance(cache, MetricCache):
        raise TypeError(
            f"{what} of scene {cache.token} is a NAVSIM v1.1 (PDMS) metric cache; the EPDMS scorer needs a v2 "
            "cache (build it with metric-cache metric=epdms)"
        )
    raise TypeError(f"{what}: expected an EPDMSCache, got {type(cache).__name__}")


def poses_array(value: ArrayLike, name: str) -> NDArray[np.float64]:
    """``[K, P, 3]`` float64 poses (a single ``[P, 3]`` plan becomes K = 1); clear error otherwise."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected [K, P, 3] (x, y, heading) with K >= 1, got {arr.shape}")
    return arr
