"""The nuplan objects inside navsim's synthetic scene pickles, read without nuplan and without running anything.

navsim v2 pickles ``Scene.extended_traffic_light_data`` (a list of nuplan ``TrafficLightStatuses``) and
``Scene.extended_detections_tracks`` (a list of nuplan ``DetectionsTracks``) as nuplan objects. Unpickling them
normally imports nuplan and lets the file name any callable. Here :data:`NUPLAN_GLOBALS` is an allow-list for
:class:`~inspatio_drive.data.safe_pickle.SafeUnpickler`: each nuplan ``(module, name)`` the format contains
resolves to one of this module's inert stand-ins — a :class:`NuplanRecord` subclass that only stores the
pickled attributes, or a function that maps an enum value to a constant — and every other global is refused
before anything is called. :func:`tracked_objects_from_record` and :func:`traffic_lights_from_record` then turn
the records into this project's types (:class:`~inspatio_drive.data.types.TrackedObjects`,
:class:`~inspatio_drive.data.types.TrafficLightStatus`), checking every field (a malformed field is a
:class:`~inspatio_drive.contracts.errors.LogFormatError` naming file, path and expectation).

Stand-ins (nuplan class → what is read): ``DetectionsTracks.tracked_objects`` → ``TrackedObjects.tracked_objects``
(a list of ``Agent`` / ``StaticObject`` / ``SceneObject``) → per object ``_tracked_object_type``
(``TrackedObjectType`` value 0 … 7), ``_box`` (``OrientedBox``: ``_center`` ``StateSE2`` (x, y, heading),
``_length``, ``_width``, ``_height``), ``_metadata`` (``SceneObjectMetadata``: ``timestamp_us``, ``token``,
``track_token``), ``_velocity`` (``StateVector2D`` ``_x``, ``_y``; agents only, global). ``TrafficLightStatuses
.traffic_lights`` → ``TrafficLightStatusData`` (``status``: ``TrafficLightStatusType`` 0 … 3,
``lane_connector_id``, ``timestamp``). Cached values nuplan may have pickled along (``OrientedBox.geometry``, a
shapely polygon; ``TrackedObjects._ranges_per_type``) and agent predictions / past trajectories are accepted
and ignored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from inspatio_drive.contracts.errors import LogFormatError, brief_repr
from inspatio_drive.data.types import (
    TRACKED_OBJECT_TYPES,
    TrackedObjects,
    TrafficLightStatus,
    TrafficLightStatusType,
)

__all__ = [
    "NUPLAN_GLOBALS",
    "DiscardedValue",
    "NuplanRecord",
    "tracked_objects_from_record",
    "traffic_lights_from_record",
]


class NuplanRecord:
    """Inert stand-in for one pickled nuplan object: ``nuplan_name`` (its class) and ``state`` (its pickled
    attributes, ``__dict__`` and ``__slots__`` merged); constructor arguments a pickle passes are dropped.
    Building one stores data and runs nothing else."""

    nuplan_name = "?"
    state: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance, never mutated
    bad_state: str | None = None

    def __init__(self, *args: Any) -> None:  # REDUCE calls the class: nothing to do
        pass

    def __setstate__(self, state: Any) -> None:
        if type(state) is dict and not self.state:  # the common case (keys checked on use)
            self.state = state
            return
        parts = list(state) if isinstance(state, tuple) and len(state) == 2 else [state]
        for part in parts:
            if part is None:
                continue
            if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
                self.bad_state = brief_repr(part, 60)  # reported with the file by the conversion
                continue
            self.state = {**self.state, **part}

    def __repr__(self) -> str:
        return f"<nuplan {self.nuplan_name} record: {sorted(self.state)}>"


class DiscardedValue(NuplanRecord):
    """A cached value nuplan may pickle along (a shapely polygon, a predicted trajectory); never read."""

    nuplan_name = "discarded value"

    def __setstate__(self, state: Any) -> None:
        pass


def _discard(*args: Any) -> DiscardedValue:
    return DiscardedValue()


def _record(module: str, name: str) -> type[NuplanRecord]:
    return type(name, (NuplanRecord,), {"nuplan_name": name, "__module__": __name__, "__qualname__": f"nuplan.{name}"})


def _tracked_object_type(value: Any, *rest: Any) -> str:
    """nuplan ``TrackedObjectType(value)`` (pickled as its value 0 … 7) → its name (``vehicle`` …)."""
    if isinstance(value, tuple) and value:  # (value, fullname), as the enum is declared
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= int(value) < len(TRACKED_OBJECT_TYPES):
        raise LogFormatError(f"pickled nuplan TrackedObjectType: expected a value 0 … {len(TRACKED_OBJECT_TYPES) - 1}, "
                             f"got {brief_repr(value, 40)}")
    return TRACKED_OBJECT_TYPES[int(value)]


def _traffic_light_status_type(value: Any, *rest: Any) -> TrafficLightStatusType:
    """nuplan ``TrafficLightStatusType(value)`` → ours (same values)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) not in {int(t) for t in TrafficLightStatusType}:
        raise LogFormatError(f"pickled nuplan TrafficLightStatusType: expected a value 0 … 3, got {brief_repr(value, 40)}")
    return TrafficLightStatusType(int(value))


_ACTOR = "nuplan.common.actor_state"
_CLASSES: tuple[tuple[str, str], ...] = (
    ("nuplan.planning.simulation.observation.observation_type", "DetectionsTracks"),
    (f"{_ACTOR}.tracked_objects", "TrackedObjects"),
    (f"{_ACTOR}.agent", "Agent"),
    (f"{_ACTOR}.static_object", "StaticObject"),
    (f"{_ACTOR}.scene_object", "SceneObject"),
    (f"{_ACTOR}.scene_object", "SceneObjectMetadata"),
    (f"{_ACTOR}.oriented_box", "OrientedBox"),
    (f"{_ACTOR}.state_representation", "StateSE2"),
    (f"{_ACTOR}.state_representation", "StateVector2D"),
    (f"{_ACTOR}.state_representation", "TimePoint"),
    ("nuplan.common.maps.maps_datatypes", "TrafficLightStatuses"),
    ("nuplan.common.maps.maps_datatypes", "TrafficLightStatusData"),
)
_IGNORED: tuple[tuple[str, str], ...] = (
    ("nuplan.planning.simulation.trajectory.predicted_trajectory", "PredictedTrajectory"),
    (f"{_ACTOR}.waypoint", "Waypoint"),
    (f"{_ACTOR}.state_representation", "TemporalStateSE2"),
    ("shapely.geometry.polygon", "Polygon"),  # shapely 1.x: class + WKB state
)

RECORDS: dict[str, type[NuplanRecord]] = {name: _record(module, name) for module, name in _CLASSES}
"""The stand-in class of each nuplan class name."""

NUPLAN_GLOBALS: dict[tuple[str, str], Any] = {
    **{(module, name): RECORDS[name] for module, name in _CLASSES},
    **{key: DiscardedValue for key in _IGNORED},
    ("shapely.io", "from_wkb"): _discard,  # shapely 2: from_wkb(bytes)
    ("shapely.wkb", "loads"): _discard,
    (f"{_ACTOR}.tracked_objects_types", "TrackedObjectType"): _tracked_object_type,
    ("nuplan.common.maps.maps_datatypes", "TrafficLightStatusType"): _traffic_light_status_type,
}
"""``(module, name) → stand-in`` of every global a navsim synthetic scene pickle may name besides numpy / builtins."""


# ------------------------------------------------------------------------------------------------- conversion
def _is(obj: Any, name: str) -> bool:
    return isinstance(obj, NuplanRecord) and obj.nuplan_name == name


def _field(obj: Any, name: str, key: str, where: str) -> Any:
    if not _is(obj, name):
        raise LogFormatError(f"{where}: expected a nuplan {name}, got {_describe(obj)}")
    if obj.bad_state is not None:
        raise LogFormatError(f"{where}: nuplan {name}: expected its attributes as a dict, got {obj.bad_state}")
    if key not in obj.state:
        raise LogFormatError(f"{where}: nuplan {name} has no attribute {key!r}")
    return obj.state[key]


def _describe(obj: Any) -> str:
    return f"nuplan {obj.nuplan_name}" if isinstance(obj, NuplanRecord) else brief_repr(obj, 60)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not math.isfinite(float(value)):
        raise LogFormatError(f"{where}: expected a finite number, got {brief_repr(value, 40)}")
    return float(value)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LogFormatError(f"{where}: expected an int, got {brief_repr(value, 40)}")
    return int(value)


def _string(value: Any, where: str, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise LogFormatError(f"{where}: expected str, got {brief_repr(value, 40)}")
    return value


def tracked_objects_from_record(obj: Any, where: str) -> TrackedObjects:
    """A pickled nuplan ``DetectionsTracks`` (:class:`NuplanRecord`) → :class:`TrackedObjects` (global frame).

    Raises:
        LogFormatError: not a ``DetectionsTracks`` or a malformed field (``where`` + attribute path named).
    """
    tracked = _field(obj, "DetectionsTracks", "tracked_objects", where)
    items = _field(tracked, "TrackedObjects", "tracked_objects", f"{where}.tracked_objects")
    if not isinstance(items, list):
        raise LogFormatError(f"{where}.tracked_objects.tracked_objects: expected a list, got {brief_repr(items, 40)}")
    tokens, track_tokens, types, rows, agents, stamps = [], [], [], [], [], []
    for i, item in enumerate(items):
        at = f"{where}.tracked_objects[{i}]"
        kind = item.nuplan_name if isinstance(item, NuplanRecord) else None
        if kind not in ("Agent", "StaticObject", "SceneObject"):
            raise LogFormatError(f"{at}: expected a nuplan Agent / StaticObject / SceneObject, got {_describe(item)}")
        otype = _field(item, kind, "_tracked_object_type", at)
        if not isinstance(otype, str) or otype not in TRACKED_OBJECT_TYPES:
            raise LogFormatError(f"{at}._tracked_object_type: expected a nuplan TrackedObjectType, got {_describe(otype)}")
        box = _field(item, kind, "_box", at)
        center = _field(box, "OrientedBox", "_center", f"{at}._box")
        c = f"{at}._box._center"
        x, y, heading = (_number(_field(center, "StateSE2", k, c), f"{c}.{k}") for k in ("x", "y", "heading"))
        size = [_number(_field(box, "OrientedBox", k, f"{at}._box"), f"{at}._box.{k}") for k in ("_length", "_width", "_height")]
        meta = _field(item, kind, "_metadata", at)
        m = f"{at}._metadata"
        tokens.append(_string(_field(meta, "SceneObjectMetadata", "token", m), f"{m}.token"))
        track_tokens.append(_string(_field(meta, "SceneObjectMetadata", "track_token", m), f"{m}.track_token", optional=True))
        stamps.append(_integer(_field(meta, "SceneObjectMetadata", "timestamp_us", m), f"{m}.timestamp_us"))
        vx = vy = 0.0
        if kind == "Agent":
            vel = _field(item, kind, "_velocity", at)
            v = f"{at}._velocity"
            vx, vy = (_number(_field(vel, "StateVector2D", k, v), f"{v}.{k}") for k in ("_x", "_y"))
        types.append(otype)
        agents.append(kind == "Agent")
        rows.append((x, y, heading, *size, vx, vy))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 8)
    return TrackedObjects(
        tokens=tokens,
        track_tokens=track_tokens,
        types=types,
        centers=arr[:, :2].copy(),
        headings=arr[:, 2].copy(),
        sizes=arr[:, 3:6].copy(),
        velocities=arr[:, 6:8].copy(),
        is_agent=np.array(agents, dtype=bool),
        timestamps_us=np.array(stamps, dtype=np.int64),
    )


def traffic_lights_from_record(obj: Any, where: str) -> list[TrafficLightStatus]:
    """A pickled nuplan ``TrafficLightStatuses`` → one :class:`TrafficLightStatus` per lane connector.

    Raises:
        LogFormatError: not a ``TrafficLightStatuses`` or a malformed field.
    """
    lights = _field(obj, "TrafficLightStatuses", "traffic_lights", where)
    if not isinstance(lights, list):
        raise LogFormatError(f"{where}.traffic_lights: expected a list, got {brief_repr(lights, 40)}")
    out = []
    for i, light in enumerate(lights):
        at = f"{where}.traffic_lights[{i}]"
        status = _field(light, "TrafficLightStatusData", "status", at)
        if not isinstance(status, TrafficLightStatusType):
            raise LogFormatError(f"{at}.status: expected a nuplan TrafficLightStatusType, got {_describe(status)}")
        lane = _field(light, "TrafficLightStatusData", "lane_connector_id", at)
        if isinstance(lane, str) and lane.isdigit():
            lane = int(lane)
        out.append(TrafficLightStatus(_integer(lane, f"{at}.lane_connector_id"), status,
                                      _integer(_field(light, "TrafficLightStatusData", "timestamp", at), f"{at}.timestamp")))
    return out

