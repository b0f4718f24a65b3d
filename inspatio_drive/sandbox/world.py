"""A generated sandbox world: road network, actors with tracks, the ego track, and per-time queries
(ego status, annotations in the ego frame, traffic lights, navsim driving command).

Frames: ``World`` geometry is in a local metric frame; global (UTM) = local + ``origin``. Times are
seconds from the first logged frame. The ego track is its rear axle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import LineString, Point

from inspatio_drive.geometry.se2 import wrap_angle
from inspatio_drive.sandbox.actors import EGO_REAR_TO_CENTER, Actor, Track
from inspatio_drive.sandbox.roads import RoadNetwork

FRAME_INTERVAL = 0.5  # s (2 Hz)
DRIVING_COMMAND_LOOKAHEAD = 20.0  # m
DRIVING_COMMAND_LATERAL = 2.0  # m
ANNOTATION_RANGE = 80.0  # m


def token(*parts: object) -> str:
    """Deterministic 16-hex-char token from ``parts``."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:16]


@dataclass
class World:
    """Everything needed to log and to render one sandbox scene.

    Attributes:
        name: log name; also the seed of every token.
        scenario, seed: catalogue entry and seed it was generated from.
        params: generation parameters (``generate_scene`` keyword arguments) to regenerate it.
        network: road network (local coordinates).
        actors: every object except the ego; instance id of ``actors[k]`` is ``k + 1``.
        ego: rear-axle track of the ego.
        route_fids: lane / connector fids of the ego route; ``roadblock_ids`` its roadblocks.
        route_path: centre line of the ego route (local coordinates).
        traffic_lights: ``(lane_connector_fid, is_red)`` of every connector (constant over the log).
        origin: UTM coordinates of the local origin.
        location: map name (``maps/<location>/<version>/map.gpkg``).
        num_frames: logged frames at 2 Hz.
        start_timestamp: µs timestamp of frame 0.
    """

    name: str
    scenario: str
    seed: int
    params: dict
    network: RoadNetwork
    actors: list[Actor]
    ego: Track
    route_fids: list[int]
    roadblock_ids: list[str]
    route_path: LineString
    traffic_lights: list[tuple[int, bool]]
    origin: tuple[float, float]
    location: str
    num_frames: int
    start_timestamp: int

    @property
    def frame_times(self) -> NDArray[np.float64]:
        return np.arange(self.num_frames) * FRAME_INTERVAL

    def frame_token(self, index: int) -> str:
        return token(self.name, "frame", index)

    def ego_pose_global(self, t: float) -> NDArray[np.float64]:
        """``[3]`` global rear-axle pose (UTM x, y, heading) at ``t``."""
        p = self.ego.at(t)["pose"].copy()
        p[0] += self.origin[0]
        p[1] += self.origin[1]
        return p

    def to_local(self, pose: NDArray) -> NDArray[np.float64]:
        """Global (UTM) ``[..., >=2]`` pose(s) → local coordinates."""
        p = np.array(pose, dtype=np.float64)
        p[..., 0] -= self.origin[0]
        p[..., 1] -= self.origin[1]
        return p

    def ego_dynamic_state(self, t: float) -> NDArray[np.float64]:
        """``[vx, vy, ax, ay]`` in the ego frame (no side slip: vy = 0, ay = v · yaw rate)."""
        st = self.ego.at(t)
        v = float(st["speed"])
        return np.array([v, 0.0, float(st["accel"]), v * float(st["yaw_rate"])])

    def driving_command(self, t: float) -> NDArray[np.int64]:
        """navsim one-hot (left, straight, right, unknown): the route centre-line point 20 m ahead (along
        the route, from the ego's projection) is ≥ 2 m left → left, ≤ −2 m → right, else straight."""
        pose = self.ego.at(t)["pose"]

        s = self.route_path.project(Point(pose[0], pose[1]))
        target = self.route_path.interpolate(s + DRIVING_COMMAND_LOOKAHEAD)
        dx, dy = target.x - pose[0], target.y - pose[1]
        lateral = -np.sin(pose[2]) * dx + np.cos(pose[2]) * dy
        cmd = np.zeros(4, dtype=np.int64)
        cmd[0 if lateral >= DRIVING_COMMAND_LATERAL else 2 if lateral <= -DRIVING_COMMAND_LATERAL else 1] = 1
        return cmd

    def actor_states(self, t: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Local ``poses [N, 3]`` (box centre on the ground) and ``velocity [N, 2]`` (world frame) of
        all actors at ``t``."""
        poses = np.zeros((len(self.actors), 3))
        vel = np.zeros((len(self.actors), 2))
        for k, a in enumerate(self.actors):
            st = a.track.at(t)
            poses[k] = st["pose"]
            vel[k] = float(st["speed"]) * np.array([np.cos(poses[k, 2]), np.sin(poses[k, 2])])
        return poses, vel

    def annotations(self, t: float, ego_pose_local: NDArray | None = None) -> dict:
        """OpenScene ``anns`` at ``t``: annotated actors within 80 m, boxes ``[N, 7]`` (x, y, z, l, w, h,
        yaw) and ``gt_velocity_3d`` in the ego (rear-axle) frame."""
        ego = self.ego.at(t)["pose"] if ego_pose_local is None else np.asarray(ego_pose_local)
        poses, vel = self.actor_states(t)
        c, s = np.cos(ego[2]), np.sin(ego[2])
        boxes, names, vels, toks = [], [], [], []
        for k, a in enumerate(self.actors):
            if a.name is None:
                continue
            dx, dy = poses[k, 0] - ego[0], poses[k, 1] - ego[1]
            if np.hypot(dx, dy) > ANNOTATION_RANGE:
                continue
            x, y = c * dx + s * dy, -s * dx + c * dy
            length, width, height = a.size
            boxes.append([x, y, height / 2.0, length, width, height, float(wrap_angle(poses[k, 2] - ego[2]))])
            names.append(a.name)
            vels.append([c * vel[k, 0] + s * vel[k, 1], -s * vel[k, 0] + c * vel[k, 1], 0.0])
            toks.append(a.token)
        return {
            "gt_boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 7),
            "gt_names": np.asarray(names, dtype="<U16"),
            "gt_velocity_3d": np.asarray(vels, dtype=np.float64).reshape(-1, 3),
            "instance_tokens": [token(tk, "box", round(t * 1e6)) for tk in toks],  # per box, like nuPlan
            "track_tokens": toks,
        }

    def ego_center(self, t: float) -> NDArray[np.float64]:
        p = self.ego.at(t)["pose"]
        return p[:2] + EGO_REAR_TO_CENTER * np.array([np.cos(p[2]), np.sin(p[2])])
