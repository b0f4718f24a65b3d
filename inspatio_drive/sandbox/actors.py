"""Scene actors and their motion: path-following drivers with IDM car following, walkers, static objects.

Conventions: local metric frame (x east, y north); an actor pose is ``(x, y, heading)`` of its box
centre on the ground, except the ego whose track is its **rear axle** (``center_offset`` = 1.461 m to
the box centre, nuPlan Pacifica). Tracks are sampled every ``dt`` seconds from t = 0 and interpolated
linearly (heading unwrapped) at any query time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import LineString

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.geometry.se2 import wrap_angle

# nuPlan Pacifica (contracts.PACIFICA): length 5.176, width 2.297, height 1.777, rear axle → centre 1.461
EGO_LENGTH, EGO_WIDTH, EGO_HEIGHT = PACIFICA.length, PACIFICA.width, PACIFICA.height
EGO_REAR_TO_CENTER = PACIFICA.rear_axle_to_center

#: actor kind -> NAVSIM annotation class (``None``: scenery, not annotated)
ANNOTATION_NAME: dict[str, str | None] = {
    "car": "vehicle",
    "pedestrian": "pedestrian",
    "cyclist": "bicycle",
    "cone": "traffic_cone",
    "barrier": "barrier",
    "sign": "czone_sign",
    "building": None,
    "wall": None,
    "pole": None,
    "tree": None,
}


@dataclass
class Track:
    """Poses sampled at ``times`` (s): ``poses [T, 3]`` (x, y, heading), ``speed [T]``, ``accel [T]``
    (m/s, m/s², along the heading), ``yaw_rate [T]`` (rad/s)."""

    times: NDArray[np.float64]
    poses: NDArray[np.float64]
    speed: NDArray[np.float64]
    accel: NDArray[np.float64]
    yaw_rate: NDArray[np.float64]

    @classmethod
    def static(cls, x: float, y: float, heading: float) -> Track:
        z = np.zeros(1)
        return cls(z.copy(), np.array([[x, y, heading]], dtype=np.float64), z.copy(), z.copy(), z.copy())

    def at(self, t: float | NDArray) -> dict[str, NDArray[np.float64]]:
        """Interpolated state at time(s) ``t``: keys ``pose [..., 3]``, ``speed``, ``accel``, ``yaw_rate``
        (clamped to the sampled span)."""
        t = np.asarray(t, dtype=np.float64)
        if len(self.times) == 1:
            shape = t.shape
            return {"pose": np.broadcast_to(self.poses[0], (*shape, 3)).copy(), "speed": np.zeros(shape),
                    "accel": np.zeros(shape), "yaw_rate": np.zeros(shape)}
        h = np.unwrap(self.poses[:, 2])
        pose = np.stack([np.interp(t, self.times, self.poses[:, 0]), np.interp(t, self.times, self.poses[:, 1]),
                         np.interp(t, self.times, h)], axis=-1)
        pose[..., 2] = wrap_angle(pose[..., 2])
        return {"pose": pose, "speed": np.interp(t, self.times, self.speed),
                "accel": np.interp(t, self.times, self.accel), "yaw_rate": np.interp(t, self.times, self.yaw_rate)}


@dataclass
class Actor:
    """One object of the world.

    Attributes:
        kind: ``car``, ``pedestrian``, ``cyclist``, ``cone``, ``barrier``, ``sign``, ``building``, ``wall``,
            ``pole`` or ``tree`` (see :data:`ANNOTATION_NAME`).
        size: ``(length, width, height)`` metres of its bounding box.
        color: RGB in [0, 1] (main body colour).
        track: motion (a single sample for static objects).
        token: track token (16 hex chars).
    """

    kind: str
    size: tuple[float, float, float]
    color: tuple[float, float, float]
    track: Track
    token: str

    @property
    def name(self) -> str | None:
        return ANNOTATION_NAME[self.kind]

    @property
    def is_static(self) -> bool:
        return len(self.track.times) == 1


@dataclass
class Driver:
    """A path follower for :func:`simulate` (vehicles, cyclists, walkers, the ego).

    Attributes:
        path: polyline in travel direction.
        s0, v0: initial arc length (m) and speed (m/s).
        v_des: desired speed (m/s).
        length, width: box size used for following gaps (m).
        idm: follow leaders with IDM (False: constant ``v_des`` once started, e.g. walkers).
        offsets: lateral offset profile ``[(s_a, s_b, d_a, d_b)]`` (left positive, cosine blend on [s_a, s_b]).
        stops: ``[(s_stop, t_until)]`` virtual stop lines (red light / yield) active while ``t < t_until``.
        brake: ``(t_start, decel)`` scripted hard braking to standstill.
        start_time: the driver stands still at ``s0`` before this time (s).
        center_offset: box centre ahead of the tracked point (m): 1.461 for the ego's rear axle.
    """

    path: LineString
    s0: float
    v0: float
    v_des: float
    length: float = 4.6
    width: float = 1.9
    idm: bool = True
    offsets: list[tuple[float, float, float, float]] = field(default_factory=list)
    stops: list[tuple[float, float]] = field(default_factory=list)
    brake: tuple[float, float] | None = None
    start_time: float = 0.0
    center_offset: float = 0.0
    a_max: float = 1.5
    b_comf: float = 2.5
    headway: float = 1.3
    min_gap: float = 2.5


class _Path:
    """Arc-length parametrised polyline with vectorised lookups."""

    def __init__(self, line: LineString, step: float = 0.5):
        c = np.asarray(line.coords, dtype=np.float64)
        seg = np.linalg.norm(np.diff(c, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        self.length = float(s[-1])
        self.s = np.arange(0.0, self.length + step, step)
        self.xy = np.stack([np.interp(self.s, s, c[:, 0]), np.interp(self.s, s, c[:, 1])], axis=-1)
        d = np.gradient(self.xy, self.s, axis=0)
        self.heading = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))

    def pose(self, s: NDArray, d: NDArray, dd_ds: NDArray) -> NDArray:
        """``[..., 3]`` pose at arc length ``s`` with lateral offset ``d`` (slope ``dd_ds``); beyond either
        end the path is extended straight."""
        x = np.interp(s, self.s, self.xy[:, 0])
        y = np.interp(s, self.s, self.xy[:, 1])
        h = np.interp(s, self.s, self.heading)
        extra = np.clip(s - self.length, 0.0, None)
        x, y = x + extra * np.cos(h), y + extra * np.sin(h)
        extra0 = np.clip(-s, 0.0, None)
        x, y = x - extra0 * np.cos(h), y - extra0 * np.sin(h)
        return np.stack([x - d * np.sin(h), y + d * np.cos(h), h + np.arctan(dd_ds)], axis=-1)


def _offset(profile: list[tuple[float, float, float, float]], s: float) -> tuple[float, float]:
    d, slope = 0.0, 0.0
    for sa, sb, da, db in profile:
        if s <= sa:
            d, slope = da, 0.0
            break
        if s < sb:
            u = (s - sa) / (sb - sa)
            d = da + (db - da) * 0.5 * (1 - np.cos(np.pi * u))
            slope = (db - da) * 0.5 * np.pi * np.sin(np.pi * u) / (sb - sa)
            break
        d, slope = db, 0.0
    return d, slope


def simulate(drivers: list[Driver], obstacles: NDArray[np.float64], duration: float, dt: float = 0.05) -> list[Track]:
    """Simulate path followers with IDM car following.

    Args:
        drivers: the moving actors (the ego is one of them).
        obstacles: ``[M, 4]`` static obstacles (x, y, length, width) that drivers stop behind.
        duration: seconds to simulate from t = 0.
        dt: step (s).

    Returns:
        one :class:`Track` per driver, sampled every ``dt`` on ``[0, duration]``; the pose is the tracked
        point (box centre, or the rear axle when ``center_offset`` > 0).
    """
    paths = [_Path(d.path) for d in drivers]
    n = len(drivers)
    steps = round(duration / dt) + 1
    s = np.array([d.s0 for d in drivers], dtype=np.float64)
    v = np.array([d.v0 for d in drivers], dtype=np.float64)
    a_cmd = np.zeros(n)
    a = np.zeros(n)
    out_pose = np.zeros((steps, n, 3))
    out_v = np.zeros((steps, n))
    out_a = np.zeros((steps, n))
    braking = np.zeros(n, dtype=bool)
    obs = np.asarray(obstacles, dtype=np.float64).reshape(-1, 4)
    for k in range(steps):
        t = k * dt
        offs = [_offset(d.offsets, s[i]) for i, d in enumerate(drivers)]
        poses = np.stack([paths[i].pose(np.array(s[i]), np.array(offs[i][0]), np.array(offs[i][1]))
                          for i in range(n)])
        out_pose[k], out_v[k], out_a[k] = poses, v, a
        centers = poses[:, :2] + np.stack([np.cos(poses[:, 2]), np.sin(poses[:, 2])], -1) * np.array(
            [d.center_offset for d in drivers])[:, None]
        others_xy = np.concatenate([centers, obs[:, :2]])
        others_len = np.concatenate([[d.length for d in drivers], obs[:, 2]])
        others_wid = np.concatenate([[d.width for d in drivers], obs[:, 3]])
        others_v = np.concatenate([v, np.zeros(len(obs))])
        others_h = np.concatenate([poses[:, 2], np.zeros(len(obs))])
        for i, d in enumerate(drivers):
            if t < d.start_time:
                a_cmd[i] = 0.0
                continue
            if not d.idm:
                a_cmd[i] = (d.v_des - v[i]) / 0.5
                continue
            p = paths[i]
            front = s[i] + d.center_offset + d.length / 2.0
            ahead = (p.s >= front - 1.0) & (p.s <= front + 60.0)
            gap, v_lead = np.inf, d.v_des
            if ahead.any():
                win_s = p.s[ahead]
                dd = offs[i][0]
                win = p.xy[ahead] + dd * np.stack([-np.sin(p.heading[ahead]), np.cos(p.heading[ahead])], -1)
                dist = np.linalg.norm(others_xy[:, None, :] - win[None], axis=-1)  # [O, W]
                j_idx = dist.argmin(axis=1)
                lateral = dist[np.arange(len(others_xy)), j_idx]
                s_proj = win_s[j_idx]
                in_lane = lateral < (d.width + others_wid) / 2.0 + 0.2
                in_lane[i] = False
                g = s_proj - front - others_len / 2.0
                cand = in_lane & (g > -others_len / 2.0)
                if cand.any():
                    j = int(np.flatnonzero(cand)[np.argmin(g[cand])])
                    gap = max(float(g[j]), 0.05)
                    hd = others_h[j] - np.interp(s_proj[j], p.s, p.heading)
                    v_lead = float(others_v[j] * np.cos(hd)) if j < n else 0.0
            for s_stop, t_until in d.stops:
                g = s_stop - front
                if t < t_until and -0.5 < g < gap:
                    gap, v_lead = max(g, 0.05), 0.0
            v0 = max(d.v_des, 0.1)
            acc = d.a_max * (1.0 - (v[i] / v0) ** 4)
            if np.isfinite(gap):
                s_star = d.min_gap + max(0.0, v[i] * d.headway + v[i] * (v[i] - v_lead) / (2 * np.sqrt(d.a_max * d.b_comf)))
                acc -= d.a_max * (s_star / gap) ** 2
            if d.brake is not None and t >= d.brake[0]:
                braking[i] = True
            if braking[i]:
                acc = min(acc, -d.brake[1])
            a_cmd[i] = float(np.clip(acc, -8.0, d.a_max))
        # first-order actuator lag keeps the jerk realistic
        a = a + (a_cmd - a) * min(1.0, dt / 0.25)
        v_new = np.maximum(v + a * dt, 0.0)
        a = np.where((v_new == 0.0) & (a < 0.0), 0.0, a)
        s = s + 0.5 * (v + v_new) * dt
        v = v_new
    times = np.arange(steps) * dt
    tracks = []
    for i in range(n):
        h = np.unwrap(out_pose[:, i, 2])
        tracks.append(Track(times, out_pose[:, i].copy(), out_v[:, i].copy(), out_a[:, i].copy(),
                            np.gradient(h, times)))
    return tracks
