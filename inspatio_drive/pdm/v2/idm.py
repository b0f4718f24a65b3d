"""Reactive traffic of NAVSIM v2.2 (``NavsimIDMTrafficAgents``): vehicles re-simulated with IDM against the ego.

Semantics (navsim v2.2 ``navsim_IDM_traffic_agents.py``, ``navsim_idm_agents.py``, ``navsim_idm/*``, on top of
nuplan-devkit v1.2's ``IDMAgent`` / ``IDMAgentManager`` / ``IDMPolicy`` / ``InterpolatedPath``; code written from
scratch):

* Start (t0, the logged ego): every VEHICLE of the current frame is put "on rails": its starting lane (the lane
  containing its centre, or in an intersection the lane connector, with the baseline heading closest to the
  vehicle's), snapped to the nearest baseline pose; vehicles farther than ``idm_snap_threshold`` from the baseline,
  or whose snapped box overlaps the ego or an earlier vehicle, are not simulated. Path = that one segment's
  baseline (nuplan's ``create_path_from_se2`` drops the last vertex); speed = |v|; desired speed = the segment's
  speed limit, else ``target_velocity``. navsim's metric cache has no traffic-light status, so agents never extend
  their route and never see stop lines.
* Each 0.1 s step k = 1 … 40, with the ego at simulated step k − 1: the ego box goes into the occupancy map —
  placed, as navsim builds it (``CarFootprint(center=rear axle)``), **centred on the rear axle**; agents whose
  centre is > ``radius`` from that point are dropped for good; then agent by agent (in order, each seeing the
  others' already-updated footprints): the leader is the nearest occupancy geometry (shapely ``nearest_points``
  distance from the agent's own footprint) among those intersecting the agent's path-to-go buffered by half its
  width (flat caps), its speed projected on the agent's heading (ego: rear-axle speed; agents: their IDM speed;
  others: 0); no leader → the distance to the end of the path, leader length half the agent's; one forward-Euler
  IDM step (exponent 4, acceleration clipped to [−decel_max, accel_max], speed ≥ 0); the agent's footprint
  becomes its box plus its path over ``velocity · headway_time`` ahead (buffered by half its width).
* The frame's vehicles: the IDM agents' boxes, plus (``add_open_loop_parked_vehicles``) the current frame's other
  vehicles at their t0 box when they do not touch an agent box and are either stationary (< 0.1 m/s) outside
  lanes / intersections or more than ``idm_snap_threshold`` off their lane's baseline. Every other object type is
  log-replayed; frame 0 is the current frame as logged.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.geometry.se2 import principal_value
from inspatio_drive.maps import MapAPI, SemanticMapLayer
from inspatio_drive.pdm.cache.geometry import box_corners, ego_corners
from inspatio_drive.pdm.types import Observation, StateIndex

__all__ = ["IDMTrafficConfig", "reactive_observation", "reactive_observation_reference", "reactive_observations"]

S = StateIndex
HEADING_ESTIMATION_M = 0.5  # nuplan NuPlanPolylineMapObject distance_for_heading_estimation
SIMPLIFY_TOLERANCE = 1e-5  # navsim simplify_occupancy_map_geometries


@dataclass(frozen=True)
class IDMTrafficConfig:
    """navsim ``navsim_IDM_traffic_agents.yaml`` (``NavsimIDMAgents``) parameters."""

    target_velocity: float = 10.0  # m/s, desired speed where the lane has no speed limit
    min_gap_to_lead_agent: float = 1.0  # m
    headway_time: float = 1.5  # s
    accel_max: float = 1.0  # m/s²
    decel_max: float = 2.0  # m/s² (positive)
    radius: float = 100.0  # m, agents farther from the ego are dropped
    add_open_loop_parked_vehicles: bool = True
    idm_snap_threshold: float = 3.0  # m
    step_s: float = 0.1


# ------------------------------------------------------------------------------------------------------ paths


def _nearest_pose(line: shapely.LineString, x: float, y: float) -> tuple[float, float, float, float]:
    """nuplan ``get_nearest_pose_from_position`` → (x, y, heading, arc length) on a baseline."""
    s = float(line.project(shapely.Point(x, y)))
    p1 = line.interpolate(s)
    p2 = line.interpolate(s + HEADING_ESTIMATION_M)
    if p1.equals_exact(p2, 0.0):
        p0 = line.interpolate(s - HEADING_ESTIMATION_M)
        heading = math.atan2(p1.y - p0.y, p1.x - p0.x)
    else:
        heading = math.atan2(p2.y - p1.y, p2.x - p1.x)
    return p1.x, p1.y, heading, s


def starting_segment(map_api: MapAPI, x: float, y: float, heading: float) -> tuple[Any, float | None]:
    """nuplan ``get_starting_segment``: the lane (or, in an intersection, lane connector) under (x, y) whose
    nearest baseline heading is closest to ``heading`` (plain difference, not wrapped), and the arc length."""
    point = (x, y)
    if map_api.is_in_layer(point, SemanticMapLayer.LANE):
        layer = SemanticMapLayer.LANE
    elif map_api.is_in_layer(point, SemanticMapLayer.INTERSECTION):
        layer = SemanticMapLayer.LANE_CONNECTOR
    else:
        return None, None
    segments = map_api.get_all_map_objects_at(point, layer)
    if not segments:
        return None, None
    diffs = [_nearest_pose(seg.baseline, x, y)[2] - heading for seg in segments]
    seg = segments[int(np.argmin(np.abs(diffs)))]
    return seg, float(seg.baseline.project(shapely.Point(x, y)))


class _Path:
    """nuplan ``InterpolatedPath`` built by ``create_path_from_se2`` from ``[N, 3]`` poses."""

    def __init__(self, poses: NDArray[np.float64]) -> None:
        d = np.diff(poses[:, :2], axis=0)
        progress = np.cumsum(np.append(0.0, np.linalg.norm(d.T, axis=0)))
        repeated = np.isclose(np.diff(progress), 0.0)
        keep = [i for i in range(len(poses) - 1) if not repeated[i]]  # zip() stops one short: last pose dropped
        if len(keep) < 2:
            raise ValueError("IDM path: fewer than 2 distinct baseline poses")
        self.poses = poses[keep]
        self.progress = progress[keep]
        self.heading = np.unwrap(self.poses[:, 2])
        self.start = float(self.progress[0])
        self.end = float(self.progress[-1])

    def clamp(self, p: float) -> float:
        return max(self.start, min(p, self.end))

    def states(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """``[n, 3]`` (x, y, heading) at progresses ``p [n]`` (scipy ``interp1d``'s linear rule; heading unwrapped
        along the path, interpolated, wrapped with ``principal_value``)."""
        x = self.progress
        p = np.asarray(p, dtype=np.float64)
        i = np.clip(np.searchsorted(x, p, side="left"), 1, len(x) - 1)
        lo = i - 1
        span = x[i] - x[lo]
        w = p - x[lo]
        px = (self.poses[i, 0] - self.poses[lo, 0]) / span * w + self.poses[lo, 0]
        py = (self.poses[i, 1] - self.poses[lo, 1]) / span * w + self.poses[lo, 1]
        h = (self.heading[i] - self.heading[lo]) / span * w + self.heading[lo]
        return np.stack([px, py, principal_value(h)], axis=-1)

    def state(self, p: float) -> tuple[float, float, float]:
        """(x, y, heading) at progress ``p``."""
        x, y, h = self.states(np.array([p]))[0]
        return float(x), float(y), float(h)

    def lines_to_go(self, p: NDArray[np.float64]) -> NDArray[np.object_]:
        """:meth:`to_go` of many progresses as shapely line strings."""
        first = np.searchsorted(self.progress, p, side="right")
        st = self.states(p)
        parts = [
            self.poses[-2:, :2] if f == len(self.progress) else np.vstack([st[r, :2], self.poses[f:, :2]])
            for r, f in enumerate(first)
        ]
        return _lines(parts)

    def lines_trim(self, start: NDArray[np.float64], end: NDArray[np.float64]) -> NDArray[np.object_]:
        """:meth:`trim` of many (start, end) pairs as shapely line strings."""
        front = np.searchsorted(self.progress, start, side="right")
        tail = np.searchsorted(self.progress, end, side="left") - 1
        a, b = self.states(start), self.states(end)
        parts = []
        for r in range(len(start)):
            if front[r] == len(self.progress):
                parts.append(self.poses[-2:, :2])
            elif tail[r] < 0:
                parts.append(self.poses[:2, :2])
            else:
                parts.append(np.vstack([a[r, :2], self.poses[front[r] : tail[r] + 1, :2], b[r, :2]]))
        return _lines(parts)

    def to_go(self, p: float) -> NDArray[np.float64]:
        """``[n, 2]`` points of nuplan ``trim_path_up_to_progress``."""
        after = np.flatnonzero(self.progress > p)
        if not len(after):
            return self.poses[-2:, :2]
        x, y, _ = self.state(p)
        return np.vstack([[x, y], self.poses[after[0] :, :2]])

    def trim(self, start: float, end: float) -> NDArray[np.float64]:
        """``[n, 2]`` points of nuplan ``trim_path``."""
        front = np.flatnonzero(self.progress > start)
        if not len(front):
            return self.poses[-2:, :2]
        tail = np.flatnonzero(self.progress < end)
        if not len(tail):
            return self.poses[:2, :2]
        a, b = self.state(start), self.state(end)
        return np.vstack([[a[0], a[1]], self.poses[front[0] : tail[-1] + 1, :2], [b[0], b[1]]])


def _lines(parts: list[NDArray[np.float64]]) -> NDArray[np.object_]:
    """Line strings from ``[n_i, 2]`` point arrays, one shapely call."""
    counts = np.array([len(x) for x in parts])
    return shapely.linestrings(np.concatenate(parts), indices=np.repeat(np.arange(len(parts)), counts))


class _Agent:
    """nuplan ``IDMAgent`` following one baseline segment (no route planning: no traffic-light status)."""

    def __init__(
        self, path: _Path, progress: float, velocity: float, length: float, width: float, speed_limit: float | None,
        target: float,
    ) -> None:
        self.path = path
        self.progress = progress
        self.velocity = velocity
        self.length = length
        self.width = width
        self.speed_limit = speed_limit
        self.target = target

    def pose(self) -> tuple[float, float, float]:
        return self.path.state(self.path.clamp(self.progress))

    def corners(self) -> NDArray[np.float64]:
        x, y, h = self.pose()
        return box_corners(np.array([x, y]), h, self.length, self.width)

    def polygon(self) -> shapely.Polygon:
        return shapely.Polygon(self.corners())

    def footprint(self, headway: float) -> shapely.Geometry:
        start = self.path.clamp(self.progress - self.length / 2)
        end = self.path.clamp(self.progress + self.length / 2 + self.velocity * headway)
        line = shapely.LineString(self.path.trim(start, end))
        return shapely.unary_union([line.buffer(self.width / 2, cap_style="flat"), self.polygon()])

    def propagate(self, lead_distance: float, lead_velocity: float, lead_length_rear: float,
                  cfg: IDMTrafficConfig) -> None:
        if self.speed_limit is not None and self.speed_limit > 0.0:
            self.target = self.speed_limit
        v = self.velocity
        s_star = cfg.min_gap_to_lead_agent + v * cfg.headway_time + (v * (v - lead_velocity)) / (
            2 * math.sqrt(cfg.accel_max * cfg.decel_max)
        )
        s_alpha = max(lead_distance - 0 - lead_length_rear, cfg.min_gap_to_lead_agent)
        v_dot = cfg.accel_max * (1 - (v / self.target) ** 4 - (s_star / s_alpha) ** 2)
        self.progress += 0 + cfg.step_s * v
        self.velocity = max(v + cfg.step_s * min(max(-cfg.decel_max, v_dot), cfg.accel_max), 0)


@dataclass
class _Vehicle:
    """A current-frame vehicle: raw box and what the parked-vehicle rule needs."""

    token: str
    center: NDArray[np.float64]
    heading: float
    length: float
    width: float
    speed: float
    corners: NDArray[np.float64]
    in_lanes: bool
    lateral: float | None


def _vehicles(cache_tracks: dict[str, Any], map_api: MapAPI) -> list[_Vehicle]:
    out = []
    for i, (token, kind) in enumerate(zip(cache_tracks["tokens"], cache_tracks["types"], strict=True)):
        if kind != "vehicle":
            continue
        c = np.asarray(cache_tracks["centers"][i], dtype=np.float64)
        h = float(cache_tracks["headings"][i])
        length, width = (float(v) for v in cache_tracks["sizes"][i][:2])
        vel = np.asarray(cache_tracks["velocities"][i], dtype=np.float64)
        out.append(_Vehicle(str(token), c, h, length, width, float(np.hypot(vel[0], vel[1])),
                            box_corners(c, h, length, width), False, None))
    return out


def _build_agents(
    vehicles: list[_Vehicle], initial_pose: NDArray[np.float64], map_api: MapAPI, cfg: IDMTrafficConfig,
    vehicle: VehicleParameters,
) -> tuple[dict[str, _Agent], dict[str, shapely.Geometry]]:
    """navsim ``build_idm_agents_on_map_rails`` (and the static facts of the parked-vehicle rule)."""
    agents: dict[str, _Agent] = {}
    occupancy: dict[str, shapely.Geometry] = {}
    taken = [shapely.Polygon(ego_corners(initial_pose, vehicle))]
    for v in vehicles:
        x, y = float(v.center[0]), float(v.center[1])
        v.in_lanes = map_api.is_in_layer((x, y), SemanticMapLayer.LANE) or map_api.is_in_layer(
            (x, y), SemanticMapLayer.INTERSECTION
        )
        seg, progress = starting_segment(map_api, x, y, v.heading)
        if seg is None:
            continue
        sx, sy, sh, _ = _nearest_pose(seg.baseline, x, y)
        v.lateral = float(np.hypot(sx - x, sy - y))
        if v.lateral > cfg.idm_snap_threshold or v.token in agents:
            continue
        box = shapely.Polygon(box_corners(np.array([sx, sy]), sh, v.length, v.width))
        if any(box.intersects(g) for g in taken):
            continue
        taken.append(box)
        occupancy[v.token] = box
        target = seg.speed_limit_mps or cfg.target_velocity
        agents[v.token] = _Agent(_Path(seg.discrete_path), float(progress), v.speed, v.length, v.width,
                                 seg.speed_limit_mps, target)
    return agents, occupancy


def _ego_box(ego: NDArray[np.float64], vehicle: VehicleParameters) -> NDArray[np.float64]:
    """navsim's ego box of a simulated state: ``CarFootprint(center=<rear axle pose>)`` — centred on the axle."""
    return box_corners(ego[..., :2], ego[..., S.HEADING], vehicle.length, vehicle.width)


def _nearest(own: shapely.Geometry, others: list[tuple[str, shapely.Geometry]]) -> tuple[str, shapely.Geometry]:
    """The first of ``others`` at the smallest (GEOS) distance from ``own``."""
    d = shapely.distance(own, np.array([g for _, g in others], dtype=object))
    return others[int(np.argmin(d))]


def _lead_distance(own: Any, other: Any) -> Any:
    """navsim's lead distance: the distance between the ``nearest_points`` pair (vectorised over arrays)."""
    line = shapely.shortest_line(own, other)
    a = shapely.get_point(line, 0)
    b = shapely.get_point(line, 1)
    return shapely.distance(a, b)


def _propagate(
    agents: dict[str, _Agent],
    occupancy: dict[str, shapely.Geometry],
    ego: NDArray[np.float64] | None,
    cfg: IDMTrafficConfig,
    vehicle: VehicleParameters,
    buffers: list[shapely.Geometry] | None = None,
) -> None:
    """nuplan / navsim ``IDMAgentManager.propagate_agents`` for one 0.1 s step (no traffic lights, no open-loop
    objects); ``ego`` = the simulated ego state ``[11]`` of the previous step, or ``None`` for the ego-free
    rollout shared by the candidates that never interact (then ``buffers`` collects each agent's path buffer)."""
    if ego is not None:
        ex, ey = float(ego[S.X]), float(ego[S.Y])
        occupancy["ego"] = shapely.Polygon(_ego_box(ego, vehicle))
        if agents:
            far = [t for t, a in agents.items() if math.dist((ex, ey), a.pose()[:2]) > cfg.radius]
            for t in far:
                occupancy.pop(t)
                agents.pop(t)
    for token, agent in agents.items():
        for key in occupancy:
            occupancy[key] = shapely.simplify(occupancy[key], SIMPLIFY_TOLERANCE, preserve_topology=True)
        buffer = shapely.LineString(agent.path.to_go(agent.path.clamp(agent.progress))).buffer(
            agent.width / 2, cap_style="flat"
        )
        if buffers is not None:
            buffers.append(buffer)
        ids, geoms = list(occupancy), list(occupancy.values())
        tree = shapely.STRtree(geoms)
        hits = [int(i) for i in tree.query(buffer) if geoms[int(i)].intersects(buffer)]
        inter = {ids[i]: geoms[i] for i in hits}
        if token not in inter:
            raise RuntimeError(f"IDM agent {token}: its path does not intersect its own footprint")
        if len(inter) > 1:
            # the nearest other geometry (navsim: STRtree.nearest; on exactly equal distances GEOS's tree order
            # decides there, here the occupancy order does)
            others = [(key, occupancy[key]) for key in occupancy if key in inter and key not in token]
            nearest_id, nearest = _nearest(inter[token], others)
            distance = float(_lead_distance(inter[token], nearest))
            heading = agent.pose()[2]
            if "ego" in nearest_id:
                assert ego is not None
                speed, relative = math.hypot(ego[S.VELOCITY_X], ego[S.VELOCITY_Y]), float(ego[S.HEADING]) - heading
            elif "stop_line" in nearest_id:
                speed, relative = 0.0, 0.0
            elif nearest_id in agents:
                lead = agents[nearest_id]
                speed, relative = lead.velocity, lead.pose()[2] - heading
            else:
                speed, relative = 0.0, 0.0
            relative = float(principal_value(relative))
            agent.propagate(distance, speed * math.cos(relative), 0.0, cfg)
        else:
            agent.propagate(agent.path.end - agent.progress, 0.0, agent.length / 2, cfg)
        occupancy[token] = agent.footprint(cfg.headway_time)


def _frame_boxes(
    agents: dict[str, _Agent], vehicles: list[_Vehicle], cfg: IDMTrafficConfig
) -> dict[str, NDArray[np.float64]]:
    """navsim ``NavsimIDMAgents.get_observation``: agent boxes, plus the parked vehicles that qualify."""
    return _parked({t: a.corners() for t, a in agents.items()}, vehicles, cfg)


def _parked(
    boxes: dict[str, NDArray[np.float64]], vehicles: list[_Vehicle], cfg: IDMTrafficConfig
) -> dict[str, NDArray[np.float64]]:
    """Add the current-frame vehicles that are not agents and stay as parked (open-loop) vehicles."""
    if not cfg.add_open_loop_parked_vehicles or not vehicles:
        return boxes
    active: list[shapely.Polygon] | None = None
    out = dict(boxes)
    for v in vehicles:
        if v.token in boxes:
            continue
        stationary = v.speed < 0.1
        off_rails = v.lateral is not None and v.lateral > cfg.idm_snap_threshold
        if not ((stationary and not v.in_lanes) or off_rails):
            continue
        if active is None:
            active = [shapely.Polygon(c) for c in boxes.values()]
        poly = shapely.Polygon(v.corners)
        if any(poly.intersects(a) for a in active):
            continue
        out[v.token] = v.corners
    return out


def _idm_step(
    v: float, target: float, speed_limit: float | None, lead_distance: float, lead_velocity: float,
    lead_length_rear: float, cfg: IDMTrafficConfig,
) -> tuple[float, float, float]:
    """One forward-Euler IDM step (the arithmetic of :meth:`_Agent.propagate`): (progress delta, speed, target)."""
    if speed_limit is not None and speed_limit > 0.0:
        target = speed_limit
    s_star = cfg.min_gap_to_lead_agent + v * cfg.headway_time + (v * (v - lead_velocity)) / (
        2 * math.sqrt(cfg.accel_max * cfg.decel_max)
    )
    s_alpha = max(lead_distance - 0 - lead_length_rear, cfg.min_gap_to_lead_agent)
    v_dot = cfg.accel_max * (1 - (v / target) ** 4 - (s_star / s_alpha) ** 2)
    return 0 + cfg.step_s * v, max(v + cfg.step_s * min(max(-cfg.decel_max, v_dot), cfg.accel_max), 0), target


class _Lockstep:
    """The per-ego IDM loop of :func:`_propagate` for many egos at once (same rules, one shapely call per agent
    and step for all egos). Candidates join at their own first step; their agents start from the shared
    rollout's state of that step."""

    def __init__(self, tokens: list[str], template: dict[str, _Agent], n: int) -> None:
        self.tokens = tokens
        self.template = template
        j = len(tokens)
        self.progress = np.zeros((n, j))
        self.velocity = np.zeros((n, j))
        self.target = np.zeros((n, j))
        self.alive = np.zeros((n, j), dtype=bool)
        self.occ = np.full((n, j), None, dtype=object)
        self.ego = np.full(n, None, dtype=object)

    def load(self, c: int, agents: dict[str, _Agent], occupancy: dict[str, shapely.Geometry]) -> None:
        for j, token in enumerate(self.tokens):
            a = agents.get(token)
            self.alive[c, j] = a is not None
            if a is not None:
                self.progress[c, j], self.velocity[c, j], self.target[c, j] = a.progress, a.velocity, a.target
                self.occ[c, j] = occupancy[token]

    def poses(self, rows: NDArray[np.int64], j: int) -> NDArray[np.float64]:
        a = self.template[self.tokens[j]]
        p = np.clip(self.progress[rows, j], a.path.start, a.path.end)
        return a.path.states(p)

    def step(self, rows: NDArray[np.int64], ego: NDArray[np.float64], cfg: IDMTrafficConfig,
             vehicle: VehicleParameters) -> None:
        """One 0.1 s step for candidates ``rows`` with their egos ``[len(rows), 11]`` of the previous step."""
        self.ego[rows] = shapely.polygons(_closed(_ego_box(ego, vehicle)))
        for j in range(len(self.tokens)):  # radius filter
            live = rows[self.alive[rows, j]]
            if len(live):
                xy = self.poses(live, j)[:, :2]
                e = ego[np.searchsorted(rows, live), :2]
                far = np.sqrt(((e - xy) ** 2).sum(-1)) > cfg.radius
                self.alive[live[far], j] = False
                self.occ[live[far], j] = None
        for j, token in enumerate(self.tokens):
            act = rows[self.alive[rows, j]]
            if not len(act):
                continue
            agent = self.template[token]
            path = agent.path
            live = self.alive[act]
            self.occ[act] = np.where(live, shapely.simplify(self.occ[act], SIMPLIFY_TOLERANCE, preserve_topology=True), None)
            self.ego[act] = shapely.simplify(self.ego[act], SIMPLIFY_TOLERANCE, preserve_topology=True)
            p = np.clip(self.progress[act, j], path.start, path.end)
            buf = shapely.buffer(path.lines_to_go(p), agent.width / 2, cap_style="flat")
            hit = live & shapely.intersects(self.occ[act], buf[:, None])
            hit_ego = shapely.intersects(self.ego[act], buf)
            if not hit[:, j].all():
                raise RuntimeError(f"IDM agent {token}: its path does not intersect its own footprint")
            heading = self.poses(act, j)[:, 2]
            rows_ego = np.searchsorted(rows, act)
            own = self.occ[act, j]
            others = [(jj, t) for jj, t in enumerate(self.tokens) if t not in token]
            ego_other = "ego" not in token
            n_hits = hit.sum(axis=1) + hit_ego
            for r, c in enumerate(act):
                v = float(self.velocity[c, j])
                if n_hits[r] > 1:
                    cands = [(jj, t) for jj, t in others if hit[r, jj]]
                    geoms = [self.occ[c, jj] for jj, _ in cands]
                    keys = [t for _, t in cands]
                    if ego_other and hit_ego[r]:
                        geoms.append(self.ego[c])
                        keys.append("ego")
                    d = shapely.distance(own[r], np.array(geoms, dtype=object))
                    k = int(np.argmin(d))
                    nearest_id, nearest = keys[k], geoms[k]
                    distance = float(_lead_distance(own[r], nearest))
                    h = float(heading[r])
                    if "ego" in nearest_id:
                        e = ego[rows_ego[r]]
                        speed, relative = math.hypot(e[S.VELOCITY_X], e[S.VELOCITY_Y]), float(e[S.HEADING]) - h
                    elif "stop_line" in nearest_id:
                        speed, relative = 0.0, 0.0
                    else:
                        jj = self.tokens.index(nearest_id)
                        speed = float(self.velocity[c, jj])
                        relative = float(self.poses(np.array([c]), jj)[0, 2]) - h
                    relative = float(principal_value(relative))
                    dp, nv, tg = _idm_step(v, float(self.target[c, j]), agent.speed_limit, distance,
                                           speed * math.cos(relative), 0.0, cfg)
                else:
                    dp, nv, tg = _idm_step(v, float(self.target[c, j]), agent.speed_limit,
                                           path.end - float(self.progress[c, j]), 0.0, agent.length / 2, cfg)
                self.progress[c, j] += dp
                self.velocity[c, j] = nv
                self.target[c, j] = tg
            self.occ[act, j] = self._footprints(act, j, cfg)

    def _footprints(self, act: NDArray[np.int64], j: int, cfg: IDMTrafficConfig) -> NDArray[np.object_]:
        agent = self.template[self.tokens[j]]
        path = agent.path
        prog, vel = self.progress[act, j], self.velocity[act, j]
        start = np.clip(prog - agent.length / 2, path.start, path.end)
        end = np.clip(prog + agent.length / 2 + vel * cfg.headway_time, path.start, path.end)
        buf = shapely.buffer(path.lines_trim(start, end), agent.width / 2, cap_style="flat")
        return shapely.union_all(np.stack([buf, shapely.polygons(_closed(self.boxes(act, j)))], axis=1), axis=1)

    def boxes(self, act: NDArray[np.int64], j: int) -> NDArray[np.float64]:
        agent = self.template[self.tokens[j]]
        pose = self.poses(act, j)
        return box_corners(pose[:, :2], pose[:, 2], agent.length, agent.width)

    def frames(
        self, rows: NDArray[np.int64], vehicles: list[_Vehicle], cfg: IDMTrafficConfig
    ) -> list[dict[str, NDArray[np.float64]]]:
        """:func:`_frame_boxes` of candidates ``rows``."""
        out: list[dict[str, NDArray[np.float64]]] = [{} for _ in rows]
        for j, token in enumerate(self.tokens):
            live = np.flatnonzero(self.alive[rows, j])
            if len(live):
                boxes = self.boxes(rows[live], j)
                for r, box in zip(live, boxes, strict=True):
                    out[r][token] = box
        return [_parked(b, vehicles, cfg) for b in out]


def _closed(corners: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.concatenate([corners, corners[..., :1, :]], axis=-2)


def _clone(agents: dict[str, _Agent], occupancy: dict[str, shapely.Geometry]) -> tuple[dict, dict]:
    return {t: copy.copy(a) for t, a in agents.items()}, dict(occupancy)


def reactive_observations(
    cache: Any,
    ego_states: NDArray[np.float64],
    map_api: MapAPI,
    cfg: IDMTrafficConfig = IDMTrafficConfig(),
    vehicle: VehicleParameters = PACIFICA,
) -> list[Observation]:
    """The 41-step observations navsim's reactive policy gives for K simulated egos ``[K, 41, 11]`` (global).

    One rollout without the ego is shared by every candidate whose ego never matters to the agents: at no step is
    an agent farther than ``radius`` from it, and its box never touches an agent's buffered path-to-go (the only
    ways the ego enters ``propagate_agents``). A candidate is re-simulated with its ego from the first step where
    it matters, starting from the shared state of that step.

    Args:
        cache: the scene's :class:`~inspatio_drive.pdm.v2.cache.EPDMSCache` (needs ``current_tracks``).
        ego_states: the simulated ego states of the plans being scored.
        map_api: the scene's map.
    """
    tracks = cache.current_tracks
    if tracks is None:
        raise ValueError(
            f"scene {cache.token}: the EPDMS cache has no current tracks (rebuild it); traffic=reactive needs them"
        )
    obs: Observation = cache.base.observation
    n_steps = obs.num_steps
    egos = np.asarray(ego_states, dtype=np.float64)
    if egos.ndim != 3 or egos.shape[1:] != (n_steps, 11):
        raise ValueError(f"reactive traffic: ego states must be [K, {n_steps}, 11], got {egos.shape}")
    k = len(egos)
    vehicles = _vehicles(tracks, map_api)
    agents, occupancy = _build_agents(vehicles, cache.base.initial_state[:3], map_api, cfg, vehicle)
    is_vehicle = np.array([t == "vehicle" for t in obs.types], dtype=bool)
    keep = np.flatnonzero(~is_vehicle | obs.present[:, 0])  # logged vehicles appearing later: not in this world
    rows = {obs.tokens[m]: r for r, m in enumerate(keep)}
    template = obs.corners[keep].copy()
    template[[r for r, m in enumerate(keep) if is_vehicle[m]], 1:] = np.nan

    # shared ego-free rollout: state at the start of each step, agent buffers, frame boxes
    snapshots, buffers, frames = [], [], []
    for _ in range(1, n_steps):
        snapshots.append(_clone(agents, occupancy))
        step_buffers: list[shapely.Geometry] = []
        _propagate(agents, occupancy, None, cfg, vehicle, step_buffers)
        buffers.append(step_buffers)
        frames.append(_frame_boxes(agents, vehicles, cfg))
    shared = template.copy()
    for step, boxes in enumerate(frames, start=1):
        for token, box in boxes.items():
            shared[rows[token], step] = box

    # first step at which each candidate's ego matters (n_steps = never)
    diverge = np.full(k, n_steps, dtype=np.int64)
    ego_polys = shapely.polygons(np.concatenate([_ego_box(egos, vehicle), _ego_box(egos, vehicle)[:, :, :1]], axis=2))
    for step in range(1, n_steps):
        todo = np.flatnonzero(diverge == n_steps)
        if not len(todo):
            break
        agents_at, _ = snapshots[step - 1]
        if agents_at:
            poses = np.array([a.pose()[:2] for a in agents_at.values()])
            ego_xy = egos[todo, step - 1, :2]
            far = (np.sqrt(((ego_xy[:, None, :] - poses[None]) ** 2).sum(-1)) > cfg.radius).any(axis=1)
            touch = np.zeros(len(todo), dtype=bool)
            for buffer in buffers[step - 1]:
                touch |= shapely.intersects(ego_polys[todo, step - 1], buffer)
            diverge[todo[far | touch]] = step

    vehicle_rows = [r for r, m in enumerate(keep) if is_vehicle[m]]
    per_cand = {}
    late = np.flatnonzero(diverge < n_steps)
    if len(late):
        tokens = list(snapshots[0][0])
        lock = _Lockstep(tokens, snapshots[0][0], k)
        for c in late:
            per_cand[int(c)] = shared.copy()
            per_cand[int(c)][vehicle_rows, diverge[c]:] = np.nan
        for step in range(int(diverge[late].min()), n_steps):
            for c in late[diverge[late] == step]:
                lock.load(int(c), *snapshots[step - 1])
            rows_now = late[diverge[late] <= step]
            lock.step(rows_now, egos[rows_now, step - 1], cfg, vehicle)
            for c, boxes in zip(rows_now, lock.frames(rows_now, vehicles, cfg), strict=True):
                for token, box in boxes.items():
                    per_cand[int(c)][rows[token], step] = box
    return [
        Observation(
            tokens=[obs.tokens[m] for m in keep],
            types=[obs.types[m] for m in keep],
            corners=per_cand.get(c, shared),
            headings=obs.headings[keep],
            velocities=obs.velocities[keep],
            is_agent=obs.is_agent[keep],
            step_s=obs.step_s,
        )
        for c in range(k)
    ]


def reactive_observation(
    cache: Any,
    ego_states: NDArray[np.float64],
    map_api: MapAPI,
    cfg: IDMTrafficConfig = IDMTrafficConfig(),
    vehicle: VehicleParameters = PACIFICA,
) -> Observation:
    """:func:`reactive_observations` of one simulated ego ``[41, 11]``."""
    return reactive_observations(cache, np.asarray(ego_states)[None], map_api, cfg, vehicle)[0]


def reactive_observation_reference(
    cache: Any,
    ego_states: NDArray[np.float64],
    map_api: MapAPI,
    cfg: IDMTrafficConfig = IDMTrafficConfig(),
    vehicle: VehicleParameters = PACIFICA,
) -> Observation:
    """The reactive observation of one ego simulated step by step with the ego in every step (navsim's loop,
    no shared rollout): the reference of :func:`reactive_observations`."""
    tracks = cache.current_tracks
    if tracks is None:
        raise ValueError(f"scene {cache.token}: the EPDMS cache has no current tracks (rebuild it)")
    obs: Observation = cache.base.observation
    n_steps = obs.num_steps
    vehicles = _vehicles(tracks, map_api)
    agents, occupancy = _build_agents(vehicles, cache.base.initial_state[:3], map_api, cfg, vehicle)
    is_vehicle = np.array([t == "vehicle" for t in obs.types], dtype=bool)
    keep = np.flatnonzero(~is_vehicle | obs.present[:, 0])
    corners = obs.corners[keep].copy()
    rows = {obs.tokens[m]: r for r, m in enumerate(keep)}
    corners[[r for r, m in enumerate(keep) if is_vehicle[m]], 1:] = np.nan
    for step in range(1, n_steps):
        _propagate(agents, occupancy, ego_states[step - 1], cfg, vehicle)
        for token, box in _frame_boxes(agents, vehicles, cfg).items():
            corners[rows[token], step] = box
    return Observation(
        tokens=[obs.tokens[m] for m in keep],
        types=[obs.types[m] for m in keep],
        corners=corners,
        headings=obs.headings[keep],
        velocities=obs.velocities[keep],
        is_agent=obs.is_agent[keep],
        step_s=obs.step_s,
    )
