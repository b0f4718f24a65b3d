"""Fake nuplan classes for writing navsim synthetic scene pickles in tests, without nuplan.

Each class mirrors the pickled layout of its nuplan namesake (module and class name exactly nuplan's; the same
attributes in constructor order, ``__slots__`` in declaration order, dataclass / Enum kinds), written here from
nuplan-devkit's declarations, plus the read-only properties navsim reads (``box.center.x``, ``track_token``,
``tracked_object_type``, ``velocity`` …). The modules are put into ``sys.modules`` only while pickling
(:func:`write_pickle`) or loading "as navsim would" (:func:`nuplan_modules`) and removed afterwards, so that a test
loading the file with the project's reader proves it never imports them.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any

import numpy as np
import shapely

_A = "nuplan.common.actor_state"
MODULES = {
    "state_representation": f"{_A}.state_representation",
    "oriented_box": f"{_A}.oriented_box",
    "scene_object": f"{_A}.scene_object",
    "agent": f"{_A}.agent",
    "static_object": f"{_A}.static_object",
    "tracked_objects": f"{_A}.tracked_objects",
    "tracked_objects_types": f"{_A}.tracked_objects_types",
    "observation_type": "nuplan.planning.simulation.observation.observation_type",
    "maps_datatypes": "nuplan.common.maps.maps_datatypes",
}


def _home(cls: type, key: str) -> type:
    cls.__module__ = MODULES[key]
    return cls


@dataclass
class Point2D:
    x: float
    y: float
    __slots__ = "x", "y"


@dataclass
class StateSE2(Point2D):
    heading: float
    __slots__ = "heading"


class StateVector2D:
    __slots__ = "_x", "_y", "_array"  # noqa: RUF023 - nuplan's order: the pickled slot state follows it

    def __init__(self, x: float, y: float) -> None:
        self._x, self._y = x, y
        self._array = np.array([x, y], dtype=np.float64)

    @property
    def x(self) -> float:
        return self._x

    @property
    def y(self) -> float:
        return self._y


@dataclass
class TimePoint:
    time_us: int
    __slots__ = "time_us"


class OrientedBox:
    def __init__(self, center: StateSE2, length: float, width: float, height: float, cache_geometry: bool = False) -> None:
        self._center, self._length, self._width, self._height = center, length, width, height
        if cache_geometry:  # nuplan's cached_property lands in __dict__ once used
            self.geometry = shapely.Polygon([(center.x, center.y), (center.x + length, center.y), (center.x, center.y + width)])

    @property
    def center(self) -> StateSE2:
        return self._center

    @property
    def length(self) -> float:
        return self._length

    @property
    def width(self) -> float:
        return self._width

    @property
    def height(self) -> float:
        return self._height


class TrackedObjectType(Enum):
    VEHICLE = 0, "vehicle"
    PEDESTRIAN = 1, "pedestrian"
    BICYCLE = 2, "bicycle"
    TRAFFIC_CONE = 3, "traffic_cone"
    BARRIER = 4, "barrier"
    CZONE_SIGN = 5, "czone_sign"
    GENERIC_OBJECT = 6, "generic_object"
    EGO = 7, "ego"

    def __new__(cls, value: int, name: str) -> TrackedObjectType:
        member = object.__new__(cls)
        member._value_ = value
        member.fullname = name
        return member


AGENT_TYPES = {TrackedObjectType.VEHICLE, TrackedObjectType.PEDESTRIAN, TrackedObjectType.BICYCLE, TrackedObjectType.EGO}
BY_NAME = {t.fullname: t for t in TrackedObjectType}


@dataclass(frozen=True)
class SceneObjectMetadata:
    timestamp_us: int
    token: str
    track_id: int | None
    track_token: str | None
    category_name: str | None = None


class SceneObject:
    def __init__(self, tracked_object_type: TrackedObjectType, oriented_box: OrientedBox, metadata: SceneObjectMetadata) -> None:
        self._metadata = metadata
        self.instance_token = None
        self._tracked_object_type = tracked_object_type
        self._box = oriented_box

    # the read-only properties navsim / nuplan read (nuplan's SceneObject)
    @property
    def metadata(self) -> SceneObjectMetadata:
        return self._metadata

    @property
    def token(self) -> str:
        return self._metadata.token

    @property
    def track_token(self) -> str | None:
        return self._metadata.track_token

    @property
    def tracked_object_type(self) -> TrackedObjectType:
        return self._tracked_object_type

    @property
    def box(self) -> OrientedBox:
        return self._box

    @property
    def center(self) -> StateSE2:
        return self._box.center


class Agent(SceneObject):
    def __init__(self, tracked_object_type: TrackedObjectType, oriented_box: OrientedBox, velocity: StateVector2D,
                 metadata: SceneObjectMetadata) -> None:
        self._initial_time_stamp = TimePoint(metadata.timestamp_us)
        self._predictions: list[Any] = []  # nuplan's predictions setter stores [] for None
        self._past_trajectory = None
        super().__init__(tracked_object_type, oriented_box, metadata)
        self._velocity = velocity
        self._angular_velocity = None

    @property
    def velocity(self) -> StateVector2D:
        return self._velocity


class StaticObject(SceneObject):
    def __init__(self, tracked_object_type: TrackedObjectType, oriented_box: OrientedBox, metadata: SceneObjectMetadata) -> None:
        super().__init__(tracked_object_type, oriented_box, metadata)
        self.predictions = None
        self.past_trajectory = None
        self.velocity = StateVector2D(0.0, 0.0)


class TrackedObjects:
    def __init__(self, tracked_objects: list[Any], cache_ranges: bool = False) -> None:
        self.tracked_objects = sorted(tracked_objects, key=lambda a: a._tracked_object_type.value)
        if cache_ranges:  # nuplan's cached _ranges_per_type (dict keyed by the enum)
            self._ranges_per_type = {t: (0, 0) for t in TrackedObjectType}


@dataclass
class DetectionsTracks:
    tracked_objects: TrackedObjects


class TrafficLightStatusType(IntEnum):
    GREEN = 0
    YELLOW = 1
    RED = 2
    UNKNOWN = 3


@dataclass
class TrafficLightStatusData:
    status: TrafficLightStatusType
    lane_connector_id: int
    timestamp: int


@dataclass
class TrafficLightStatuses:
    traffic_lights: list[TrafficLightStatusData]


_CLASSES = {
    "state_representation": (Point2D, StateSE2, StateVector2D, TimePoint),
    "oriented_box": (OrientedBox,),
    "scene_object": (SceneObjectMetadata, SceneObject),
    "agent": (Agent,),
    "static_object": (StaticObject,),
    "tracked_objects": (TrackedObjects,),
    "tracked_objects_types": (TrackedObjectType,),
    "observation_type": (DetectionsTracks,),
    "maps_datatypes": (TrafficLightStatusType, TrafficLightStatusData, TrafficLightStatuses),
}
for _key, _classes in _CLASSES.items():
    for _cls in _classes:
        _home(_cls, _key)


@contextmanager
def nuplan_modules(extra: tuple[type, ...] = ()):
    """Register the fake nuplan modules (and their parent packages) in ``sys.modules`` for pickling only;
    ``extra``: further classes, registered under their own ``__module__``."""
    added = []
    homes = [(MODULES[key], cls) for key, classes in _CLASSES.items() for cls in classes]
    homes += [(cls.__module__, cls) for cls in extra]
    try:
        for name, cls in homes:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                mod = ".".join(parts[:i])
                if mod not in sys.modules:
                    sys.modules[mod] = types.ModuleType(mod)
                    added.append(mod)
            setattr(sys.modules[name], cls.__name__, cls)
        yield
    finally:
        for mod in added:
            sys.modules.pop(mod, None)


def write_pickle(path: Path, payload: Any, extra: tuple[type, ...] = ()) -> Path:
    """Pickle ``payload`` (navsim's ``save_to_disk`` protocol) with the fake nuplan modules registered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with nuplan_modules(extra):
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    assert not any(m == "nuplan" or m.startswith("nuplan.") for m in sys.modules)
    path.write_bytes(data)
    return path


def detections_tracks(rows: list[dict[str, Any]], cache: bool = False) -> DetectionsTracks:
    """``rows``: per object ``type`` (name), ``x, y, heading, length, width, height, vx, vy`` (global),
    ``token``, ``track_token``, ``timestamp_us``."""
    objects = []
    for i, r in enumerate(rows):
        otype = BY_NAME[r["type"]]
        box = OrientedBox(StateSE2(r["x"], r["y"], r["heading"]), r["length"], r["width"], r["height"], cache and i == 0)
        meta = SceneObjectMetadata(r["timestamp_us"], token=r["token"], track_id=None, track_token=r["track_token"])
        if otype in AGENT_TYPES:
            objects.append(Agent(otype, box, StateVector2D(r["vx"], r["vy"]), meta))
        else:
            objects.append(StaticObject(otype, box, meta))
    return DetectionsTracks(TrackedObjects(objects, cache_ranges=cache))


def traffic_light_statuses(lights: list[tuple[int, int]], timestamp: int) -> TrafficLightStatuses:
    """``lights``: (lane connector id, status value 0 … 3)."""
    return TrafficLightStatuses([TrafficLightStatusData(TrafficLightStatusType(s), lc, timestamp) for lc, s in lights])


def global_rows(frame: Any) -> list[dict[str, Any]]:
    """A project :class:`Frame`'s annotation boxes made global by its ego pose (navsim's
    ``annotations_to_detection_tracks``, written out here), as :func:`detections_tracks` rows."""
    ann = frame.annotations
    x0, y0, h0 = (float(v) for v in frame.ego_status.ego_pose)
    c, s = np.cos(h0), np.sin(h0)
    rows = []
    for i, box in enumerate(np.asarray(ann.boxes, np.float64)):
        vx, vy = np.asarray(ann.velocity_3d, np.float64)[i, :2]
        heading = float(np.arctan2(np.sin(box[6] + h0), np.cos(box[6] + h0)))
        rows.append({"type": str(ann.names[i]), "x": x0 + c * box[0] - s * box[1], "y": y0 + s * box[0] + c * box[1],
                     "heading": heading, "length": float(box[3]), "width": float(box[4]), "height": float(box[5]),
                     "vx": float(c * vx - s * vy), "vy": float(s * vx + c * vy), "token": str(ann.instance_tokens[i]),
                     "track_token": str(ann.track_tokens[i]), "timestamp_us": int(frame.timestamp)})
    return rows


def frame_payload(frame: Any, token: str | None = None) -> dict[str, Any]:
    """A project :class:`Frame` in navsim's ``save_to_disk`` frame layout (no sensors: ``camera_dict`` of ``{}``)."""
    return {
        "token": token or frame.token,
        "timestamp": int(frame.timestamp),
        "roadblock_ids": list(frame.roadblock_ids),
        "traffic_lights": [(int(a), bool(b)) for a, b in frame.traffic_lights],
        "annotations": asdict(frame.annotations),
        "ego_status": asdict(frame.ego_status),
        "lidar_path": None,
        "camera_dict": {k: {} for k in ("cam_f0", "cam_l0", "cam_l1", "cam_l2", "cam_r0", "cam_r1", "cam_r2", "cam_b0")},
    }


def synthetic_payload(scene: Any, token: str, num_history: int, num_extended: int, original_final: str,
                      light_status: dict[int, int] | None = None, cache: bool = False) -> dict[str, Any]:
    """The first ``num_history`` frames of a project :class:`Scene` as a navsim synthetic scene (current frame
    renamed ``token``), the next ``num_extended`` frames as ``extended_detections_tracks`` (global boxes) and
    ``extended_traffic_light_data`` (``light_status``: lane connector → status value; default: the frame's is_red
    → RED / GREEN)."""
    cur = num_history - 1
    frames = [frame_payload(f, token if i == cur else None) for i, f in enumerate(scene.frames[:num_history])]
    later = scene.frames[num_history:num_history + num_extended]
    assert len(later) == num_extended
    lights = []
    for f in later:
        statuses = [(int(lc), (light_status or {}).get(int(lc), 2 if red else 0)) for lc, red in f.traffic_lights]
        lights.append(traffic_light_statuses(statuses, int(f.timestamp)))
    meta = {"log_name": scene.scene_metadata.log_name, "scene_token": token, "map_name": scene.scene_metadata.map_name,
            "initial_token": token, "num_history_frames": num_history, "num_future_frames": 0,
            "corresponding_original_scene": original_final,
            "corresponding_original_initial_token": scene.frames[cur].token}
    return {"scene_metadata": meta, "frames": frames, "extended_traffic_light_data": lights,
            "extended_detections_tracks": [detections_tracks(global_rows(f), cache) for f in later]}


def scene_payload(num_future_frames: int = 0) -> dict[str, Any]:
    """A minimal navsim synthetic-scene dict (the layout of ``<token>.pkl``) of plain Python / numpy values: one
    history frame with one box, one camera without an image, no extended steps; ``num_future_frames`` copies of
    that frame follow, as lists (what a JSON round trip gives)."""
    cam = {"data_path": None, "sensor2lidar_rotation": np.eye(3), "sensor2lidar_translation": np.zeros(3),
           "cam_intrinsic": np.eye(3), "distortion": np.zeros(5)}
    frame = {"token": "a" * 16, "timestamp": 1, "roadblock_ids": ["1"], "traffic_lights": [(5, True)],
             "annotations": {"boxes": np.zeros((1, 7)), "names": ["vehicle"], "velocity_3d": np.zeros((1, 3)),
                             "instance_tokens": ["i"], "track_tokens": ["t"]},
             "ego_status": {"ego_pose": np.zeros(3), "ego_velocity": np.zeros(2), "ego_acceleration": np.zeros(2),
                            "driving_command": np.array([0, 1, 0, 0]), "in_global_frame": True},
             "lidar_path": None, "camera_dict": {"cam_f0": cam}}
    meta = {"log_name": "log", "scene_token": "b" * 17, "map_name": "us-nv-las-vegas-strip", "initial_token": "b" * 17,
            "num_history_frames": 1, "num_future_frames": num_future_frames}
    as_lists = json.loads(json.dumps(frame, default=lambda a: a.tolist()))
    return {"scene_metadata": meta, "frames": [frame] + [as_lists] * num_future_frames,
            "extended_traffic_light_data": None, "extended_detections_tracks": None}
