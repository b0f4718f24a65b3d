"""Scenario catalogue and the seeded scene generator :func:`generate_scene`.

Every scene is a 4-way intersection (arm 0 east, 1 north, 2 west, 3 south; lights green for arms 1/3,
red for 0/2). The ego approaches from the south (arm 3). A scenario adds its defining actors on top of
seeded background traffic, pedestrians, cyclists, parked cars and scenery. Same (scenario, seed,
params) → the same world, bit for bit.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from inspatio_drive.sandbox.actors import (
    EGO_LENGTH,
    EGO_REAR_TO_CENTER,
    EGO_WIDTH,
    Actor,
    Driver,
    Track,
    _offset,
    _Path,
    simulate,
)
from inspatio_drive.sandbox.roads import (
    CURB_WIDTH,
    LANE_WIDTH,
    SIDEWALK_WIDTH,
    RoadNetwork,
    build_road_network,
    ego_route,
    route_path,
)
from inspatio_drive.sandbox.world import FRAME_INTERVAL, World, token

EGO_ARM = 3
GREEN_ARMS = (1, 3)
DEFAULT_ORIGIN = (664000.0, 3997000.0)  # UTM 11N, near Las Vegas (nuPlan's us-nv-las-vegas-strip)
CAR_COLORS = [(0.75, 0.1, 0.1), (0.9, 0.9, 0.92), (0.1, 0.1, 0.12), (0.15, 0.25, 0.6), (0.5, 0.5, 0.55),
              (0.85, 0.7, 0.1), (0.2, 0.45, 0.3), (0.6, 0.35, 0.2)]
CLOTHES = [(0.2, 0.2, 0.5), (0.6, 0.1, 0.1), (0.1, 0.4, 0.2), (0.8, 0.7, 0.2), (0.3, 0.3, 0.3)]


@dataclass
class Spec:
    """What a scenario asks of the generator."""

    lanes: tuple[int, int, int, int]
    curves: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    out_arm: int = 1  # ego exit arm (1 straight, 2 left, 0 right)
    ego_lane: int = 0
    ego_before_stop: float = 75.0  # m between ego and the stop line at t = 0
    ego_speed: float = 11.0
    ego_stop_until: float = 0.0  # ego yields at the stop line until this time (s)
    drivers: list[tuple[Driver, Actor]] = field(default_factory=list)
    statics: list[Actor] = field(default_factory=list)
    ego_offsets: list[tuple[float, float, float, float]] = field(default_factory=list)
    ego_v_des: float | None = None
    reserved_lanes: set[int] = field(default_factory=set)  # no background traffic on these lanes


@dataclass
class _Ctx:
    rng: np.random.Generator
    name: str
    counter: int = 0

    def tok(self, kind: str) -> str:
        self.counter += 1
        return token(self.name, kind, self.counter)


def _car(ctx: _Ctx, color: tuple[float, float, float] | None = None) -> tuple[tuple[float, float, float], tuple]:
    rng = ctx.rng
    size = (float(rng.uniform(4.3, 5.0)), float(rng.uniform(1.8, 2.0)), float(rng.uniform(1.45, 1.75)))
    col = color or CAR_COLORS[int(rng.integers(len(CAR_COLORS)))]
    return size, col


def _moving(ctx: _Ctx, kind: str, driver: Driver, size, color) -> tuple[Driver, Actor]:
    driver.length, driver.width = size[0], size[1]
    return driver, Actor(kind, size, color, Track.static(0, 0, 0), ctx.tok(kind))  # track set after simulate()


def _static_on_path(ctx: _Ctx, kind: str, path: LineString, s: float, d: float, size, color,
                    dh: float = 0.0) -> Actor:
    p = path.interpolate(s)
    q = path.interpolate(min(s + 0.5, path.length))
    if q.distance(p) < 1e-6:
        q, p = p, path.interpolate(s - 0.5)
    h = float(np.arctan2(q.y - p.y, q.x - p.x))
    x, y = p.x - d * np.sin(h), p.y + d * np.cos(h)
    return Actor(kind, size, color, Track.static(float(x), float(y), h + dh), ctx.tok(kind))


# ---------------------------------------------------------------------------------------------- catalogue


def _plain_cruising(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    spec.ego_speed = float(ctx.rng.uniform(10.0, 13.0))


def _lead_vehicle_braking(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    size, col = _car(ctx)
    gap = float(ctx.rng.uniform(18.0, 26.0))
    s_ego = stop_s - spec.ego_before_stop
    drv = Driver(ego_path, s_ego + EGO_REAR_TO_CENTER + gap, spec.ego_speed, spec.ego_speed,
                 brake=(float(ctx.rng.uniform(2.0, 3.0)), float(ctx.rng.uniform(4.5, 6.0))))
    spec.drivers.append(_moving(ctx, "car", drv, size, col))


def _cut_in(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    size, col = _car(ctx)
    s_ego = stop_s - spec.ego_before_stop
    # the cutting car drives one lane to the right (negative offset) and merges into the ego lane
    s0 = s_ego + EGO_REAR_TO_CENTER + EGO_LENGTH / 2 + size[0] / 2 + float(ctx.rng.uniform(6.0, 12.0))
    v0 = spec.ego_speed - 1.0
    t_merge = float(ctx.rng.uniform(1.5, 2.5))
    sa = s0 + v0 * t_merge
    drv = Driver(ego_path, s0, v0, v0, offsets=[(sa, sa + 2.5 * v0, -LANE_WIDTH, 0.0)])
    spec.reserved_lanes.add(net.lanes_of(EGO_ARM, True)[spec.ego_lane + 1].fid)  # the cutting car's lane
    spec.drivers.append(_moving(ctx, "car", drv, size, col))


def _pedestrian_crossing(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    s_ego = stop_s - spec.ego_before_stop
    s_cross = s_ego + float(ctx.rng.uniform(45.0, 55.0))
    p = ego_path.interpolate(s_cross)
    q = ego_path.interpolate(s_cross + 1.0)
    h = np.arctan2(q.y - p.y, q.x - p.x)
    n = np.array([-np.sin(h), np.cos(h)])
    right = LANE_WIDTH * (spec.lanes[EGO_ARM] - spec.ego_lane - 0.5) + CURB_WIDTH + 1.0
    a = np.array([p.x, p.y]) - n * right
    b = np.array([p.x, p.y]) + n * (LANE_WIDTH * (spec.lanes[EGO_ARM] + spec.ego_lane + 0.5) + 2.0)
    size = (0.6, 0.6, float(ctx.rng.uniform(1.6, 1.85)))
    drv = Driver(LineString([a, b]), 0.0, 0.0, float(ctx.rng.uniform(1.2, 1.6)), idm=False,
                 start_time=float(ctx.rng.uniform(0.5, 1.5)))
    spec.drivers.append(_moving(ctx, "pedestrian", drv, size, CLOTHES[int(ctx.rng.integers(len(CLOTHES)))]))


def _parked_car_blocking(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    size, col = _car(ctx)
    s_ego = stop_s - spec.ego_before_stop
    s_car = s_ego + float(ctx.rng.uniform(40.0, 50.0))
    spec.statics.append(_static_on_path(ctx, "car", ego_path, s_car, -0.3, size, col))
    spec.statics.append(_static_on_path(ctx, "cone", ego_path, s_car - size[0] / 2 - 3.0, -0.8, (0.4, 0.4, 0.7),
                                        (1.0, 0.45, 0.05)))
    if spec.lanes[EGO_ARM] >= 2:  # change to the lane on the left before the obstacle, then stay there
        spec.reserved_lanes.add(net.lanes_of(EGO_ARM, True)[spec.ego_lane - 1].fid)  # a free target lane
        sa = s_car - 35.0
        spec.ego_offsets = [(sa, sa + 30.0, 0.0, LANE_WIDTH)]


def _unprotected_left_turn(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float,
                           spec: Spec) -> None:
    # oncoming traffic from the north going straight south
    onc_lanes = net.lanes_of(1, True)
    spec.reserved_lanes.update(lane.fid for lane in onc_lanes)
    t_last = 0.0
    for k, lane in enumerate(onc_lanes[:2]):
        fids, _ = ego_route(net, 1, 3, lane_index=k)
        path = route_path(net, fids)
        stop = net.lanes[fids[0]].baseline.length
        dist = float(ctx.rng.uniform(8.0, 25.0))
        v = float(ctx.rng.uniform(9.0, 12.0))
        size, col = _car(ctx)
        spec.drivers.append(_moving(ctx, "car", Driver(path, stop - dist, v, v), size, col))
        t_last = max(t_last, (dist + 15.0) / v)
        del lane
    spec.ego_stop_until = t_last + 0.5


def _curve_with_barrier(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    spec.ego_speed = float(ctx.rng.uniform(9.0, 11.0))
    # jersey barriers along the outer edge of the curve on the ego side
    ref = net.arms[EGO_ARM].reference
    curve = spec.curves[EGO_ARM]
    # outer edge seen driving outwards: a left curve (positive) has its outer edge on the right (out lanes)
    side = -1.0 if curve > 0 else 1.0
    # on the curb line, ~1.1 m outside the outer lane edge (the road edge stays drivable)
    width = (net.arms[EGO_ARM].half_width_out if side < 0 else net.arms[EGO_ARM].half_width_in) + 1.4
    s = 40.0
    while s < 125.0:
        spec.statics.append(_static_on_path(ctx, "barrier", ref, s, side * width, (3.0, 0.6, 0.9),
                                            (0.92, 0.92, 0.9)))
        s += 3.2


def _narrow_gap(ctx: _Ctx, net: RoadNetwork, ego_path: LineString, stop_s: float, spec: Spec) -> None:
    s_ego = stop_s - spec.ego_before_stop
    s0 = s_ego + 30.0
    for k in range(3):
        size, col = _car(ctx)
        spec.statics.append(_static_on_path(ctx, "car", ego_path, s0 + k * 6.5, -(LANE_WIDTH / 2 + 0.9), size, col))
    for k in range(7):
        spec.statics.append(_static_on_path(ctx, "cone", ego_path, s0 - 2 + k * 3.5, LANE_WIDTH / 2 + 0.15,
                                            (0.4, 0.4, 0.7), (1.0, 0.45, 0.05)))
    spec.ego_v_des = 5.0
    spec.ego_speed = 7.0


SCENARIOS: dict[str, tuple[Callable, dict]] = {
    "plain_cruising": (_plain_cruising, {}),
    "lead_vehicle_braking": (_lead_vehicle_braking, {"ego_before_stop": 85.0}),
    "cut_in": (_cut_in, {"min_lanes": 2}),
    "pedestrian_crossing": (_pedestrian_crossing, {"ego_before_stop": 85.0}),
    "parked_car_blocking": (_parked_car_blocking, {"min_lanes": 2, "ego_before_stop": 85.0}),
    "unprotected_left_turn": (_unprotected_left_turn, {"out_arm": 2, "ego_before_stop": 30.0,
                                                       "ego_speed": 7.0}),
    "curve_with_barrier": (_curve_with_barrier, {"curve": True, "ego_before_stop": 110.0}),
    "narrow_gap": (_narrow_gap, {"ego_before_stop": 70.0}),
}


# ---------------------------------------------------------------------------------------------- background


def _background(ctx: _Ctx, net: RoadNetwork, spec: Spec, ego_lane_fid: int, density: float) -> None:
    rng = ctx.rng
    for lane in net.lanes.values():
        group = net.lane_groups[lane.lane_group_fid]
        if lane.fid == ego_lane_fid or lane.fid in spec.reserved_lanes:
            continue
        n = int(rng.poisson(density * lane.baseline.length / 60.0))
        used: list[float] = []
        for _ in range(n):
            s = float(rng.uniform(5.0, lane.baseline.length - 8.0))
            if any(abs(s - u) < 14.0 for u in used):
                continue
            used.append(s)
            size, col = _car(ctx)
            if group.inbound:
                outs = [b for b in range(4) if b != group.arm]
                out = outs[int(rng.integers(len(outs)))]
                try:
                    fids, _ = ego_route(net, group.arm, out, lane_index=lane.lane_index)
                except ValueError:
                    fids = [lane.fid]
                if fids[0] != lane.fid:
                    fids = [lane.fid]
                path = route_path(net, fids)
                stops = [] if group.arm in GREEN_ARMS else [(lane.baseline.length - 1.0, 1e9)]
            else:
                path, stops = lane.baseline, []
            v = float(rng.uniform(7.0, 12.0)) if not stops else float(rng.uniform(3.0, 8.0))
            spec.drivers.append(_moving(ctx, "car", Driver(path, s, v, v + 1.0, stops=stops), size, col))
        # a cyclist on some outer lanes
        if lane.lane_index == len(group.lane_fids) - 1 and rng.random() < 0.25 * density:
            path = lane.baseline.offset_curve(-(LANE_WIDTH / 2 - 0.6))
            s = float(rng.uniform(5.0, path.length * 0.6))
            if all(abs(s - u) > 12.0 for u in used):
                drv = Driver(path, s, 4.5, 5.0, stops=[] if group.arm in GREEN_ARMS or not group.inbound
                             else [(path.length - 1.0, 1e9)])
                spec.drivers.append(_moving(ctx, "cyclist", drv, (1.8, 0.6, 1.7), CLOTHES[int(rng.integers(5))]))
    # pedestrians walking along sidewalks
    for line in net.walkway_lines.values():
        if rng.random() > 0.6 * density:
            continue
        if rng.random() < 0.5:
            line = line.reverse()
        drv = Driver(line, float(rng.uniform(5, line.length * 0.7)), 1.3, float(rng.uniform(1.1, 1.5)), idm=False)
        spec.drivers.append(_moving(ctx, "pedestrian", drv, (0.6, 0.6, float(rng.uniform(1.6, 1.85))),
                                    CLOTHES[int(rng.integers(5))]))


def _scenery(ctx: _Ctx, net: RoadNetwork, spec: Spec) -> None:
    rng = ctx.rng
    road = net.road_surface().buffer(CURB_WIDTH + SIDEWALK_WIDTH + 1.0)
    taken = [road]
    for arm in net.arms:
        ref = arm.reference
        for side, w in ((1.0, arm.half_width_in), (-1.0, arm.half_width_out)):
            # trees and poles on the sidewalk
            s = float(rng.uniform(8.0, 16.0))
            while s < ref.length - 5:
                kind = "tree" if rng.random() < 0.6 else "pole"
                size = (3.0, 3.0, float(rng.uniform(4.5, 6.5))) if kind == "tree" else (0.35, 0.35, 6.0)
                col = (0.35, 0.25, 0.15) if kind == "tree" else (0.55, 0.55, 0.58)
                spec.statics.append(_static_on_path(ctx, kind, ref, s, side * (w + CURB_WIDTH + 1.2), size, col))
                s += float(rng.uniform(12.0, 22.0))
            # buildings / walls behind the sidewalk
            s = float(rng.uniform(5.0, 12.0))
            while s < ref.length - 10:
                length = float(rng.uniform(10.0, 22.0))
                depth = float(rng.uniform(8.0, 14.0))
                kind = "building" if rng.random() < 0.8 else "wall"
                if kind == "wall":
                    depth = 0.4
                height = float(rng.uniform(6.0, 20.0)) if kind == "building" else 2.2
                setback = float(rng.uniform(1.5, 5.0))
                d = side * (w + CURB_WIDTH + SIDEWALK_WIDTH + setback + depth / 2)
                actor = _static_on_path(ctx, kind, ref, s + length / 2, d, (length, depth, height),
                                        tuple(float(c) for c in rng.uniform(0.45, 0.85, 3)))
                x, y, h = actor.track.poses[0]
                box = shapely.affinity.rotate(shapely.box(-length / 2, -depth / 2, length / 2, depth / 2), h,
                                              use_radians=True, origin=(0, 0))
                box = shapely.affinity.translate(box, x, y)
                if not any(box.intersects(t) for t in taken):
                    spec.statics.append(actor)
                    taken.append(box)
                s += length + float(rng.uniform(2.0, 8.0))
    # parked cars in the car park
    for poly in net.carparks.values():
        minx, miny, maxx, maxy = poly.bounds
        along_x = (maxx - minx) > (maxy - miny)
        n = int((max(maxx - minx, maxy - miny) - 4) // 2.8)
        for k in range(n):
            if rng.random() < 0.35:
                continue
            for row in (0.25, 0.75):
                if rng.random() < 0.3:
                    continue
                if along_x:
                    x, y, h = minx + 2.5 + k * 2.8, miny + row * (maxy - miny), np.pi / 2
                else:
                    x, y, h = minx + row * (maxx - minx), miny + 2.5 + k * 2.8, 0.0
                if not poly.contains(Point(x, y)):
                    continue
                size, col = _car(ctx)
                spec.statics.append(Actor("car", size, col, Track.static(x, y, h + np.pi * (row > 0.5)),
                                          ctx.tok("car")))


def _driven_line(driver: Driver, step: float = 1.0) -> LineString:
    p = _Path(driver.path)
    s = np.arange(0.0, p.length + 40.0, step)
    off = np.array([_offset(driver.offsets, x) for x in s])
    return LineString(p.pose(s, off[:, 0], off[:, 1])[:, :2])


def generate_scene(
    scenario: str,
    seed: int,
    *,
    num_frames: int = 14,
    density: float = 1.0,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    name: str | None = None,
    extra_time: float = 4.0,
) -> World:
    """Generate one seeded sandbox world.

    Args:
        scenario: a key of :data:`SCENARIOS`.
        seed: random seed; the same (scenario, seed, arguments) give the same world.
        num_frames: logged 2 Hz frames (navsim scene: 4 history + 10 future = 14).
        density: background traffic / pedestrian density multiplier (0 = none).
        origin: UTM coordinates of the local origin.
        name: log name (default ``sandbox-<scenario>-<seed>``).
        extra_time: seconds simulated after the last frame (so the oracle can look beyond it).
    """
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; expected one of {sorted(SCENARIOS)}")
    fn, opts = SCENARIOS[scenario]
    name = name or f"sandbox-{scenario.replace('_', '-')}-{seed:04d}"
    rng = np.random.default_rng([seed, zlib.crc32(scenario.encode())])
    ctx = _Ctx(rng, name)
    lanes = [int(x) for x in rng.integers(1, 4, size=4)]
    lanes[EGO_ARM] = max(lanes[EGO_ARM], opts.get("min_lanes", 1))
    curves = [0.0, 0.0, 0.0, 0.0]
    for i in (0, 2):
        if rng.random() < 0.3:
            curves[i] = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.7))
    if opts.get("curve"):
        curves[EGO_ARM] = float(rng.choice([-1, 1]) * rng.uniform(0.6, 0.9))
    net = build_road_network(tuple(lanes), tuple(curves), carpark_arm=int(rng.choice([0, 1, 2])))
    spec = Spec(tuple(lanes), tuple(curves), out_arm=opts.get("out_arm", 1),
                ego_before_stop=opts.get("ego_before_stop", 75.0), ego_speed=opts.get("ego_speed", 11.0))
    spec.ego_lane = 0 if spec.out_arm == 2 else int(rng.integers(0, lanes[EGO_ARM]))
    if scenario in ("cut_in",):
        spec.ego_lane = int(rng.integers(0, lanes[EGO_ARM] - 1))
    if scenario == "parked_car_blocking":
        spec.ego_lane = lanes[EGO_ARM] - 1  # the blocked lane is the outer one; the ego changes to its left
    fids, roadblocks = ego_route(net, EGO_ARM, spec.out_arm, lane_index=spec.ego_lane)
    path = route_path(net, fids)
    stop_s = net.lanes[fids[0]].baseline.length
    fn(ctx, net, path, stop_s, spec)
    _background(ctx, net, spec, fids[0], density)
    _scenery(ctx, net, spec)

    duration = (num_frames - 1) * FRAME_INTERVAL + extra_time
    ego_s0 = max(stop_s - spec.ego_before_stop, 0.0)
    ego_driver = Driver(path, ego_s0, spec.ego_speed, spec.ego_v_des or spec.ego_speed, length=EGO_LENGTH,
                        width=EGO_WIDTH, center_offset=EGO_REAR_TO_CENTER, offsets=spec.ego_offsets,
                        stops=[(stop_s - 1.0, spec.ego_stop_until)] if spec.ego_stop_until > 0 else [],
                        a_max=1.8, b_comf=3.0)
    # drop background drivers that start overlapping the ego or each other's first seconds
    drivers = [ego_driver] + [d for d, _ in spec.drivers]
    obstacles = np.array([[*a.track.poses[0, :2], a.size[0], a.size[1]] for a in spec.statics
                          if a.kind in ("car", "cone", "barrier")]).reshape(-1, 4)
    tracks = simulate(drivers, obstacles, duration)
    # the route centre line the ego intends to follow (its lane-change offsets included)
    route_line = _driven_line(ego_driver)
    moving = []
    for (_, actor), tr in zip(spec.drivers, tracks[1:]):
        actor.track = tr
        moving.append(actor)
    lights = sorted((c.fid, net.lane_groups[net.lanes[c.exit_lane_fid].lane_group_fid].arm not in GREEN_ARMS)
                    for c in net.connectors.values())
    params = {"num_frames": num_frames, "density": density, "origin": list(origin), "name": name,
              "extra_time": extra_time}
    return World(
        name=name, scenario=scenario, seed=seed, params=params, network=net, actors=moving + spec.statics,
        ego=tracks[0], route_fids=fids, roadblock_ids=roadblocks, route_path=route_line, traffic_lights=lights,
        origin=(float(origin[0]), float(origin[1])), location=name, num_frames=num_frames,
        start_timestamp=1_600_000_000_000_000 + (zlib.crc32(name.encode()) % 10**6) * 10**6,
    )
