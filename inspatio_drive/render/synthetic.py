"""A small procedural street for tests, benchmarks and the CLI demo (no data download needed).

The world frame is the ego0 frame (rear axle at t = 0); the ego drives along +x at ``speed``.
Surfaces are dense coloured point samples: textured road with lane markings, sidewalks, two
building façades, a far wall, a parked car and a car driving ahead in the left lane (a tracked
object). History camera images are z-buffered renders of the dense surfaces; LiDAR sweeps are the
surface points a panoramic z-buffer at the LiDAR sees (so occlusion is physical). This is a self-test
fixture; the sandbox room's scenes and oracle are the reference for fidelity figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from inspatio_drive.geometry.rig import camera_to_ego_rotation, nuplan_like_rig
from inspatio_drive.geometry.se3 import invert_se3, se2_to_se3
from inspatio_drive.render.renderer import render_views
from inspatio_drive.render.splat import fill_holes, unpack_keys
from inspatio_drive.render.types import STATIC, ColoredPoints, ObjectTracks, RenderCameras

PALETTE = np.array(
    [[200, 80, 60], [70, 130, 180], [220, 190, 90], [120, 170, 100], [160, 100, 170], [230, 140, 60]],
    dtype=np.uint8,
)


def _grid(a0: float, a1: float, b0: float, b1: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.arange(a0, a1, step), np.arange(b0, b1, step), indexing="ij")
    return a.ravel(), b.ravel()


def _box_surface(length: float, width: float, height: float, step: float) -> np.ndarray:
    """Points ``[M, 3]`` on the sides and top of a box centred at the origin (box frame)."""
    lx, ly, hz = length / 2, width / 2, height / 2
    faces = []
    a, b = _grid(-lx, lx, -hz, hz, step)
    faces += [np.stack([a, np.full_like(a, ly), b], -1), np.stack([a, np.full_like(a, -ly), b], -1)]
    a, b = _grid(-ly, ly, -hz, hz, step)
    faces += [np.stack([np.full_like(a, lx), a, b], -1), np.stack([np.full_like(a, -lx), a, b], -1)]
    a, b = _grid(-lx, lx, -ly, ly, step)
    faces += [np.stack([a, b, np.full_like(a, hz)], -1)]
    return np.concatenate(faces)


@dataclass
class SyntheticStreet:
    """The procedural scene.

    Attributes:
        static_xyz, static_rgb: dense static surfaces ``[N, 3]`` (ego0) and uint8 colours.
        car_local, car_rgb: surface of the moving car in its box frame ``[M, 3]`` and colours.
        car_size: (l, w, h); car_z: box centre height.
        car_start, car_speed: box x at t = 0 (y = 3.5, heading 0) and speed (m/s along +x).
        speed: ego speed (m/s along +x).
    """

    static_xyz: np.ndarray
    static_rgb: np.ndarray
    car_local: np.ndarray
    car_rgb: np.ndarray
    car_size: tuple[float, float, float] = (4.6, 1.9, 1.6)
    car_z: float = 0.8
    car_start: float = 12.0
    car_speed: float = 5.0
    speed: float = 8.0

    def car_pose(self, t: float) -> np.ndarray:
        return np.array([self.car_start + self.car_speed * t, 3.5, 0.0])

    def ego_pose(self, t: float) -> np.ndarray:
        return np.array([self.speed * t, 0.0, 0.0])

    def points_at(self, t: float) -> ColoredPoints:
        """All surfaces at time ``t`` (s) as :class:`ColoredPoints` (the car labelled as instance 0)."""
        p = self.car_pose(t)
        car = self.car_local + np.array([p[0], p[1], self.car_z])
        xyz = torch.as_tensor(np.concatenate([self.static_xyz, car]), dtype=torch.float32)
        rgb = torch.as_tensor(np.concatenate([self.static_rgb, self.car_rgb]))
        inst = torch.cat(
            [torch.full((len(self.static_xyz),), STATIC), torch.zeros(len(car), dtype=torch.int64)]
        )
        return ColoredPoints(xyz, rgb, inst, self.tracks(np.arange(-3, 9) * 0.5))

    def tracks(self, times: np.ndarray) -> ObjectTracks:
        poses = np.stack([self.car_pose(t) for t in times])[None]
        return ObjectTracks(
            ["moving_car"],
            torch.as_tensor(times, dtype=torch.float64),
            torch.as_tensor(poses),
            torch.ones(1, len(times), dtype=torch.bool),
            torch.tensor([self.car_size], dtype=torch.float64),
            torch.tensor([self.car_z], dtype=torch.float64),
            "annotations",
        )


def make_street(step: float = 0.1, seed: int = 0) -> SyntheticStreet:
    """Build the street with surface samples every ``step`` metres."""
    rng = np.random.default_rng(seed)
    x, y = _grid(-40.0, 90.0, -12.0, 12.0, step)
    rgb = np.empty((len(x), 3), dtype=np.int32)
    road = np.abs(y) < 7.0
    rgb[road] = 85
    rgb[~road] = [165, 155, 135]
    tile = ((np.floor(x / 2) + np.floor(y / 2)) % 2).astype(np.int32)
    rgb += (tile * 24 - 12)[:, None]
    marking = (np.abs(np.abs(y) - 3.5) < 0.12) & ((x % 6.0) < 3.0) | (np.abs(np.abs(y) - 7.0) < 0.12)
    rgb[marking] = 235
    ground = np.stack([x, y, np.zeros_like(x)], -1)
    walls, wall_rgb = [], []
    for side in (-1.0, 1.0):
        a, z = _grid(-40.0, 90.0, 0.0, 9.0, step)
        col = PALETTE[(np.floor(a / 10).astype(int) + (side > 0) * 3) % len(PALETTE)].astype(np.int32)
        window = ((a % 4.0) > 1.0) & ((a % 4.0) < 3.0) & ((z % 3.0) > 1.0) & ((z % 3.0) < 2.2)
        col[window] = [40, 60, 90]
        walls.append(np.stack([a, np.full_like(a, 12.0 * side), z], -1))
        wall_rgb.append(col)
    b, z = _grid(-12.0, 12.0, 0.0, 12.0, step)
    far_col = np.where(
        ((np.floor(b / 3) + np.floor(z / 3)) % 2 == 0)[:, None], [90, 150, 200], [240, 240, 230]
    )
    walls.append(np.stack([np.full_like(b, 90.0), b, z], -1))
    wall_rgb.append(far_col.astype(np.int32))
    parked = _box_surface(4.5, 1.9, 1.5, step / 2) + np.array([22.0, -5.0, 0.75])
    parked_rgb = np.tile(np.array([[180, 30, 30]]), (len(parked), 1))
    parked_rgb[parked[:, 2] > 1.4] = [120, 20, 20]
    xyz = np.concatenate([ground, *walls, parked])
    col = np.concatenate([rgb, *wall_rgb, parked_rgb]) + rng.integers(-6, 7, size=(len(xyz), 3))
    car = _box_surface(4.6, 1.9, 1.6, step / 2)
    car_rgb = np.tile(np.array([[40, 70, 200]]), (len(car), 1))
    car_rgb[car[:, 2] > 0.7] = [230, 230, 240]
    return SyntheticStreet(
        xyz.astype(np.float32),
        np.clip(col, 0, 255).astype(np.uint8),
        car.astype(np.float32),
        car_rgb.astype(np.uint8),
    )


def render_truth(
    points: ColoredPoints,
    T_cam_world: torch.Tensor,
    cameras: RenderCameras,
    splat: int = 2,
    hole_fill: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense 'true' views ``(rgb [V, H, W, 3] uint8, depth [V, H, W])`` of surfaces (cameras repeat per view)."""
    v = T_cam_world.shape[0]
    c = len(cameras.names)
    intr = cameras.intrinsics.to(torch.float32).repeat(v // c, 1, 1)
    keys = render_views(points.xyz, T_cam_world, intr, cameras.image_size, splat, 0, 0.1, 500.0)
    keys = fill_holes(keys, hole_fill)
    depth, index, _valid = unpack_keys(keys)
    colours = torch.cat([points.rgb, torch.zeros(1, 3, dtype=torch.uint8)])
    return colours[index.long()], depth


# a 360° LiDAR approximated by four 90° virtual pinhole faces
def _lidar_faces(width: int, height: int) -> RenderCameras:
    f = width / 2.0
    k = torch.tensor([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    t = []
    for yaw in (0.0, 90.0, 180.0, 270.0):
        m = np.eye(4)
        m[:3, :3] = camera_to_ego_rotation(np.deg2rad(yaw))
        m[:3, 3] = [1.5, 0.0, 1.9]
        t.append(m)
    return RenderCameras(
        ("F", "L", "B", "R"), k.expand(4, 3, 3).clone(), torch.as_tensor(np.stack(t)), (width, height)
    )


def synthetic_agent_input(
    street: SyntheticStreet | None = None,
    num_history: int = 4,
    image_size: tuple[int, int] = (480, 270),
    cameras: tuple[str, ...] = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"),
    lidar_resolution: tuple[int, int] = (400, 160),
    max_lidar_range: float = 70.0,
) -> tuple[AgentInput, SyntheticStreet]:
    """A NAVSIM-like :class:`AgentInput` of the street: ``num_history`` frames at 2 Hz ending at t = 0,
    camera images at ``image_size`` (intrinsics in pixels of that size), LiDAR in each frame's ego frame."""
    street = make_street() if street is None else street
    rig = RenderCameras.from_rig(nuplan_like_rig(image_size[0], image_size[1], cameras), image_size)
    faces = _lidar_faces(*lidar_resolution)
    statuses, cams, lidars = [], [], []
    for i in range(num_history):
        t = (i - (num_history - 1)) * 0.5
        world = street.points_at(t)
        ego = street.ego_pose(t)
        t_world_ego = se2_to_se3(torch.as_tensor(ego))
        w2c = invert_se3(t_world_ego @ rig.T_ego_cam)
        rgb, _ = render_truth(world, w2c, rig)
        frame_cams = {}
        for j, name in enumerate(rig.names):
            frame_cams[name] = Camera(
                name,
                rgb[j].numpy(),
                rig.intrinsics[j].numpy(),
                rig.T_ego_cam[j, :3, :3].numpy(),
                rig.T_ego_cam[j, :3, 3].numpy(),
            )
        # LiDAR: surface points a panoramic z-buffer sees, in this frame's ego frame
        keys = render_views(
            world.xyz,
            invert_se3(t_world_ego @ faces.T_ego_cam),
            faces.intrinsics.float(),
            faces.image_size,
            1,
            0,
            0.5,
            max_lidar_range,
        )
        _, index, valid = unpack_keys(keys)
        hit = torch.unique(index[valid].long())
        local = (world.xyz[hit].double() - t_world_ego[:3, 3]) @ t_world_ego[:3, :3]
        pts = np.zeros((6, len(hit)), dtype=np.float32)
        pts[:3] = local.T.numpy()
        statuses.append(
            EgoStatus(
                ego_pose=ego - street.ego_pose(0.0),
                ego_velocity=np.array([street.speed, 0.0], dtype=np.float32),
                ego_acceleration=np.zeros(2, dtype=np.float32),
                driving_command=np.array([0, 1, 0, 0]),
            )
        )
        cams.append(frame_cams)
        lidars.append(Lidar(pts))
    return AgentInput(statuses, cams, lidars), street
