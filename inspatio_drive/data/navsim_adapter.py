"""Converters between this package's data types and navsim's (``navsim.common.dataclasses``).

navsim is imported lazily, only when a converter is called, so the rest of the package works without
it. Field names follow navsim v1.1 (and v2, whose extra optional fields — ``Camera.camera_path``,
``SceneMetadata.corresponding_original_*``, ``Scene.extended_*`` — are filled when present and left
at their defaults otherwise).

Conventions kept exactly: navsim ``Cameras`` has one attribute per camera (``cam_f0`` …); a camera
or LiDAR that was not loaded is navsim's empty ``Camera()`` / ``Lidar()`` (all ``None``); agent-input
poses are relative to the current rear axle, scene frames are global (``in_global_frame=True``);
``Trajectory.poses`` are ``[T, 3]`` (x, y, heading) in the current rear-axle frame at 0.5 s steps.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.data.types import (
    CAMERA_NAMES,
    NAVSIM_INTERVAL_LENGTH,
    AgentInput,
    Annotations,
    Camera,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
)


def navsim_dataclasses() -> ModuleType:
    """``navsim.common.dataclasses`` or an ImportError that says what is missing."""
    try:
        return importlib.import_module("navsim.common.dataclasses")
    except ImportError as exc:
        raise ImportError(
            "navsim is not installed: the navsim converters need `navsim.common.dataclasses` "
            f"(pip install navsim / the NAVSIM devkit); original error: {exc}"
        ) from exc


def is_navsim_available() -> bool:
    """Whether ``navsim.common.dataclasses`` can be imported."""
    try:
        navsim_dataclasses()
    except ImportError:
        return False
    return True


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def _make(cls: type, **kwargs: Any) -> Any:
    """Instantiate a navsim dataclass, dropping optional keys that this navsim version does not have."""
    names = _field_names(cls)
    if names:
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return cls(**kwargs)


# ----------------------------------------------------------------------------------- to navsim
def camera_to_navsim(camera: Camera | None, nd: ModuleType | None = None, keep_calibration: bool = False) -> Any:
    """:class:`Camera` → navsim ``Camera`` (empty ``Camera()`` when no image, unless ``keep_calibration``)."""
    nd = nd or navsim_dataclasses()
    if camera is None or (camera.image is None and not keep_calibration):
        return nd.Camera()
    return _make(
        nd.Camera,
        image=camera.image,
        sensor2lidar_rotation=camera.sensor2ego_rotation,
        sensor2lidar_translation=camera.sensor2ego_translation,
        intrinsics=camera.intrinsics,
        distortion=camera.distortion,
        camera_path=None if camera.data_path is None else Path(camera.data_path),
    )


def cameras_to_navsim(cameras: dict[str, Camera], nd: ModuleType | None = None, keep_calibration: bool = False) -> Any:
    """``{CAM_*: Camera}`` → navsim ``Cameras`` (missing cameras become empty ``Camera()``)."""
    nd = nd or navsim_dataclasses()
    return nd.Cameras(**{n.lower(): camera_to_navsim(cameras.get(n), nd, keep_calibration) for n in CAMERA_NAMES})


def lidar_to_navsim(lidar: Lidar | None, nd: ModuleType | None = None) -> Any:
    """:class:`Lidar` → navsim ``Lidar`` (``lidar_pc`` float32 ``[6, N]`` or ``None``)."""
    nd = nd or navsim_dataclasses()
    if lidar is None or lidar.points is None:
        return nd.Lidar()
    return _make(nd.Lidar, lidar_pc=lidar.points, lidar_path=None if lidar.data_path is None else Path(lidar.data_path))


def ego_status_to_navsim(status: EgoStatus, nd: ModuleType | None = None) -> Any:
    nd = nd or navsim_dataclasses()
    return nd.EgoStatus(
        ego_pose=status.ego_pose,
        ego_velocity=status.ego_velocity,
        ego_acceleration=status.ego_acceleration,
        driving_command=status.driving_command,
        in_global_frame=status.in_global_frame,
    )


def agent_input_to_navsim(agent_input: AgentInput, keep_calibration: bool = False) -> Any:
    """:class:`AgentInput` → navsim ``AgentInput`` (same frame order: oldest history frame first)."""
    nd = navsim_dataclasses()
    return nd.AgentInput(
        ego_statuses=[ego_status_to_navsim(s, nd) for s in agent_input.ego_statuses],
        cameras=[cameras_to_navsim(c, nd, keep_calibration) for c in agent_input.cameras],
        lidars=[lidar_to_navsim(lidar, nd) for lidar in agent_input.lidars],
    )


def annotations_to_navsim(annotations: Annotations, nd: ModuleType | None = None) -> Any:
    nd = nd or navsim_dataclasses()
    return nd.Annotations(
        boxes=annotations.boxes,
        names=list(annotations.names),
        velocity_3d=annotations.velocity_3d,
        instance_tokens=list(annotations.instance_tokens),
        track_tokens=list(annotations.track_tokens),
    )


def scene_to_navsim(scene: Scene, map_api: Any = None, keep_calibration: bool = False) -> Any:
    """:class:`Scene` → navsim ``Scene``; ``map_api`` (nuplan ``AbstractMap``) is passed through as given.

    Raises:
        ValueError: a frame has no annotations (navsim's ``Frame`` requires them).
    """
    nd = navsim_dataclasses()
    md = scene.scene_metadata
    metadata = _make(
        nd.SceneMetadata,
        log_name=md.log_name,
        scene_token=md.scene_token,
        map_name=md.map_name,
        initial_token=md.initial_token,
        num_history_frames=md.num_history_frames,
        num_future_frames=md.num_future_frames,
    )
    frames = []
    for i, f in enumerate(scene.frames):
        if f.annotations is None:
            raise ValueError(f"scene {md.initial_token}: frame {i} ({f.token}) has no annotations; navsim's Frame needs them")
        frames.append(
            nd.Frame(
                token=f.token,
                timestamp=f.timestamp,
                roadblock_ids=list(f.roadblock_ids),
                traffic_lights=list(f.traffic_lights),
                annotations=annotations_to_navsim(f.annotations, nd),
                ego_status=ego_status_to_navsim(f.ego_status, nd),
                lidar=lidar_to_navsim(f.lidar, nd),
                cameras=cameras_to_navsim(f.cameras, nd, keep_calibration),
            )
        )
    return _make(nd.Scene, scene_metadata=metadata, map_api=map_api, frames=frames)


def trajectory_to_navsim(poses: ArrayLike, interval_length: float = NAVSIM_INTERVAL_LENGTH) -> Any:
    """``[T, 3]`` poses (x, y, heading; current rear-axle frame; t = interval … T·interval) → navsim
    ``Trajectory`` (float32 poses, as navsim agents produce them).

    The default sampling (8 poses, 0.5 s) uses navsim's default ``TrajectorySampling``; any other
    needs nuplan's ``TrajectorySampling`` (imported lazily).
    """
    nd = navsim_dataclasses()
    arr = np.asarray(poses, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"trajectory poses must be [T, 3] (x, y, heading), got shape {arr.shape}")
    if arr.shape[0] == 8 and interval_length == NAVSIM_INTERVAL_LENGTH:
        return nd.Trajectory(arr)
    sampling_mod = importlib.import_module("nuplan.planning.simulation.trajectory.trajectory_sampling")
    sampling = sampling_mod.TrajectorySampling(num_poses=arr.shape[0], interval_length=interval_length)
    return nd.Trajectory(arr, sampling)


# ----------------------------------------------------------------------------------- from navsim
def camera_from_navsim(name: str, camera: Any) -> Camera | None:
    """navsim ``Camera`` → :class:`Camera`, or ``None`` for an empty navsim ``Camera()``."""
    if camera is None or camera.intrinsics is None or camera.sensor2lidar_rotation is None:
        return None
    path = getattr(camera, "camera_path", None)
    return Camera(
        name=name,
        image=None if camera.image is None else np.asarray(camera.image),
        intrinsics=np.asarray(camera.intrinsics, dtype=np.float64),
        sensor2ego_rotation=np.asarray(camera.sensor2lidar_rotation, dtype=np.float64),
        sensor2ego_translation=np.asarray(camera.sensor2lidar_translation, dtype=np.float64),
        distortion=np.zeros(5) if camera.distortion is None else np.asarray(camera.distortion, dtype=np.float64),
        data_path=None if path is None else str(path),
    )


def cameras_from_navsim(cameras: Any) -> dict[str, Camera]:
    """navsim ``Cameras`` → ``{CAM_*: Camera}`` with the non-empty cameras only."""
    out = {}
    for name in CAMERA_NAMES:
        cam = camera_from_navsim(name, getattr(cameras, name.lower()))
        if cam is not None:
            out[name] = cam
    return out


def lidar_from_navsim(lidar: Any) -> Lidar:
    pc = getattr(lidar, "lidar_pc", None)
    path = getattr(lidar, "lidar_path", None)
    return Lidar(points=None if pc is None else np.asarray(pc, dtype=np.float32), data_path=None if path is None else str(path))


def ego_status_from_navsim(status: Any) -> EgoStatus:
    return EgoStatus(
        ego_pose=np.asarray(status.ego_pose),
        ego_velocity=np.asarray(status.ego_velocity, dtype=np.float32),
        ego_acceleration=np.asarray(status.ego_acceleration, dtype=np.float32),
        driving_command=np.asarray(status.driving_command),
        in_global_frame=bool(status.in_global_frame),
    )


def agent_input_from_navsim(agent_input: Any) -> AgentInput:
    """navsim ``AgentInput`` → :class:`AgentInput`."""
    return AgentInput(
        ego_statuses=[ego_status_from_navsim(s) for s in agent_input.ego_statuses],
        cameras=[cameras_from_navsim(c) for c in agent_input.cameras],
        lidars=[lidar_from_navsim(lidar) for lidar in agent_input.lidars],
    )


def scene_from_navsim(scene: Any) -> Scene:
    """navsim ``Scene`` → :class:`Scene` (the map API is not carried over)."""
    md = scene.scene_metadata
    frames = []
    for f in scene.frames:
        a = f.annotations
        frames.append(
            Frame(
                token=f.token,
                timestamp=int(f.timestamp),
                roadblock_ids=[str(r) for r in f.roadblock_ids],
                traffic_lights=[(int(i), bool(r)) for i, r in f.traffic_lights],
                annotations=Annotations(
                    boxes=np.asarray(a.boxes, dtype=np.float64).reshape(-1, 7),
                    names=[str(n) for n in a.names],
                    velocity_3d=np.asarray(a.velocity_3d, dtype=np.float64).reshape(-1, 3),
                    instance_tokens=list(a.instance_tokens),
                    track_tokens=list(a.track_tokens),
                ),
                ego_status=ego_status_from_navsim(f.ego_status),
                lidar=lidar_from_navsim(f.lidar),
                cameras=cameras_from_navsim(f.cameras),
            )
        )
    metadata = SceneMetadata(
        log_name=md.log_name,
        scene_token=md.scene_token,
        map_name=md.map_name,
        initial_token=md.initial_token,
        num_history_frames=int(md.num_history_frames),
        num_future_frames=int(md.num_future_frames),
    )
    return Scene(metadata, frames)


def trajectory_from_navsim(trajectory: Any) -> NDArray[np.float64]:
    """navsim ``Trajectory`` → float64 ``[T, 3]`` poses (x, y, heading) in the current rear-axle frame."""
    poses = np.asarray(trajectory.poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != 3:
        raise ValueError(f"navsim Trajectory.poses must be [T, 3], got shape {poses.shape}")
    return poses
