"""nuplan objects written into navsim pickles without nuplan (the writing side of
:mod:`inspatio_drive.data.nuplan_pickle`).

navsim v2's synthetic scenes hold what happens after their last frame as pickled nuplan objects:
``extended_detections_tracks`` (one ``DetectionsTracks`` per 0.5 s step, global boxes) and
``extended_traffic_light_data`` (one ``TrafficLightStatuses`` per step). nuplan cannot be installed here, so this
module builds inert records that pickle exactly as those objects do. Each record class names its nuplan class
(module path and name, the ones :data:`~inspatio_drive.data.nuplan_pickle.NUPLAN_GLOBALS` allows) and reduces the
way the default ``object.__reduce_ex__`` (protocol ≥ 2) reduces the real object: ``NEWOBJ`` of the class, then a
``BUILD`` of its state: the instance ``__dict__`` (plain classes and dataclasses, in constructor order), or
``(None, {slot: value})`` for the ``__slots__`` classes ``StateSE2`` (slots listed subclass first: ``heading``,
``x``, ``y``), ``StateVector2D`` (``_x``, ``_y``, ``_array``) and ``TimePoint`` (``time_us``). Enum members reduce
to ``Class(value)``: nuplan's ``TrackedObjectType`` (values 0 … 7) and ``TrafficLightStatusType`` (0 … 3).

The standard pickler imports a class's module to check the reference, so :class:`NuplanPickler` (the pure-Python
pickler) writes these class references by name without importing anything. Where navsim and nuplan are
installed, ``pickle.load`` of such a file builds the real nuplan objects; here the restricted unpickler maps them
onto this project's types.

Layouts (nuplan-devkit; navsim builds them in ``annotations_to_detection_tracks``)::

    DetectionsTracks      {tracked_objects: TrackedObjects}
    TrackedObjects        {tracked_objects: [Agent | StaticObject], stably sorted by type value}
    Agent                 {_initial_time_stamp: TimePoint, _predictions: [], _past_trajectory: None,
                           _metadata, instance_token: None, _tracked_object_type, _box, _velocity: StateVector2D,
                           _angular_velocity: None}
    StaticObject          {_metadata, instance_token: None, _tracked_object_type, _box, predictions: None,
                           past_trajectory: None, velocity: StateVector2D(0, 0)}
    SceneObjectMetadata   {timestamp_us, token (instance token), track_id: None, track_token, category_name: None}
    OrientedBox           {_center: StateSE2, _length, _width, _height}
    TrafficLightStatuses  {traffic_lights: [TrafficLightStatusData]}
    TrafficLightStatusData {status: TrafficLightStatusType, lane_connector_id: int, timestamp: int (µs)}
"""

from __future__ import annotations

import copyreg
import io
import pickle
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO, ClassVar

import numpy as np

from inspatio_drive.data.nuplan_pickle import NUPLAN_GLOBALS
from inspatio_drive.data.types import (
    TRACKED_OBJECT_TYPES,
    Frame,
    TrackedObjects,
    TrafficLightStatus,
    TrafficLightStatusType,
)
from inspatio_drive.geometry.se2 import normalize_angle

__all__ = [
    "NUPLAN_AGENT_TYPES",
    "NuplanPickler",
    "NuplanRecord",
    "detections_tracks_record",
    "dump_with_nuplan_records",
    "nuplan_class",
    "tracked_objects_of_frame",
    "traffic_light_statuses_record",
    "traffic_lights_of_frame",
]

NUPLAN_AGENT_TYPES = frozenset({"vehicle", "pedestrian", "bicycle", "ego"})
"""nuplan ``AGENT_TYPES``: objects of these types are ``Agent`` (with a velocity), the others ``StaticObject``."""

_MODULE_OF: dict[str, str] = {name: module for module, name in NUPLAN_GLOBALS if module.startswith("nuplan.")}
"""nuplan class name → its module path (the names the reader allows)."""


class NuplanRecord:
    """An inert object that pickles as an instance of nuplan class ``nuplan_module.nuplan_name`` with the
    attributes ``state`` (in the real class's attribute order). Build records with :func:`nuplan_class`."""

    nuplan_module: ClassVar[str] = ""
    nuplan_name: ClassVar[str] = ""
    slots: ClassVar[bool] = False
    """The nuplan class has ``__slots__`` (no ``__dict__``): the pickled state is ``(None, {slot: value})``."""

    def __init__(self, **state: Any) -> None:
        self.state = state

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        state = (None, dict(self.state)) if self.slots else dict(self.state)
        return copyreg.__newobj__, (type(self),), state

    def __repr__(self) -> str:
        return f"<{self.nuplan_module}.{self.nuplan_name} record {self.state!r}>"


class NuplanEnumMember:
    """An inert nuplan enum member: pickles as ``Class(value)`` (``Enum.__reduce_ex__``); one object per value,
    as enum members are singletons (so the pickle memoises them as the real ones)."""

    nuplan_module: ClassVar[str] = ""
    nuplan_name: ClassVar[str] = ""
    _members: ClassVar[dict[int, NuplanEnumMember]]

    def __new__(cls, value: int) -> NuplanEnumMember:
        value = int(value)
        if value not in cls._members:
            member = super().__new__(cls)
            member.value = value
            cls._members[value] = member
        return cls._members[value]

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return type(self), (self.value,)

    def __repr__(self) -> str:
        return f"<{self.nuplan_module}.{self.nuplan_name}({self.value})>"


def nuplan_class(name: str, slots: bool = False, enum: bool = False, module: str | None = None) -> type:
    """The record class that pickles as nuplan class ``name`` (module from the reader's allow-list unless given:
    a module outside it makes a file the reader refuses — that is how the tests write hostile files)."""
    module = sys.intern(module or _MODULE_OF[name])  # one string per module, as __module__ is: pickled once, then memoised
    namespace: dict[str, Any] = {"nuplan_module": module, "nuplan_name": name, "__qualname__": name,
                                 "__module__": module}
    if enum:
        return type(name, (NuplanEnumMember,), {**namespace, "_members": {}})
    return type(name, (NuplanRecord,), {**namespace, "slots": slots})


StateSE2 = nuplan_class("StateSE2", slots=True)
StateVector2D = nuplan_class("StateVector2D", slots=True)
TimePoint = nuplan_class("TimePoint", slots=True)
OrientedBox = nuplan_class("OrientedBox")
SceneObjectMetadata = nuplan_class("SceneObjectMetadata")
Agent = nuplan_class("Agent")
StaticObject = nuplan_class("StaticObject")
TrackedObjectsRecord = nuplan_class("TrackedObjects")
DetectionsTracks = nuplan_class("DetectionsTracks")
TrackedObjectType = nuplan_class("TrackedObjectType", enum=True)
TrafficLightStatusTypeRecord = nuplan_class("TrafficLightStatusType", enum=True)
TrafficLightStatusData = nuplan_class("TrafficLightStatusData")
TrafficLightStatuses = nuplan_class("TrafficLightStatuses")


class NuplanPickler(pickle._Pickler):
    """Pure-Python pickler that writes the nuplan record classes as global references by name (protocol ≥ 4:
    ``STACK_GLOBAL``), without importing nuplan; everything else pickles as with :mod:`pickle`."""

    def __init__(self, file: BinaryIO, protocol: int = 4) -> None:
        if protocol < 4:
            raise ValueError(f"NuplanPickler: protocol >= 4 needed, got {protocol}")
        super().__init__(file, protocol)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, type) and issubclass(obj, NuplanRecord | NuplanEnumMember):
            self.save(obj.nuplan_module)
            self.save(obj.nuplan_name)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def dump_with_nuplan_records(obj: Any, file: BinaryIO | None = None, protocol: int = 4) -> bytes | None:
    """Pickle ``obj`` (nuplan records named by their nuplan classes) into ``file``, or return the bytes."""
    if file is not None:
        NuplanPickler(file, protocol).dump(obj)
        return None
    buffer = io.BytesIO()
    NuplanPickler(buffer, protocol).dump(obj)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ builders
def boxes_to_global(
    boxes: np.ndarray, velocity_xy: np.ndarray, ego_pose: np.ndarray, is_agent: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Annotation boxes of one frame from the ego frame to the global frame (navsim ``annotations_to_detection_tracks``).

    Args:
        boxes: ``[N, 7]`` float64 ``(x, y, z, length, width, height, yaw)`` in the ego frame (rear axle, x forward,
            y left), metres / radians.
        velocity_xy: ``[N, 2]`` float64 ego-frame velocities (m/s).
        ego_pose: ``[3]`` global ``(x, y, heading)`` of the ego.
        is_agent: ``[N]`` bool; the velocity of a non-agent (static object) is 0.

    Returns:
        centres ``[N, 2]``, headings ``[N]`` (``normalize_angle(normalize_angle(yaw + ego_heading))``, as navsim) and
        velocities ``[N, 2]``, global, float64.
    """
    x, y, h = (float(v) for v in np.asarray(ego_pose, dtype=np.float64))
    sin, cos = np.sin(h), np.cos(h)
    lx, ly = boxes[:, 0], boxes[:, 1]
    centers = np.stack([lx * cos - ly * sin + x, lx * sin + ly * cos + y], axis=-1).reshape(-1, 2)
    vel = velocity_xy
    velocities = np.stack([vel[:, 0] * cos - vel[:, 1] * sin, vel[:, 0] * sin + vel[:, 1] * cos], axis=-1).reshape(-1, 2)
    velocities[~np.asarray(is_agent, dtype=bool)] = 0.0
    return centers, normalize_angle(normalize_angle(boxes[:, 6] + h)), velocities


def tracked_objects_of_frame(frame: Frame) -> TrackedObjects:
    """A frame's annotation boxes (ego frame) as global :class:`TrackedObjects` (navsim
    ``annotations_to_detection_tracks``): centre rotated by the ego heading and shifted by the ego position,
    heading ``normalize_angle(normalize_angle(box_yaw + ego_heading))``, velocity (agents only) rotated by the ego
    heading, 0 for static objects; object token = instance token, timestamps = the frame's; in annotation order.

    Raises:
        ValueError: an unknown object type (not a nuplan ``TrackedObjectType`` name).
    """
    ann = frame.annotations
    if ann is None:
        raise ValueError(f"frame {frame.token}: no annotations to make nuplan DetectionsTracks of")
    names = [str(n) for n in ann.names]
    bad = sorted(set(names) - set(TRACKED_OBJECT_TYPES))
    if bad:
        raise ValueError(f"frame {frame.token}: annotations.names has unknown types {bad}; expected {TRACKED_OBJECT_TYPES}")
    boxes = np.asarray(ann.boxes, dtype=np.float64).reshape(-1, 7)
    vel = np.asarray(ann.velocity_3d, dtype=np.float64).reshape(-1, 3)[:, :2]
    is_agent = np.array([n in NUPLAN_AGENT_TYPES for n in names], dtype=bool)
    centers, headings, velocities = boxes_to_global(boxes, vel, frame.ego_status.ego_pose, is_agent)
    return TrackedObjects(
        tokens=[str(t) for t in ann.instance_tokens],
        track_tokens=[str(t) for t in ann.track_tokens],
        types=names,
        centers=centers,
        headings=headings,
        sizes=boxes[:, 3:6].copy(),
        velocities=velocities,
        is_agent=is_agent,
        timestamps_us=np.full(len(names), int(frame.timestamp), dtype=np.int64),
    )


def traffic_lights_of_frame(frame: Frame) -> list[TrafficLightStatus]:
    """A frame's ``(lane connector, is_red)`` lights as nuplan statuses (RED / GREEN, navsim
    ``get_traffic_light_status_at_iteration``) at the frame's time."""
    return [TrafficLightStatus(int(lane), TrafficLightStatusType.RED if red else TrafficLightStatusType.GREEN,
                               int(frame.timestamp)) for lane, red in frame.traffic_lights]


def detections_tracks_record(objects: TrackedObjects) -> NuplanRecord:
    """Global :class:`TrackedObjects` → a record that pickles as nuplan ``DetectionsTracks`` (objects stably
    sorted by type value, as nuplan's ``TrackedObjects`` constructor sorts them)."""
    items = []
    for i in range(len(objects)):
        kind = objects.types[i]
        stamp = int(objects.timestamps_us[i])
        box = OrientedBox(_center=StateSE2(heading=float(objects.headings[i]), x=float(objects.centers[i, 0]),
                                           y=float(objects.centers[i, 1])),
                          _length=float(objects.sizes[i, 0]), _width=float(objects.sizes[i, 1]),
                          _height=float(objects.sizes[i, 2]))
        meta = SceneObjectMetadata(timestamp_us=stamp, token=objects.tokens[i], track_id=None,
                                   track_token=objects.track_tokens[i], category_name=None)
        otype = TrackedObjectType(TRACKED_OBJECT_TYPES.index(kind))
        if bool(objects.is_agent[i]):
            vx, vy = (float(v) for v in objects.velocities[i])
            items.append(Agent(_initial_time_stamp=TimePoint(time_us=stamp), _predictions=[], _past_trajectory=None,
                               _metadata=meta, instance_token=None, _tracked_object_type=otype, _box=box,
                               _velocity=_vector(vx, vy), _angular_velocity=None))
        else:
            items.append(StaticObject(_metadata=meta, instance_token=None, _tracked_object_type=otype, _box=box,
                                      predictions=None, past_trajectory=None, velocity=_vector(0.0, 0.0)))
    order = sorted(range(len(items)), key=lambda k: TRACKED_OBJECT_TYPES.index(objects.types[k]))
    return DetectionsTracks(tracked_objects=TrackedObjectsRecord(tracked_objects=[items[k] for k in order]))


def traffic_light_statuses_record(lights: Iterable[TrafficLightStatus]) -> NuplanRecord:
    """Lights of one step → a record that pickles as nuplan ``TrafficLightStatuses``."""
    return TrafficLightStatuses(traffic_lights=[
        TrafficLightStatusData(status=TrafficLightStatusTypeRecord(int(light.status)),
                               lane_connector_id=int(light.lane_connector_id), timestamp=int(light.timestamp_us))
        for light in lights])


def _vector(x: float, y: float) -> NuplanRecord:
    return StateVector2D(_x=x, _y=y, _array=np.array([x, y], dtype=np.float64))
