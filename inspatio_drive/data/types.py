"""Typed NAVSIM-equivalent data structures (navsim ``common/dataclasses.py`` v1.1 semantics).

Frames: ``Frame.ego_status`` is global (UTM metres, ``in_global_frame=True``); ``AgentInput`` ego
statuses are relative to the current rear axle (history frame ``num_history_frames - 1``);
annotation boxes and LiDAR points are in the ego (rear-axle) frame of their own frame; camera
extrinsics are camera → ego (OpenScene's ``sensor2lidar_*``), OpenCV camera axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.geometry.intrinsics import NAVSIM_IMAGE_SIZE
from inspatio_drive.geometry.se2 import absolute_to_relative_se2_navsim as navsim_absolute_to_relative

CAMERA_NAMES: tuple[str, ...] = ("CAM_F0", "CAM_L0", "CAM_L1", "CAM_L2", "CAM_R0", "CAM_R1", "CAM_R2", "CAM_B0")
NAVSIM_INTERVAL_LENGTH = 0.5  # s between frames (2 Hz)
# navsim LidarIndex rows of Lidar.points
LIDAR_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring", "lidar_id")


@dataclass
class Camera:
    """One camera of one frame.

    Attributes:
        name: ``CAM_F0`` … ``CAM_B0``.
        image: uint8 ``[H, W, 3]`` RGB, or ``None`` when not loaded / not requested.
        intrinsics: float64 ``[3, 3]`` pinhole matrix in pixels of the stored image (1920×1080 in NAVSIM).
        sensor2ego_rotation: float64 ``[3, 3]``; OpenScene ``sensor2lidar_rotation`` (camera → rear axle).
        sensor2ego_translation: float64 ``[3]`` metres; OpenScene ``sensor2lidar_translation``.
        distortion: float64 ``[5]`` OpenCV (k1, k2, p1, p2, k3); ignored by NAVSIM's projection.
        data_path: path relative to ``sensor_blobs/<split>``, as stored in the log.
        load_error: why a requested image is missing when loaded leniently (``image`` is then ``None``).
    """

    name: str
    image: NDArray[np.uint8] | None
    intrinsics: NDArray[np.float64]
    sensor2ego_rotation: NDArray[np.float64]
    sensor2ego_translation: NDArray[np.float64]
    distortion: NDArray[np.float64] = field(default_factory=lambda: np.zeros(5))
    data_path: str | None = None
    load_error: str | None = None

    @property
    def sensor2lidar_rotation(self) -> NDArray[np.float64]:
        """navsim / OpenScene name of :attr:`sensor2ego_rotation`."""
        return self.sensor2ego_rotation

    @property
    def sensor2lidar_translation(self) -> NDArray[np.float64]:
        """navsim / OpenScene name of :attr:`sensor2ego_translation`."""
        return self.sensor2ego_translation

    @property
    def T_ego_cam(self) -> NDArray[np.float64]:
        """``[4, 4]`` camera → ego (rear axle) transform."""
        t = np.eye(4)
        t[:3, :3] = self.sensor2ego_rotation
        t[:3, 3] = self.sensor2ego_translation
        return t

    @property
    def is_loaded(self) -> bool:
        return self.image is not None

    @property
    def image_size(self) -> tuple[int, int]:
        """``(W, H)`` the intrinsics refer to: the loaded image's, else NAVSIM's native 1920×1080."""
        if self.image is None:
            return NAVSIM_IMAGE_SIZE
        return (self.image.shape[1], self.image.shape[0])


@dataclass
class Lidar:
    """Merged point cloud of one frame: float32 ``[6, N]`` rows (x, y, z, intensity, ring, lidar_id),
    ego frame. ``points`` is ``None`` when not requested; an empty sensor has ``N == 0`` (lenient
    loading of a missing/corrupt file; ``load_error`` then says why)."""

    points: NDArray[np.float32] | None
    data_path: str | None = None
    load_error: str | None = None

    @property
    def lidar_pc(self) -> NDArray[np.float32] | None:
        """navsim name of :attr:`points`."""
        return self.points

    @property
    def is_loaded(self) -> bool:
        return self.points is not None


@dataclass
class EgoStatus:
    """Ego state of one frame (navsim ``EgoStatus``).

    Attributes:
        ego_pose: ``[3]`` (x, y, heading); global float64 in ``Frame`` (``in_global_frame=True``);
            relative to the current rear axle in ``AgentInput`` (float32 from
            ``SceneLoader.get_agent_input_from_token``, float64 from ``Scene.get_agent_input``, as navsim).
        ego_velocity: float32 ``[2]`` (vx, vy) m/s in the ego frame of *that* frame.
        ego_acceleration: float32 ``[2]`` (ax, ay) m/s² in the ego frame of that frame.
        driving_command: int ``[4]`` one-hot (left, straight, right, unknown).
    """

    ego_pose: NDArray[np.float64]
    ego_velocity: NDArray[np.float32]
    ego_acceleration: NDArray[np.float32]
    driving_command: NDArray[np.int64]
    in_global_frame: bool = False


@dataclass
class Annotations:
    """Ground-truth boxes of one frame, ego frame: ``boxes`` float64 ``[N, 7]`` (x, y, z, length,
    width, height, heading), ``names`` ``[N]`` str, ``velocity_3d`` ``[N, 3]``, tokens ``[N]`` str."""

    boxes: NDArray[np.float64]
    names: list[str]
    velocity_3d: NDArray[np.float64]
    instance_tokens: list[str]
    track_tokens: list[str]

    def __post_init__(self) -> None:
        n = len(self.boxes)
        lengths = {len(self.names), len(self.velocity_3d), len(self.instance_tokens), len(self.track_tokens)}
        if lengths != {n}:
            raise ValueError(f"annotation fields differ in length: boxes {n}, others {sorted(lengths)}")

    @classmethod
    def empty(cls) -> Annotations:
        return cls(np.zeros((0, 7)), [], np.zeros((0, 3)), [], [])


@dataclass
class Frame:
    """One 2 Hz keyframe (navsim ``Frame``); ``ego_status`` is global. ``annotations`` is ``None`` when
    the log carries no ground truth (``anns`` absent, e.g. private test logs)."""

    token: str
    timestamp: int  # µs
    roadblock_ids: list[str]
    traffic_lights: list[tuple[int, bool]]  # (lane_connector_id, is_red)
    annotations: Annotations | None
    ego_status: EgoStatus
    lidar: Lidar
    cameras: dict[str, Camera]


@dataclass
class SceneMetadata:
    """navsim ``SceneMetadata``. For a synthetic (navsim v2 second-stage) scene, ``corresponding_original_scene``
    is the token of the original log frame at the same time (navsim matches it against the *final* frame token
    of the loaded first-stage scenes) and ``corresponding_original_initial_token`` the original frame at
    0.0 s; both are ``None`` for scenes read from logs."""

    log_name: str
    scene_token: str
    map_name: str
    initial_token: str
    num_history_frames: int
    num_future_frames: int
    corresponding_original_scene: str | None = None
    corresponding_original_initial_token: str | None = None


class TrafficLightStatusType(IntEnum):
    """nuplan ``TrafficLightStatusType`` values."""

    GREEN = 0
    YELLOW = 1
    RED = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class TrafficLightStatus:
    """One lane connector's light at one time (nuplan ``TrafficLightStatusData``): ``timestamp_us`` in µs."""

    lane_connector_id: int
    status: TrafficLightStatusType
    timestamp_us: int

    @property
    def is_red(self) -> bool:
        return self.status == TrafficLightStatusType.RED


TRACKED_OBJECT_TYPES: tuple[str, ...] = (
    "vehicle", "pedestrian", "bicycle", "traffic_cone", "barrier", "czone_sign", "generic_object", "ego")
"""nuplan ``TrackedObjectType`` names by value (0 … 7); also OpenScene's ``gt_names``."""


@dataclass
class TrackedObjects:
    """Tracked objects of one time step in the **global** frame (nuplan ``DetectionsTracks``), in the pickle's
    order (nuplan keeps them stably sorted by type value).

    Attributes:
        tokens: ``[N]`` object tokens (nuplan ``metadata.token``). track_tokens: ``[N]`` track tokens.
        types: ``[N]`` :data:`TRACKED_OBJECT_TYPES` names.
        centers: float64 ``[N, 2]`` box centres (m, global). headings: float64 ``[N]`` (rad).
        sizes: float64 ``[N, 3]`` length, width, height (m).
        velocities: float64 ``[N, 2]`` global (m/s); 0 for static objects.
        is_agent: bool ``[N]``: a nuplan ``Agent`` (else a ``StaticObject``).
        timestamps_us: int64 ``[N]`` (``metadata.timestamp_us``).
    """

    tokens: list[str]
    track_tokens: list[str]
    types: list[str]
    centers: NDArray[np.float64]
    headings: NDArray[np.float64]
    sizes: NDArray[np.float64]
    velocities: NDArray[np.float64]
    is_agent: NDArray[np.bool_]
    timestamps_us: NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.tokens)
        shapes = {"track_tokens": (len(self.track_tokens),), "types": (len(self.types),),
                  "centers": np.shape(self.centers), "headings": np.shape(self.headings), "sizes": np.shape(self.sizes),
                  "velocities": np.shape(self.velocities), "is_agent": np.shape(self.is_agent),
                  "timestamps_us": np.shape(self.timestamps_us)}
        want = {"track_tokens": (n,), "types": (n,), "centers": (n, 2), "headings": (n,), "sizes": (n, 3),
                "velocities": (n, 2), "is_agent": (n,), "timestamps_us": (n,)}
        bad = {k: v for k, v in shapes.items() if v != want[k]}
        if bad:
            raise ValueError(f"TrackedObjects of {n} objects: fields of wrong shape {bad}")

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class AgentInput:
    """What a NAVSIM agent may see: one entry per history frame (oldest first), ego statuses relative
    to the current rear axle (the last entry has pose (0, 0, 0))."""

    ego_statuses: list[EgoStatus]
    cameras: list[dict[str, Camera]]
    lidars: list[Lidar]


@dataclass
class Scene:
    """A NAVSIM scene: ``num_history_frames`` + ``num_future_frames`` frames at 2 Hz.

    A synthetic (navsim v2 second-stage) scene may carry what happens after its last frame, one entry per 0.5 s
    step (navsim ``Scene.extended_*``; ``NavSimScenario`` serves frame ``len(frames) + k`` from entry ``k``):
    ``extended_traffic_lights`` (per step, the lights) and ``extended_detections`` (per step, global tracked
    objects). ``None`` for scenes read from logs. :meth:`timestamp_at` extends the frame times by 0.5 s steps.
    """

    scene_metadata: SceneMetadata
    frames: list[Frame]
    extended_traffic_lights: list[list[TrafficLightStatus]] | None = None
    extended_detections: list[TrackedObjects] | None = None

    @property
    def is_synthetic(self) -> bool:
        """navsim's rule: a 17-character scene token (``frames[current].token``) is a synthetic scene."""
        return len(self.frames[self.current_index].token) == 17

    def timestamp_at(self, index: int) -> int:
        """µs time of frame ``index``; beyond the last frame, the last time + 0.5 s per step (navsim ``get_time_point``)."""
        if index < len(self.frames):
            return int(self.frames[index].timestamp)
        return int(self.frames[-1].timestamp) + (index - len(self.frames) + 1) * 500_000

    @property
    def current_index(self) -> int:
        return self.scene_metadata.num_history_frames - 1

    def _relative_poses(self, indices: range, origin_index: int | None = None) -> NDArray[np.float64]:
        i0 = self.current_index if origin_index is None else origin_index
        origin = self.frames[i0].ego_status.ego_pose
        poses = np.stack([self.frames[i].ego_status.ego_pose for i in indices])
        return navsim_absolute_to_relative(origin, poses)

    def get_future_trajectory(self, num_trajectory_frames: int | None = None) -> NDArray[np.float64]:
        """Logged future poses ``[T, 3]`` (x, y, heading) at t = 0.5 … 0.5·T s in the current rear-axle
        frame. Float64: navsim's ``Trajectory`` is annotated float32 but ``get_future_trajectory`` passes
        the float64 array through unchanged, and this matches it bit for bit. Default T = ``num_future_frames``."""
        n = self.scene_metadata.num_future_frames if num_trajectory_frames is None else num_trajectory_frames
        start = self.current_index + 1
        if n < 1 or start + n > len(self.frames):
            raise ValueError(f"scene {self.scene_metadata.scene_token} has no {n} future frames")
        return self._relative_poses(range(start, start + n))

    def get_history_trajectory(self, num_trajectory_frames: int | None = None) -> NDArray[np.float64]:
        """Logged poses ``[T, 3]`` of frames ``0 … T-1`` relative to frame ``T-1`` (navsim v1.1 semantics:
        with the default T = ``num_history_frames`` the last pose is the current one, (0, 0, 0)), float64."""
        n = self.scene_metadata.num_history_frames if num_trajectory_frames is None else num_trajectory_frames
        if not 1 <= n <= len(self.frames):
            raise ValueError(f"scene {self.scene_metadata.scene_token} has no {n} history frames")
        return self._relative_poses(range(n), origin_index=n - 1)

    def get_agent_input(self) -> AgentInput:
        """History frames as an :class:`AgentInput` (poses relative to the current rear axle)."""
        history = self.frames[: self.current_index + 1]
        rel = self._relative_poses(range(self.current_index + 1))
        statuses = [
            EgoStatus(
                ego_pose=rel[i],
                ego_velocity=f.ego_status.ego_velocity,
                ego_acceleration=f.ego_status.ego_acceleration,
                driving_command=f.ego_status.driving_command,
                in_global_frame=False,
            )
            for i, f in enumerate(history)
        ]
        return AgentInput(statuses, [f.cameras for f in history], [f.lidar for f in history])
