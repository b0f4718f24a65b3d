"""Procedural road network: a 4-way intersection with straight or curved arms, 1–3 lanes per direction,
sidewalks, crosswalks and a parking area, held as shapely geometry in plain dataclasses.

Conventions: local metric frame (x east, y north, metres), right-hand traffic. Every lane / connector
``baseline`` runs in the direction of travel. Connector naming follows nuPlan's GPKG: a connector's
``exit_lane_fid`` is the lane it leaves (predecessor), ``entry_lane_fid`` the lane it enters (successor).
Feature ids (``fid``) are unique integers across all layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from numpy.typing import NDArray
from shapely.geometry import LineString, Polygon

LANE_WIDTH = 3.5  # m
SIDEWALK_WIDTH = 3.0  # m
CURB_WIDTH = 0.3  # m


@dataclass
class Lane:
    fid: int
    lane_group_fid: int
    lane_index: int  # 0 = next to the road centre line
    baseline: LineString  # direction of travel
    width: float
    speed_limit_mps: float
    left_boundary_fid: int
    right_boundary_fid: int

    @property
    def polygon(self) -> Polygon:
        return self.baseline.buffer(self.width / 2.0, cap_style="flat")


@dataclass
class LaneGroup:
    """A nuPlan roadblock: the lanes of one arm in one direction."""

    fid: int
    arm: int
    inbound: bool  # towards the intersection
    lane_fids: list[int]
    polygon: Polygon


@dataclass
class LaneConnector:
    fid: int
    exit_lane_fid: int  # predecessor lane
    entry_lane_fid: int  # successor lane
    lane_group_connector_fid: int
    baseline: LineString
    width: float
    speed_limit_mps: float
    turn: str  # "left" | "straight" | "right"
    stop_line_fid: int

    @property
    def polygon(self) -> Polygon:
        return self.baseline.buffer(self.width / 2.0, cap_style="flat")


@dataclass
class LaneGroupConnector:
    """A nuPlan roadblock connector: all connectors from one lane group to another."""

    fid: int
    from_lane_group_fid: int
    to_lane_group_fid: int
    intersection_fid: int
    connector_fids: list[int]
    polygon: Polygon


@dataclass
class Boundary:
    fid: int
    kind: str  # "center" (double yellow) | "lane" (dashed white) | "edge" (solid white)
    geometry: LineString


@dataclass
class Arm:
    """One road leaving the intersection: reference line from the intersection edge outwards."""

    index: int
    reference: LineString  # road centre line, outward
    lanes_out: int
    lanes_in: int

    @property
    def half_width_out(self) -> float:
        return self.lanes_out * LANE_WIDTH

    @property
    def half_width_in(self) -> float:
        return self.lanes_in * LANE_WIDTH


@dataclass
class RoadNetwork:
    arms: list[Arm]
    lanes: dict[int, Lane]
    lane_groups: dict[int, LaneGroup]
    connectors: dict[int, LaneConnector]
    lane_group_connectors: dict[int, LaneGroupConnector]
    boundaries: dict[int, Boundary]
    intersections: dict[int, Polygon]
    stop_lines: dict[int, Polygon]
    crosswalks: dict[int, Polygon]
    walkways: dict[int, Polygon]
    carparks: dict[int, Polygon]
    walkway_lines: dict[int, LineString] = field(default_factory=dict)  # sidewalk centre lines, outward
    # lookups
    arm_lane_groups: dict[tuple[int, bool], int] = field(default_factory=dict)  # (arm, inbound) -> lane group

    def lanes_of(self, arm: int, inbound: bool) -> list[Lane]:
        """Lanes of one arm and direction ordered by ``lane_index`` (0 = next to the centre line)."""
        group = self.lane_groups[self.arm_lane_groups[(arm, inbound)]]
        return [self.lanes[f] for f in group.lane_fids]

    def connector(self, exit_lane_fid: int, entry_lane_fid: int) -> LaneConnector:
        for c in self.connectors.values():
            if c.exit_lane_fid == exit_lane_fid and c.entry_lane_fid == entry_lane_fid:
                return c
        raise KeyError(f"no lane connector from lane {exit_lane_fid} to lane {entry_lane_fid}")

    def road_surface(self) -> shapely.Geometry:
        """Union of every drivable polygon (lanes, connectors, intersections, car parks)."""
        parts = [g.polygon for g in self.lane_groups.values()]
        parts += [c.polygon for c in self.connectors.values()]
        parts += list(self.intersections.values()) + list(self.carparks.values())
        return shapely.union_all(parts)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        geoms = [g.polygon for g in self.lane_groups.values()] + list(self.walkways.values())
        geoms += list(self.carparks.values())
        return shapely.union_all(geoms).bounds


def _arc_reference(start: NDArray, heading: float, straight: float, radius: float, angle: float,
                   tail: float, step: float = 1.0) -> LineString:
    """Polyline: ``straight`` m along ``heading``, an arc of ``radius`` turning by ``angle`` (rad, left
    positive), then ``tail`` m straight."""
    pts = [start + np.array([np.cos(heading), np.sin(heading)]) * s for s in np.arange(0.0, straight, step)]
    p = start + np.array([np.cos(heading), np.sin(heading)]) * straight
    h = heading
    if abs(angle) > 1e-6 and radius > 0:
        n = max(int(abs(angle) * radius / step), 2)
        sign = np.sign(angle)
        center = p + radius * sign * np.array([-np.sin(h), np.cos(h)])
        for k in range(n):
            a = h + sign * k * abs(angle) / n
            pts.append(center + radius * sign * np.array([np.sin(a), -np.cos(a)]))
        h = heading + angle
        p = center + radius * sign * np.array([np.sin(h), -np.cos(h)])
    for s in np.arange(0.0, tail + 1e-9, step):
        pts.append(p + np.array([np.cos(h), np.sin(h)]) * s)
    return LineString(np.round(np.asarray(pts), 9)).simplify(1e-4)


def _bezier(p0: NDArray, h0: float, p1: NDArray, h1: float, n: int = 24) -> LineString:
    """Cubic Bezier from ``p0`` leaving along ``h0`` to ``p1`` arriving along ``h1``."""
    d = float(np.linalg.norm(p1 - p0))
    c0 = p0 + 0.42 * d * np.array([np.cos(h0), np.sin(h0)])
    c1 = p1 - 0.42 * d * np.array([np.cos(h1), np.sin(h1)])
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c0 + 3 * (1 - t) * t**2 * c1 + t**3 * p1
    return LineString(pts)


def _end_pose(line: LineString, at_end: bool) -> tuple[NDArray, float]:
    c = np.asarray(line.coords)
    a, b = (c[-2], c[-1]) if at_end else (c[0], c[1])
    p = c[-1] if at_end else c[0]
    return p, float(np.arctan2(b[1] - a[1], b[0] - a[0]))


def _turn_of(in_arm: int, out_arm: int) -> str:
    """Arms are numbered counter-clockwise (0 east, 1 north, 2 west, 3 south)."""
    d = (out_arm - in_arm) % 4
    return {2: "straight", 1: "right", 3: "left"}[d]


def build_road_network(
    lanes_per_direction: tuple[int, int, int, int] = (2, 2, 2, 2),
    curves: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    arm_length: float = 160.0,
    curve_start: float = 45.0,
    curve_radius: float = 70.0,
    speed_limit_mps: float = 13.4,
    carpark_arm: int | None = 1,
) -> RoadNetwork:
    """Build the 4-way intersection network.

    Args:
        lanes_per_direction: lanes in each direction of arm 0 (east), 1 (north), 2 (west), 3 (south).
        curves: turn angle (rad, left positive, seen driving outwards) of a curve on each arm.
        arm_length: length of each arm's reference line (m, approximately, including the curve).
        curve_start: distance from the intersection edge where a curve starts (m).
        curve_radius: curve radius of the road centre line (m).
        speed_limit_mps: speed limit of every lane and connector.
        carpark_arm: arm beside which a parking area is laid out (``None``: no parking area).
    """
    for n in lanes_per_direction:
        if not 1 <= n <= 3:
            raise ValueError(f"lanes_per_direction must be 1..3, got {lanes_per_direction}")
    fid = iter(range(1000, 10**7))
    half = max(lanes_per_direction) * LANE_WIDTH + 4.0  # arms start here (curb corner of the junction)
    cut = 5.0  # crosswalk + stop line band between the arms' start and their lanes
    setback = half + cut  # half side of the square intersection polygon (from stop line to stop line)
    inter_fid = next(fid)
    intersection = Polygon([(-setback, -setback), (setback, -setback), (setback, setback), (-setback, setback)])

    arms: list[Arm] = []
    for i in range(4):
        h = i * np.pi / 2.0
        start = np.array([np.cos(h), np.sin(h)]) * half
        ang = float(curves[i])
        arc_len = abs(ang) * curve_radius
        tail = max(arm_length - curve_start - arc_len, 10.0)
        ref = _arc_reference(start, h, curve_start, curve_radius, ang, tail)
        arms.append(Arm(i, ref, lanes_per_direction[i], lanes_per_direction[i]))

    lanes: dict[int, Lane] = {}
    groups: dict[int, LaneGroup] = {}
    boundaries: dict[int, Boundary] = {}
    arm_groups: dict[tuple[int, bool], int] = {}
    walkways: dict[int, Polygon] = {}
    walkway_lines: dict[int, LineString] = {}
    crosswalks: dict[int, Polygon] = {}
    stop_lines: dict[int, Polygon] = {}
    stop_line_of_arm: dict[int, int] = {}
    for arm in arms:
        ref = arm.reference
        center_fid = next(fid)
        boundaries[center_fid] = Boundary(center_fid, "center", ref)
        for inbound in (False, True):
            n = arm.lanes_in if inbound else arm.lanes_out
            sign = 1.0 if inbound else -1.0  # inbound lanes lie left of the outward reference
            gfid = next(fid)
            lane_fids = []
            prev_boundary = center_fid
            for k in range(n):
                offset = sign * (k + 0.5) * LANE_WIDTH
                line = ref.offset_curve(offset)
                if inbound:
                    line = line.reverse()
                outer = ref.offset_curve(sign * (k + 1) * LANE_WIDTH)
                bfid = next(fid)
                boundaries[bfid] = Boundary(bfid, "edge" if k == n - 1 else "lane", outer)
                lfid = next(fid)
                # seen along travel: inbound lanes have the centre on their left, outbound on their left too
                lanes[lfid] = Lane(lfid, gfid, k, line, LANE_WIDTH, speed_limit_mps, prev_boundary, bfid)
                lane_fids.append(lfid)
                prev_boundary = bfid
            poly = shapely.union_all([lanes[f].polygon for f in lane_fids]).buffer(0.01).buffer(-0.01)
            groups[gfid] = LaneGroup(gfid, arm.index, inbound, lane_fids, poly)
            arm_groups[(arm.index, inbound)] = gfid
        # sidewalks on both sides, a curb apart from the outer lane edges
        for side, width in ((1.0, arm.half_width_in), (-1.0, arm.half_width_out)):
            walk_ref = shapely.ops.substring(ref, cut, ref.length)  # sidewalks end at the intersection
            a = walk_ref.offset_curve(side * (width + CURB_WIDTH))
            b = walk_ref.offset_curve(side * (width + CURB_WIDTH + SIDEWALK_WIDTH))
            wfid = next(fid)
            walkways[wfid] = Polygon(np.concatenate([np.asarray(a.coords), np.asarray(b.coords)[::-1]]))
            walkway_lines[wfid] = walk_ref.offset_curve(side * (width + CURB_WIDTH + SIDEWALK_WIDTH / 2))
        # crosswalk just outside the intersection, stop line before it on the inbound side
        h = arm.index * np.pi / 2.0
        u, nrm = np.array([np.cos(h), np.sin(h)]), np.array([-np.sin(h), np.cos(h)])
        c0, c1 = half + 0.5, half + 4.5
        wl, wr = arm.half_width_in + CURB_WIDTH, arm.half_width_out + CURB_WIDTH
        cfid = next(fid)
        crosswalks[cfid] = Polygon([u * c0 - nrm * wr, u * c1 - nrm * wr, u * c1 + nrm * wl, u * c0 + nrm * wl])
        sfid = next(fid)
        stop_lines[sfid] = Polygon([u * c1, u * (c1 + 0.5), u * (c1 + 0.5) + nrm * wl, u * c1 + nrm * wl])
        stop_line_of_arm[arm.index] = sfid

    # pull inbound lanes back to the stop line and outbound lanes to the crosswalk end
    for lane in lanes.values():
        inbound = groups[lane.lane_group_fid].inbound
        length = lane.baseline.length
        lane.baseline = shapely.ops.substring(lane.baseline, 0.0, length - cut) if inbound else \
            shapely.ops.substring(lane.baseline, cut, length)
    for g in groups.values():
        g.polygon = shapely.union_all([lanes[f].polygon for f in g.lane_fids]).buffer(0.01).buffer(-0.01)

    connectors: dict[int, LaneConnector] = {}
    lgcs: dict[int, LaneGroupConnector] = {}
    for a in arms:
        ins = [lanes[f] for f in groups[arm_groups[(a.index, True)]].lane_fids]
        for b in arms:
            if b.index == a.index:
                continue
            outs = [lanes[f] for f in groups[arm_groups[(b.index, False)]].lane_fids]
            turn = _turn_of(a.index, b.index)
            if turn == "straight":
                pairs = [(ins[k], outs[min(k, len(outs) - 1)]) for k in range(len(ins))]
            elif turn == "left":
                pairs = [(ins[0], outs[0])]
            else:
                pairs = [(ins[-1], outs[-1])]
            lgc_fid = next(fid)
            cfids = []
            for li, lo in pairs:
                p0, h0 = _end_pose(li.baseline, at_end=True)
                p1, h1 = _end_pose(lo.baseline, at_end=False)
                line = LineString([p0, p1]) if turn == "straight" else _bezier(p0, h0, p1, h1)
                cf = next(fid)
                connectors[cf] = LaneConnector(cf, li.fid, lo.fid, lgc_fid, line, LANE_WIDTH,
                                               speed_limit_mps * (1.0 if turn == "straight" else 0.6), turn,
                                               stop_line_of_arm[a.index])
                cfids.append(cf)
            poly = shapely.union_all([connectors[c].polygon for c in cfids])
            lgcs[lgc_fid] = LaneGroupConnector(lgc_fid, arm_groups[(a.index, True)],
                                               arm_groups[(b.index, False)], inter_fid, cfids, poly)

    carparks: dict[int, Polygon] = {}
    if carpark_arm is not None:
        arm = arms[carpark_arm]
        ref = arm.reference
        s0, s1 = 12.0, min(50.0, ref.length * 0.5)
        seg = shapely.ops.substring(ref, s0, s1)
        inner = seg.offset_curve(arm.half_width_in + CURB_WIDTH + SIDEWALK_WIDTH + 0.2)
        outer = seg.offset_curve(arm.half_width_in + CURB_WIDTH + SIDEWALK_WIDTH + 0.2 + 16.0)
        carparks[next(fid)] = Polygon(np.concatenate([np.asarray(inner.coords), np.asarray(outer.coords)[::-1]]))

    return RoadNetwork(arms, lanes, groups, connectors, lgcs, boundaries, {inter_fid: intersection},
                       stop_lines, crosswalks, walkways, carparks, walkway_lines, arm_groups)


def route_path(network: RoadNetwork, lane_fids: list[int]) -> LineString:
    """Concatenate lane / connector baselines (fids in travel order) into one polyline."""
    pts: list[NDArray] = []
    for f in lane_fids:
        line = network.lanes[f].baseline if f in network.lanes else network.connectors[f].baseline
        c = np.asarray(line.coords)
        if pts and np.linalg.norm(pts[-1][-1] - c[0]) < 1e-6:
            c = c[1:]
        pts.append(c)
    return LineString(np.concatenate(pts))


def ego_route(network: RoadNetwork, in_arm: int, out_arm: int, lane_index: int = 0) -> tuple[list[int], list[str]]:
    """Lane-level route through the intersection and the roadblock ids of the route.

    Returns:
        ``(lane/connector fids in travel order, roadblock ids [in lane group, lane group connector,
        out lane group] as str)``.
    """
    ins = network.lanes_of(in_arm, True)
    turn = _turn_of(in_arm, out_arm)
    lane_in = ins[0] if turn == "left" else ins[-1] if turn == "right" else ins[min(lane_index, len(ins) - 1)]
    cands = [c for c in network.connectors.values() if c.exit_lane_fid == lane_in.fid
             and network.lanes[c.entry_lane_fid].lane_group_fid == network.arm_lane_groups[(out_arm, False)]]
    if not cands:
        raise ValueError(f"no connector from arm {in_arm} lane {lane_in.lane_index} to arm {out_arm}")
    conn = cands[0]
    roadblocks = [str(lane_in.lane_group_fid), str(conn.lane_group_connector_fid),
                  str(network.lanes[conn.entry_lane_fid].lane_group_fid)]
    return [lane_in.fid, conn.fid, conn.entry_lane_fid], roadblocks
