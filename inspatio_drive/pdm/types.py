"""Plain, array-based data structures of the NAVSIM v1.1 PDM score (float64 numpy, no pickled objects).

Conventions (all *global* = UTM metres / radians, the frame of ``ego2global_translation``):

* **Ego state array** ``[..., 11]``, columns :class:`StateIndex`: ``x, y, heading`` of the rear axle (global),
  ``vx, vy, ax, ay`` in the rear-axle body frame (x forward, y left), ``steering_angle, steering_rate,
  yaw_rate, yaw_accel`` — the layout of navsim's ``pdm_enums.StateIndex``.
* **Time** in integer microseconds (``time_us``) where navsim uses ``TimePoint``; simulation and observation
  steps are 0.1 s.
* **Boxes** as 4 corner points in shapely-box exterior order (front-left, rear-left, rear-right, front-right
  for an object heading along +x), exactly what ``OrientedBox.geometry`` gives nuplan.

The :class:`MetricCache` is stored per scene as ``manifest.json`` (strings, ids, scalars, version) plus
``arrays.npz`` (numeric arrays only, read with ``allow_pickle=False``); polygons are stored as shapely ragged
arrays (coordinates + offsets), so nothing on disk can execute code when loaded.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.strtree import STRtree

from inspatio_drive.contracts.errors import InputFormatError, MetricCacheFormatError, brief_repr
from inspatio_drive.maps.layers import SemanticMapLayer
from inspatio_drive.pdm import area_numba
from inspatio_drive.pdm.linear_ref import line_locate

__all__ = [
    "AGENT_TYPES",
    "CACHE_FORMAT_VERSION",
    "OBJECT_TYPES",
    "STATIC_TYPES",
    "Centerline",
    "DrivableAreaMap",
    "MapLayer",
    "MetricCache",
    "Observation",
    "StateIndex",
]

CACHE_FORMAT_VERSION = 1
"""Version of the on-disk metric-cache format written by :meth:`MetricCache.save`."""
CACHE_FORMAT = "inspatio_drive.pdm.metric_cache"
"""``format`` field of a NAVSIM v1.1 (PDMS) metric-cache manifest."""
EPDMS_CACHE_FORMAT = "inspatio_drive.pdm.metric_cache.epdms"
"""``format`` field of a NAVSIM v2 (EPDMS) metric-cache manifest (:mod:`inspatio_drive.pdm.v2.cache`)."""


def read_manifest(path: Path) -> dict[str, Any]:
    """A cache ``manifest.json`` as a dict; a truncated / corrupt file is a ValueError naming the path."""
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricCacheFormatError(f"{path}: corrupt or truncated metric-cache manifest ({brief_repr(str(exc))})") from exc
    if not isinstance(d, dict):
        raise MetricCacheFormatError(f"{path}: corrupt metric-cache manifest (expected a JSON object)")
    return d


def read_arrays(path: Path) -> dict[str, NDArray[Any]]:
    """All arrays of a cache ``.npz`` (``allow_pickle=False``); a truncated / corrupt file is a ValueError
    naming the path."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise MetricCacheFormatError(f"{path}: corrupt or truncated metric-cache arrays ({brief_repr(str(exc))})") from exc


CORRUPT_FIELD_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, shapely.errors.GEOSException)
"""What rebuilding a cache from a manifest whose fields were altered can raise (wrapped into
:class:`MetricCacheFormatError` naming the folder by :func:`corrupt_cache_error`)."""


def corrupt_cache_error(directory: Path, exc: BaseException) -> InputFormatError:
    """One-line error naming the cache ``directory`` for an exception raised while rebuilding it from its files
    (an :class:`InputFormatError` that already names a path is returned as is)."""
    if isinstance(exc, InputFormatError):
        return exc
    what = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {brief_repr(str(exc))}"
    return MetricCacheFormatError(f"{directory}: corrupt metric cache, {what}; rebuild it")


class StateIndex(IntEnum):
    """Columns of an ego state array ``[..., 11]`` (navsim ``pdm_enums.StateIndex``)."""

    X = 0
    Y = 1
    HEADING = 2
    VELOCITY_X = 3
    VELOCITY_Y = 4
    ACCELERATION_X = 5
    ACCELERATION_Y = 6
    STEERING_ANGLE = 7
    STEERING_RATE = 8
    ANGULAR_VELOCITY = 9
    ANGULAR_ACCELERATION = 10

    @classmethod
    def size(cls) -> int:
        return len(cls)


STATE_SIZE = 11
POINT = slice(0, 2)
STATE_SE2 = slice(0, 3)
VELOCITY_2D = slice(3, 5)
ACCELERATION_2D = slice(5, 7)


OBJECT_TYPES = ("vehicle", "pedestrian", "bicycle", "traffic_cone", "barrier", "czone_sign", "generic_object")
AGENT_TYPES = frozenset({"vehicle", "pedestrian", "bicycle"})
"""nuplan ``AGENT_TYPES`` (ego excluded): an at-fault collision with these gives NC = 0, with others 0.5."""
STATIC_TYPES = frozenset(OBJECT_TYPES) - AGENT_TYPES


MapLayer = SemanticMapLayer
"""nuplan ``SemanticMapLayer`` values used by the drivable-area map (names are what is stored)."""


def _f64(name: str, value: ArrayLike, shape: tuple[int | None, ...]) -> NDArray[np.float64]:
    """Cast to float64 and check the shape (``None`` = any size); clear error naming the field."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------------------------
# Observation
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Observation:
    """Future object boxes of a scene (navsim ``PDMObservation`` after ``update_detections_tracks``).

    Attributes:
        tokens: ``[M]`` track tokens, in first-appearance order (navsim's ``unique_objects`` order).
        types: ``[M]`` object type names (:data:`OBJECT_TYPES`).
        corners: ``[M, T, 4, 2]`` global box corners per 0.1 s step (T = 51: t = 0…5 s), shapely-box exterior
            order; NaN where the object is absent at that step.
        headings: ``[M]`` box heading (rad) of the object's *first appearance* (navsim uses
            ``unique_objects[token].box.center.heading`` for the collision / TTC angle tests).
        velocities: ``[M, 2]`` global velocity (m/s) at the first appearance (0 for static objects).
        is_agent: ``[M]`` True for nuplan ``Agent`` objects (have a velocity); False for ``StaticObject``
            (always "stopped" in the collision rules).
        step_s: time step of ``corners`` (s).
    """

    tokens: list[str]
    types: list[str]
    corners: NDArray[np.float64]
    headings: NDArray[np.float64]
    velocities: NDArray[np.float64]
    is_agent: NDArray[np.bool_]
    step_s: float = 0.1
    _polygons: NDArray[np.object_] | None = field(default=None, repr=False, compare=False)
    _centroids: NDArray[np.float64] | None = field(default=None, repr=False, compare=False)
    _centroid_done: NDArray[np.bool_] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        m = len(self.tokens)
        self.tokens = [str(t) for t in self.tokens]
        self.types = [str(t) for t in self.types]
        if len(self.types) != m:
            raise ValueError(f"Observation.types: expected {m} entries, got {len(self.types)}")
        bad = sorted(set(self.types) - set(OBJECT_TYPES))
        if bad:
            raise ValueError(f"Observation.types: unknown object types {bad}; expected one of {OBJECT_TYPES}")
        self.corners = _f64("Observation.corners", self.corners, (m, None, 4, 2))
        self.headings = _f64("Observation.headings", self.headings, (m,))
        self.velocities = _f64("Observation.velocities", self.velocities, (m, 2))
        self.is_agent = np.asarray(self.is_agent, dtype=bool).reshape(m)

    @property
    def num_objects(self) -> int:
        return len(self.tokens)

    @property
    def num_steps(self) -> int:
        return int(self.corners.shape[1])

    @property
    def present(self) -> NDArray[np.bool_]:
        """``[M, T]`` True where the object exists at that step."""
        return np.isfinite(self.corners).all(axis=(-1, -2))

    @property
    def speeds(self) -> NDArray[np.float64]:
        """``[M]`` first-appearance speed (m/s)."""
        return np.hypot(self.velocities[:, 0], self.velocities[:, 1])

    @property
    def is_stopped(self) -> NDArray[np.bool_]:
        """``[M]`` nuplan ``is_track_stopped``: static objects, or agents with speed ≤ 0.05 m/s."""
        return ~self.is_agent | (self.speeds <= 5e-2)

    @property
    def is_agent_type(self) -> NDArray[np.bool_]:
        """``[M]`` type in :data:`AGENT_TYPES` (NC = 0 on an at-fault collision, else 0.5)."""
        return np.array([t in AGENT_TYPES for t in self.types], dtype=bool)

    @property
    def polygons(self) -> NDArray[np.object_]:
        """``[M, T]`` shapely polygons (None where absent), built once."""
        if self._polygons is None:
            ring = np.concatenate([self.corners, self.corners[:, :, :1]], axis=2)  # closed exterior
            polys = np.full(self.corners.shape[:2], None, dtype=object)
            mask = self.present
            if mask.any():
                polys[mask] = shapely.polygons(ring[mask])
            self._polygons = polys
        return self._polygons

    def centroids_at(self, objects: ArrayLike, steps: ArrayLike) -> NDArray[np.float64]:
        """``[N, 2]`` shapely centroids of the boxes (``objects [N]``, ``steps [N]``); each distinct box is
        computed once per observation (polygon from the same corners as :attr:`polygons`)."""
        m = np.asarray(objects, dtype=np.int64).reshape(-1)
        t = np.asarray(steps, dtype=np.int64).reshape(-1)
        if self._centroids is None:
            self._centroids = np.full((*self.corners.shape[:2], 2), np.nan)
            self._centroid_done = np.zeros(self.corners.shape[:2], dtype=bool)
        todo = ~self._centroid_done[m, t]
        if todo.any():
            key = np.unique(m[todo] * self.corners.shape[1] + t[todo])
            um, ut = np.divmod(key, self.corners.shape[1])
            box = self.corners[um, ut]
            ring = np.concatenate([box, box[:, :1]], axis=1)  # closed exterior, as in :attr:`polygons`
            self._centroids[um, ut] = shapely.get_coordinates(shapely.centroid(shapely.polygons(ring)))
            self._centroid_done[um, ut] = True
        return self._centroids[m, t]

    def to_arrays(self, prefix: str = "obs_") -> dict[str, NDArray[Any]]:
        return {
            f"{prefix}corners": self.corners,
            f"{prefix}headings": self.headings,
            f"{prefix}velocities": self.velocities,
            f"{prefix}is_agent": self.is_agent,
        }


# --------------------------------------------------------------------------------------------------------------
# Centerline
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Centerline:
    """PDM route centerline (navsim ``PDMPath``).

    Attributes:
        path: ``[N, 3]`` global (x, y, heading) discrete path, duplicated joint vertices kept (heading unwrapped
            like ``PDMPath``).
        progress: ``[N]`` cumulative arc length (m), ``progress[0] = 0``.
    """

    path: NDArray[np.float64]
    progress: NDArray[np.float64] = field(default=None)  # type: ignore[assignment]
    _linestring: shapely.LineString | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = _f64("Centerline.path", self.path, (None, 3))
        if len(self.path) < 2:
            raise ValueError(f"Centerline.path: need at least 2 points, got {len(self.path)}")
        if self.progress is None:
            self.progress = cumulative_progress(self.path[:, :2])
        self.progress = _f64("Centerline.progress", self.progress, (len(self.path),))

    @property
    def length(self) -> float:
        return float(self.progress[-1])

    @property
    def linestring(self) -> shapely.LineString:
        if self._linestring is None:
            self._linestring = shapely.linestrings(self.path[:, :2])
        return self._linestring

    def project(self, points: ArrayLike) -> NDArray[np.float64]:
        """Arc length (m) of the closest centerline point to each ``[..., 2]`` point (shapely ``project``)."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape[-1] != 2:
            raise ValueError(f"Centerline.project: expected points [..., 2], got {pts.shape}")

        return line_locate(self.path[:, :2], pts)


def cumulative_progress(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """``[N, 2]`` → ``[N]`` cumulative Euclidean arc length (navsim ``calculate_progress``)."""
    d = np.diff(xy, axis=0)
    return np.cumsum(np.append(0.0, np.linalg.norm(d.T, axis=0)), dtype=np.float64)


# --------------------------------------------------------------------------------------------------------------
# Drivable-area map
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DrivableAreaMap:
    """Drivable polygons around the ego (navsim ``PDMDrivableMap``), in navsim's index order.

    Attributes:
        tokens: ``[P]`` map object ids (str).
        layers: ``[P]`` :class:`MapLayer` names (ROADBLOCK, LANE, LANE_CONNECTOR, INTERSECTION, CARPARK_AREA…).
        polygons: ``[P]`` shapely polygons (global).
    """

    tokens: list[str]
    layers: list[str]
    polygons: NDArray[np.object_]
    _tree: STRtree | None = field(default=None, repr=False, compare=False)
    _index: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.tokens = [str(t) for t in self.tokens]
        self.layers = [MapLayer[str(x)].name if not isinstance(x, MapLayer) else x.name for x in self.layers]
        self.polygons = np.asarray(list(self.polygons), dtype=object).reshape(-1)
        if not (len(self.tokens) == len(self.layers) == len(self.polygons)):
            raise ValueError(
                f"DrivableAreaMap: tokens/layers/polygons have unequal lengths "
                f"({len(self.tokens)}/{len(self.layers)}/{len(self.polygons)})"
            )
        if len(self.polygons) and not all(isinstance(p, shapely.Polygon) for p in self.polygons):
            raise ValueError("DrivableAreaMap.polygons: every entry must be a shapely Polygon")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def tree(self) -> STRtree:
        if self._tree is None:
            self._tree = STRtree(self.polygons, node_capacity=10)
        return self._tree

    def indices_of(self, layers: list[str] | tuple[str, ...]) -> NDArray[np.int64]:
        """Indices of the polygons whose layer is in ``layers`` (navsim ``get_indices_of_map_type``)."""
        wanted = {MapLayer[x].name for x in layers}
        return np.array([i for i, x in enumerate(self.layers) if x in wanted], dtype=np.int64)

    def points_in_polygons(self, points: ArrayLike) -> NDArray[np.bool_]:
        """``[..., 2]`` points → ``[P, ...]`` containment (``shapely.contains_xy`` per polygon; boundary = out).

        Compiled ray-crossing count (:mod:`inspatio_drive.pdm.area_numba`, same decisions as shapely: uncertain
        orientations are left to shapely); :meth:`points_in_polygons_reference` is the shapely-only path.
        """

        if not area_numba.HAVE_NUMBA or not len(self.polygons):  # plain polygons: checked in __post_init__
            return self.points_in_polygons_reference(points)
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        if self._index is None:
            self._index = area_numba.PolygonIndex(self.polygons)
        out = area_numba.contains_xy_many(self._index, flat[:, 0], flat[:, 1])
        return out.reshape((len(self.polygons), *pts.shape[:-1]))

    def points_in_polygons_reference(self, points: ArrayLike) -> NDArray[np.bool_]:
        """:meth:`points_in_polygons` with ``shapely.contains_xy`` on the bounding-box candidates (reference)."""
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        x, y = flat[:, 0], flat[:, 1]
        out = np.zeros((len(self.polygons), len(flat)), dtype=bool)
        if len(self.polygons) and len(flat):
            bounds = shapely.bounds(self.polygons)
            shapely.prepare(self.polygons)  # no-op once prepared; speeds up the repeated point tests
            # only points inside a polygon's bounding box can be inside it: one vectorised test of those pairs
            poly_idx, point_idx = np.nonzero(
                (x[None] >= bounds[:, 0:1])
                & (x[None] <= bounds[:, 2:3])
                & (y[None] >= bounds[:, 1:2])
                & (y[None] <= bounds[:, 3:4])
            )
            out[poly_idx, point_idx] = shapely.contains_xy(
                self.polygons[poly_idx], x[point_idx], y[point_idx]
            )
        return out.reshape((len(self.polygons), *pts.shape[:-1]))

    def is_in_layer(self, points: ArrayLike, layer: str) -> NDArray[np.bool_]:
        """``[..., 2]`` → ``[...]``: point within some polygon of ``layer`` (navsim ``is_in_layer``, "within")."""
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        idx = self.indices_of([layer])
        out = np.zeros(len(flat), dtype=bool)
        for i in idx:
            out |= shapely.contains_xy(self.polygons[i], flat[:, 0], flat[:, 1])
        return out.reshape(pts.shape[:-1])


# --------------------------------------------------------------------------------------------------------------
# Metric cache
# --------------------------------------------------------------------------------------------------------------


@dataclass
class MetricCache:
    """Everything the PDM scorer needs for one scene (navsim v1.1 ``MetricCache`` without pickled objects).

    Attributes:
        token: scene token (token of the current frame).
        log_name: nuPlan log name.
        initial_state: ``[11]`` logged ego state at t0 (global, :class:`StateIndex`).
        initial_time_us: t0 (µs).
        trajectory_states: ``[T, 11]`` PDM-Closed trajectory (t = 0…5 s at 0.1 s, velocities zero).
        trajectory_time_us: ``[T]`` int64 time stamps of ``trajectory_states``.
        route_lane_ids: on-route lane / lane-connector ids (after navsim's route correction).
        centerline: the PDM centerline.
        drivable_area_map: drivable polygons.
        observation: future object boxes.
        route_roadblock_ids: roadblock ids of the route (informative).
        extra: JSON-serialisable metadata (map location, builder version…).
    """

    token: str
    log_name: str
    initial_state: NDArray[np.float64]
    initial_time_us: int
    trajectory_states: NDArray[np.float64]
    trajectory_time_us: NDArray[np.int64]
    route_lane_ids: list[str]
    centerline: Centerline
    drivable_area_map: DrivableAreaMap
    observation: Observation
    route_roadblock_ids: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.initial_state = _f64("MetricCache.initial_state", self.initial_state, (STATE_SIZE,))
        self.trajectory_states = _f64(
            "MetricCache.trajectory_states", self.trajectory_states, (None, STATE_SIZE)
        )
        self.trajectory_time_us = np.asarray(self.trajectory_time_us, dtype=np.int64)
        if self.trajectory_time_us.shape != (len(self.trajectory_states),):
            raise ValueError(
                f"MetricCache.trajectory_time_us: expected shape ({len(self.trajectory_states)},), "
                f"got {self.trajectory_time_us.shape}"
            )
        self.initial_time_us = int(self.initial_time_us)
        self.route_lane_ids = [str(x) for x in self.route_lane_ids]
        self.route_roadblock_ids = [str(x) for x in self.route_roadblock_ids]

    # ---------------------------------------------------------------- on-disk format
    def save(self, directory: str | Path) -> Path:
        """Write ``manifest.json`` + ``arrays.npz`` into ``directory`` (created); returns the directory."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        geom_type, coords, offsets = shapely.to_ragged_array(list(self.drivable_area_map.polygons))
        if len(self.drivable_area_map) and geom_type != shapely.GeometryType.POLYGON:
            raise ValueError(
                f"MetricCache.save: drivable-area geometries must be polygons, got {geom_type!r}"
            )
        arrays: dict[str, NDArray[Any]] = {
            "initial_state": self.initial_state,
            "trajectory_states": self.trajectory_states,
            "trajectory_time_us": self.trajectory_time_us,
            "centerline_path": self.centerline.path,
            "centerline_progress": self.centerline.progress,
            "map_coords": np.asarray(coords, dtype=np.float64).reshape(-1, 2),
            **{f"map_offsets_{i}": np.asarray(o, dtype=np.int64) for i, o in enumerate(offsets)},
            **self.observation.to_arrays(),
        }
        manifest = {
            "format": CACHE_FORMAT,
            "version": CACHE_FORMAT_VERSION,
            "token": self.token,
            "log_name": self.log_name,
            "initial_time_us": self.initial_time_us,
            "route_lane_ids": self.route_lane_ids,
            "route_roadblock_ids": self.route_roadblock_ids,
            "map_tokens": self.drivable_area_map.tokens,
            "map_layers": self.drivable_area_map.layers,
            "map_num_offsets": len(offsets),
            "obs_tokens": self.observation.tokens,
            "obs_types": self.observation.types,
            "obs_step_s": self.observation.step_s,
            "extra": self.extra,
            "arrays": sorted(arrays),
        }
        tmp = d / "arrays.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(d / "arrays.npz")
        (d / "manifest.json").write_text(json.dumps(manifest, indent=1))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> MetricCache:
        """Read a cache written by :meth:`save` (``allow_pickle=False``); clear errors for bad files."""
        d = Path(directory)
        man_path, arr_path = d / "manifest.json", d / "arrays.npz"
        for p in (man_path, arr_path):
            if not p.is_file():
                raise FileNotFoundError(f"metric cache {d}: missing {p.name}")
        manifest = read_manifest(man_path)
        if manifest.get("format") == EPDMS_CACHE_FORMAT:
            raise MetricCacheFormatError(
                f"{d}: is a NAVSIM v2 (EPDMS) metric cache; the v1.1 PDM scorer cannot use it "
                "(score with metric=epdms, or rebuild the cache with metric=pdms)"
            )
        if manifest.get("format") != CACHE_FORMAT:
            raise MetricCacheFormatError(
                f"{man_path}: field 'format' is {manifest.get('format')!r}, expected a metric cache"
            )
        if manifest.get("version") != CACHE_FORMAT_VERSION:
            raise MetricCacheFormatError(
                f"{man_path}: field 'version' is {manifest.get('version')!r}, this code reads version "
                f"{CACHE_FORMAT_VERSION}; rebuild the cache"
            )
        try:
            return cls.from_manifest(d, manifest)
        except CORRUPT_FIELD_ERRORS as exc:
            raise corrupt_cache_error(d, exc) from exc

    @classmethod
    def from_manifest(cls, directory: str | Path, manifest: dict[str, Any]) -> MetricCache:
        """The v1.1 fields of a cache folder whose ``manifest.json`` (already read and checked) is given."""
        d = Path(directory)
        arr_path = d / "arrays.npz"
        a = read_arrays(arr_path)
        missing = sorted(set(manifest["arrays"]) - set(a))
        if missing:
            raise ValueError(f"{arr_path}: missing arrays {missing}")
        offsets = tuple(a[f"map_offsets_{i}"] for i in range(manifest["map_num_offsets"]))
        if manifest["map_tokens"]:
            polygons = shapely.from_ragged_array(shapely.GeometryType.POLYGON, a["map_coords"], offsets)
        else:
            polygons = np.array([], dtype=object)
        return cls(
            token=manifest["token"],
            log_name=manifest["log_name"],
            initial_state=a["initial_state"],
            initial_time_us=manifest["initial_time_us"],
            trajectory_states=a["trajectory_states"],
            trajectory_time_us=a["trajectory_time_us"],
            route_lane_ids=manifest["route_lane_ids"],
            route_roadblock_ids=manifest["route_roadblock_ids"],
            centerline=Centerline(a["centerline_path"], a["centerline_progress"]),
            drivable_area_map=DrivableAreaMap(manifest["map_tokens"], manifest["map_layers"], polygons),
            observation=Observation(
                tokens=manifest["obs_tokens"],
                types=manifest["obs_types"],
                corners=a["obs_corners"],
                headings=a["obs_headings"],
                velocities=a["obs_velocities"],
                is_agent=a["obs_is_agent"],
                step_s=manifest["obs_step_s"],
            ),
            extra=manifest.get("extra", {}),
        )
