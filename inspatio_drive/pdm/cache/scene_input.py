"""What the metric-cache builder reads from a :class:`~inspatio_drive.data.types.Scene` (navsim ``NavSimScenario``).

* initial ego state: the current frame's global rear-axle pose, its float32 velocity / acceleration (ego frame),
  steering and yaw terms zero (navsim ``get_ego_state_at_iteration``);
* detections: the annotation boxes of a frame converted to the global frame with that frame's ego pose
  (navsim ``annotations_to_detection_tracks``): centre rotated by the ego heading and shifted, heading
  ``normalize_angle(box_yaw + ego_heading)``, velocity (agents only) rotated by the ego heading;
* beyond the scene's last frame (a navsim v2 synthetic scene): the scene's ``extended_detections`` /
  ``extended_traffic_lights`` step ``index - len(frames)`` (navsim ``NavSimScenario``): detections already global,
  lights as (lane connector, is_red); a missing step is an error for detections and no lights for lights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.data.nuplan_records import boxes_to_global
from inspatio_drive.data.types import Frame, Scene, TrackedObjects
from inspatio_drive.pdm.cache.geometry import box_corners
from inspatio_drive.pdm.types import AGENT_TYPES, OBJECT_TYPES, STATE_SIZE, StateIndex

__all__ = [
    "TYPE_ORDER",
    "Detections",
    "detections_at",
    "detections_of_frame",
    "detections_of_tracked_objects",
    "initial_ego_state",
    "scene_detections_from_current",
    "scene_frames_from_current",
    "traffic_lights_at",
]

TYPE_ORDER: dict[str, int] = {name: i for i, name in enumerate((*OBJECT_TYPES, "ego"))}
"""nuplan ``TrackedObjectType`` values; ``TrackedObjects`` keeps its objects stably sorted by them."""


@dataclass
class Detections:
    """Tracked objects of one frame in the global frame.

    Attributes:
        tokens: ``[N]`` track tokens. types: ``[N]`` type names (:data:`OBJECT_TYPES`).
        centers: ``[N, 2]`` box centres (m). headings: ``[N]`` (rad, in [−π, π]).
        sizes: ``[N, 3]`` length, width, height (m). velocities: ``[N, 2]`` global (m/s; 0 for static objects).
        is_agent: ``[N]`` type in :data:`AGENT_TYPES` (nuplan ``Agent``; others are ``StaticObject``).
    """

    tokens: list[str]
    types: list[str]
    centers: NDArray[np.float64]
    headings: NDArray[np.float64]
    sizes: NDArray[np.float64]
    velocities: NDArray[np.float64]
    is_agent: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def corners(self) -> NDArray[np.float64]:
        """``[N, 4, 2]`` box corners (FL, RL, RR, FR)."""
        return box_corners(self.centers, self.headings, self.sizes[:, 0], self.sizes[:, 1])


def scene_token(scene: Scene) -> str:
    """navsim's scenario token: the token of the current frame (``SceneMetadata.initial_token``), which is
    what metric caches and PDM results are keyed by (not the OpenScene ``scene_token`` field)."""
    return str(scene.frames[scene.current_index].token)


def scene_frames_from_current(scene: Scene, count: int) -> list[Frame]:
    """Frames ``current … current + count - 1``; clear error if the scene is too short."""
    start = scene.current_index
    if start < 0 or start + count > len(scene.frames):
        raise ValueError(
            f"scene {scene_token(scene)}: needs {count} frames from the current frame (index "
            f"{start}), has {len(scene.frames)} frames in total"
        )
    return scene.frames[start : start + count]


def initial_ego_state(frame: Frame) -> NDArray[np.float64]:
    """``[11]`` global ego state of ``frame`` (:class:`StateIndex` layout)."""
    s = np.zeros(STATE_SIZE, dtype=np.float64)
    es = frame.ego_status
    pose = np.asarray(es.ego_pose, dtype=np.float64)
    if pose.shape != (3,) or not np.isfinite(pose).all():
        raise ValueError(f"frame {frame.token}: ego_pose must be 3 finite values, got {pose!r}")
    s[: StateIndex.HEADING + 1] = pose
    s[StateIndex.VELOCITY_X : StateIndex.VELOCITY_Y + 1] = np.asarray(es.ego_velocity, dtype=np.float32)[:2]
    s[StateIndex.ACCELERATION_X : StateIndex.ACCELERATION_Y + 1] = np.asarray(
        es.ego_acceleration, dtype=np.float32
    )[:2]
    return s


def detections_of_frame(frame: Frame) -> Detections:
    """Annotation boxes of ``frame`` in the global frame, stably sorted by nuplan type order (vehicles,
    pedestrians, bicycles, cones, barriers, signs, generic objects) like nuplan's ``TrackedObjects``; objects of
    type ``ego`` are dropped."""
    ann = frame.annotations
    boxes = np.asarray(ann.boxes, dtype=np.float64).reshape(-1, 7)
    names = [str(n) for n in ann.names]
    bad = sorted({n for n in names if n not in OBJECT_TYPES and n != "ego"})
    if bad:
        raise ValueError(
            f"frame {frame.token}: annotations.names has unknown types {bad}; expected {OBJECT_TYPES}"
        )
    order = [i for i in sorted(range(len(names)), key=lambda i: TYPE_ORDER[names[i]]) if names[i] != "ego"]
    idx = np.array(order, dtype=np.int64)
    boxes = boxes[idx]
    names = [names[i] for i in order]
    tokens = [str(ann.track_tokens[i]) for i in order]
    vel = np.asarray(ann.velocity_3d, dtype=np.float64).reshape(-1, 3)[idx, :2]
    is_agent = np.array([n in AGENT_TYPES for n in names], dtype=bool)
    centers, headings, velocities = boxes_to_global(boxes, vel, frame.ego_status.ego_pose, is_agent)
    return Detections(
        tokens=tokens,
        types=names,
        centers=centers.reshape(-1, 2),
        headings=headings,
        sizes=boxes[:, 3:6].copy(),
        velocities=velocities.reshape(-1, 2),
        is_agent=is_agent,
    )


def detections_of_tracked_objects(objects: TrackedObjects, where: str = "tracked objects") -> Detections:
    """Global tracked objects (a synthetic scene's extended step) as :class:`Detections`: stably sorted by nuplan
    type order, ``ego`` objects dropped, track tokens as tokens, velocities zero for non-agent types."""
    names = list(objects.types)
    bad = sorted({n for n in names if n not in OBJECT_TYPES and n != "ego"})
    if bad:
        raise ValueError(f"{where}: unknown object types {bad}; expected {OBJECT_TYPES}")
    order = [i for i in sorted(range(len(names)), key=lambda i: TYPE_ORDER[names[i]]) if names[i] != "ego"]
    idx = np.array(order, dtype=np.int64)
    types = [names[i] for i in order]
    is_agent = np.array([n in AGENT_TYPES for n in types], dtype=bool)
    velocities = np.asarray(objects.velocities, dtype=np.float64).reshape(-1, 2)[idx].copy()
    velocities[~is_agent] = 0.0
    return Detections(
        tokens=[str(objects.track_tokens[i]) for i in order],
        types=types,
        centers=np.asarray(objects.centers, dtype=np.float64).reshape(-1, 2)[idx].copy(),
        headings=np.asarray(objects.headings, dtype=np.float64)[idx].copy(),  # as pickled (navsim reads them raw)
        sizes=np.asarray(objects.sizes, dtype=np.float64).reshape(-1, 3)[idx].copy(),
        velocities=velocities,
        is_agent=is_agent,
    )


def detections_at(scene: Scene, index: int) -> Detections:
    """Global detections of frame ``index`` of ``scene``; past the last frame the extended step (navsim
    ``get_tracked_objects_at_iteration``).

    Raises:
        ValueError: ``index`` past the frames and past the extended steps (or the scene has none).
    """
    if index < len(scene.frames):
        return detections_of_frame(scene.frames[index])
    step = index - len(scene.frames)
    extended = scene.extended_detections
    if extended is None or step >= len(extended):
        have = 0 if extended is None else len(extended)
        raise ValueError(f"scene {scene_token(scene)}: needs objects at frame {index}, the scene has {len(scene.frames)} "
                         f"frames and {have} extended steps")
    return detections_of_tracked_objects(extended[step], f"scene {scene_token(scene)}: extended step {step}")


def scene_detections_from_current(scene: Scene, count: int) -> list[Detections]:
    """Detections of frames ``current … current + count - 1`` (:func:`detections_at`); a clear error if the scene
    and its extended steps are too short."""
    start = scene.current_index
    if scene.extended_detections is None:
        return [detections_of_frame(f) for f in scene_frames_from_current(scene, count)]
    return [detections_at(scene, start + i) for i in range(count)]


def traffic_lights_at(scene: Scene, index: int) -> list[tuple[int, bool]]:
    """(lane connector, is_red) of frame ``index``; past the last frame the extended step's lights, none when the
    scene has no such step (navsim ``get_traffic_light_status_at_iteration``)."""
    if index < len(scene.frames):
        return list(scene.frames[index].traffic_lights)
    step = index - len(scene.frames)
    extended = scene.extended_traffic_lights
    if extended is None or step >= len(extended):
        return []
    return [(light.lane_connector_id, light.is_red) for light in extended[step]]
