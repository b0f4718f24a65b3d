"""Route handling of PDM-Closed (navsim v1.1 ``route_utils``, ``AbstractPDMPlanner``, graph searches).

* :func:`correct_route`: the logged route roadblocks, corrected when the ego starts off-route (backward BFS
  from the first route roadblock, else forward BFS to one of the first three), with missing links filled
  (forward BFS between consecutive roadblocks) and loops cut (a roadblock connector overlapping an earlier
  one by more than 1 m²).
* :func:`starting_lane`: the on-route lane / connector under the rear axle with the smallest heading error,
  else the one containing the ego centre or closest to the ego box.
* :func:`centerline_lanes`: Dijkstra over on-route lanes (cost = baseline length) from the starting lane to
  the last roadblock of a window of 30 route roadblocks; if no path is found, the cheapest deepest one.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.maps import MapAPI, SemanticMapLayer
from inspatio_drive.maps.objects import Lane, LaneConnector, Roadblock, RoadblockConnector
from inspatio_drive.pdm.cache.geometry import normalize_angle
from inspatio_drive.pdm.types import DrivableAreaMap

__all__ = ["Route", "centerline_lanes", "correct_route", "load_route", "starting_lane"]

L = SemanticMapLayer
Block = Roadblock | RoadblockConnector
LaneEdge = Lane | LaneConnector


class Route:
    """Ordered on-route roadblocks (and connectors) and their lanes (navsim ``_route_roadblock_dict`` /
    ``_route_lane_dict``)."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks: dict[str, Block] = {}
        self.lanes: dict[str, LaneEdge] = {}
        for b in blocks:
            self.blocks[b.id] = b
            for lane in b.interior_edges:
                self.lanes[lane.id] = lane

    @property
    def roadblock_ids(self) -> list[str]:
        return list(self.blocks)

    @property
    def lane_ids(self) -> list[str]:
        return list(self.lanes)


def _block(map_api: MapAPI, block_id: str) -> Block | None:
    obj = map_api.get_map_object(block_id, L.ROADBLOCK) or map_api.get_map_object(
        block_id, L.ROADBLOCK_CONNECTOR
    )
    return obj  # type: ignore[return-value]


def load_route(map_api: MapAPI, roadblock_ids: list[str]) -> Route:
    """Route from roadblock / roadblock-connector ids (duplicates dropped, order kept)."""
    blocks: list[Block] = []
    for rid in dict.fromkeys(str(r) for r in roadblock_ids):
        b = _block(map_api, rid)
        if b is None:
            raise ValueError(
                f"route roadblock id {rid!r} is neither a roadblock nor a roadblock connector of map {map_api.path}"
            )
        blocks.append(b)
    return Route(blocks)


def _bfs(
    map_api: MapAPI, start_id: str, targets: list[str], max_depth: int, forward: bool
) -> tuple[list[Block], bool]:
    """navsim ``BreadthFirstSearchRoadBlock``: level-by-level search; returns (path, found). The path runs
    from the start to the target (forward) or from the target back to the start (backward search), and on
    failure ends at the last node enqueued."""
    start = _block(map_api, start_id)
    if start is None:
        raise ValueError(f"route search: unknown roadblock {start_id!r}")
    queue: deque[Block | None] = deque([start, None])
    parent: dict[str, Block | None] = {f"{start.id}_1": None}
    end, end_depth, depth, found = start, 1, 1, False
    target_set = set(targets)
    while queue:
        current = queue.popleft()
        if depth > max_depth:
            break
        if current is None:
            depth += 1
            queue.append(None)
            if queue[0] is None:
                break
            continue
        if current.id in target_set and depth <= max_depth:
            end, end_depth, found = current, depth, True
            break
        for nxt in current.outgoing_edges if forward else current.incoming_edges:
            queue.append(nxt)
            parent[f"{nxt.id}_{depth + 1}"] = current
            end, end_depth = nxt, depth + 1
    path = [end]
    node, d = end, end_depth
    while parent[f"{node.id}_{d}"] is not None:
        node = parent[f"{node.id}_{d}"]  # type: ignore[assignment]
        path.append(node)
        d -= 1
    if forward:
        path.reverse()
    return path, found


def _roadblock_candidates(
    ego_pose: NDArray[np.float64], map_api: MapAPI, route: Route
) -> tuple[Block, list[Block]]:
    """navsim ``get_current_roadblock_candidates`` (1 m box, heading error < π/4, displacement < 3 m)."""
    found = map_api.get_proximal_map_objects(ego_pose[:2], 1.0, [L.ROADBLOCK, L.ROADBLOCK_CONNECTOR])
    candidates: list[Block] = [*found[L.ROADBLOCK], *found[L.ROADBLOCK_CONNECTOR]]  # type: ignore[list-item]
    if not candidates:
        for layer in (L.ROADBLOCK, L.ROADBLOCK_CONNECTOR):
            ident, _ = map_api.get_distance_to_nearest_map_object(ego_pose[:2], layer)
            obj = map_api.get_map_object(ident, layer) if ident is not None else None
            if obj is not None:
                candidates.append(obj)  # type: ignore[arg-type]
    if not candidates:
        raise ValueError(f"map {map_api.path} has no roadblocks near the ego at {ego_pose[:2].tolist()}")
    on_route, on_route_err, other, other_err = [], [], [], []
    block_disp, block_head = [], []
    for block in candidates:
        best_disp, best_head = np.inf, np.inf
        for lane in block.interior_edges:
            path = lane.discrete_path
            dist = ((path[:, :2] - ego_pose[None, :2]) ** 2.0).sum(axis=-1) ** 0.5
            k = int(np.argmin(dist))
            head_err = abs(float(normalize_angle(path[k, 2] - ego_pose[2])))
            disp = float(dist[k])
            if disp < best_disp:
                best_head, best_disp = head_err, disp
            if head_err < np.pi / 4 and disp < 3.0:
                if block.id in route.blocks:
                    on_route.append(block)
                    on_route_err.append(disp)
                else:
                    other.append(block)
                    other_err.append(disp)
        block_disp.append(best_disp)
        block_head.append(best_head)
    if on_route:
        return on_route[int(np.argmin(on_route_err))], on_route
    if other:
        return other[int(np.argmin(other_err))], other
    return candidates[int(np.argmin(block_disp))], candidates


def _remove_loops(blocks: list[Block]) -> list[Block]:
    """Cut the route at the first roadblock connector overlapping an earlier connector by > 1 m²."""
    seen: list[shapely.Polygon] = []
    for idx, block in enumerate(blocks):
        if not isinstance(block, RoadblockConnector):
            continue
        if not seen:
            seen.append(block.polygon)
            continue
        for poly in seen:
            if shapely.intersects(poly, block.polygon) and poly.intersection(block.polygon).area > 1:
                return blocks[:idx] if idx else blocks
        seen.append(block.polygon)
    return blocks


def correct_route(
    ego_pose: NDArray[np.float64],
    map_api: MapAPI,
    route: Route,
    search_depth_backward: int = 15,
    search_depth_forward: int = 30,
) -> Route:
    """navsim ``route_roadblock_correction`` for the ego rear-axle pose ``[3]``."""
    if not route.blocks:
        raise ValueError("route correction: the logged route has no roadblocks")
    start, start_candidates = _roadblock_candidates(np.asarray(ego_pose, dtype=np.float64), map_api, route)
    start_ids = [b.id for b in start_candidates]
    blocks = list(route.blocks.values())
    ids = list(route.blocks)
    if start.id not in ids:  # fix 1: ego starts off-route
        path, found = _bfs(map_api, ids[0], start_ids, search_depth_backward, forward=False)
        if found:
            blocks[:0] = path[:-1]
            ids[:0] = [b.id for b in path[:-1]]
        else:
            path, found = _bfs(map_api, start.id, ids[:3], search_depth_forward, forward=True)
            if found:
                end_idx = int(np.argmax(np.array(ids) == path[-1].id))
                blocks, ids = blocks[end_idx + 1 :], ids[end_idx + 1 :]
                blocks[:0] = path
                ids[:0] = [b.id for b in path]
    # fix 2: link consecutive roadblocks that are not connected
    to_insert: dict[int, list[Block]] = {}
    for i in range(len(blocks) - 1):
        if ids[i] in [b.id for b in blocks[i + 1].incoming_edges]:
            continue
        path, found = _bfs(map_api, ids[i], [ids[i + 1]], search_depth_forward, forward=True)
        if found and path and len(path) >= 3:
            to_insert[i] = path[1:-1]
    offset = 1
    for i, path in to_insert.items():
        blocks[i + offset : i + offset] = path
        offset += len(path)
    # fix 3: cut loops
    return Route(_remove_loops(blocks))


def starting_lane(
    ego_pose: NDArray[np.float64],
    ego_box: shapely.Polygon,
    ego_center_xy: NDArray[np.float64],
    route: Route,
    drivable: DrivableAreaMap,
) -> LaneEdge:
    """navsim ``_get_starting_lane``: on-route lane under the rear axle with the smallest heading error,
    else the first on-route lane containing the ego centre, else the one nearest to the ego box."""
    pose = np.asarray(ego_pose, dtype=np.float64)
    hits = drivable.tree.query(shapely.Point(pose[0], pose[1]), predicate="intersects")
    lanes, errors = [], []
    for idx in hits:
        token = drivable.tokens[int(idx)]
        if token in route.lanes:
            lane = route.lanes[token]
            path = lane.discrete_path
            dist = ((pose[None, :2] - path[:, :2]) ** 2).sum(axis=-1) ** 0.5
            err = abs(float(normalize_angle(path[int(np.argmin(dist)), 2] - pose[2])))
            lanes.append(lane)
            errors.append(err)
    if lanes:
        return lanes[int(np.argmin(np.abs(errors)))]
    best, best_d = None, np.inf
    center = shapely.Point(float(ego_center_xy[0]), float(ego_center_xy[1]))
    for lane in route.lanes.values():
        if lane.polygon.contains(center):
            return lane
        d = lane.polygon.distance(ego_box)
        if d < best_d:
            best, best_d = lane, d
    if best is None:
        raise ValueError("PDM-Closed: the route has no lanes")
    return best


def _dijkstra(start: LaneEdge, candidate_ids: set[str], target_block_id: str) -> tuple[list[LaneEdge], bool]:
    """navsim ``Dijkstra.search`` (cost = baseline length, start cost 1, ties → earliest enqueued)."""
    queue: list[LaneEdge] = [start]
    frontier: list[str] = [start.id]
    dist: list[float] = [1.0]
    depth: list[int] = [1]
    parent: dict[str, LaneEdge | None] = {start.id: None}
    expanded: list[LaneEdge] = []
    expanded_ids: set[str] = set()
    expanded_dist: list[float] = []
    expanded_depth: list[int] = []
    end, found = start, False
    while queue:
        idx = min(range(len(dist)), key=lambda i: (dist[i], i))
        d, current, current_depth = dist[idx], queue[idx], depth[idx]
        del dist[idx], queue[idx], frontier[idx], depth[idx]
        if current.get_roadblock_id() == target_block_id:
            end, found = current, True
            break
        expanded.append(current)
        expanded_ids.add(current.id)
        expanded_dist.append(d)
        expanded_depth.append(current_depth)
        for nxt in current.outgoing_edges:
            if nxt.id not in candidate_ids:
                continue
            alt = d + nxt.length
            if nxt.id not in expanded_ids and nxt.id not in frontier:
                parent[nxt.id] = current
                queue.append(nxt)
                frontier.append(nxt.id)
                dist.append(alt)
                depth.append(current_depth + 1)
            elif nxt.id in frontier:
                j = frontier.index(nxt.id)
                if alt < dist[j]:
                    parent[nxt.id] = current
                    dist[j] = alt
                    depth[j] = current_depth + 1
    if not found:
        max_depth = max(expanded_depth)
        at_max = [i for i, dd in enumerate(expanded_depth) if dd == max_depth]
        best = min(at_max, key=lambda i: (expanded_dist[i], i))
        end = expanded[best]
    path = [end]
    while parent[path[-1].id] is not None:
        path.append(parent[path[-1].id])  # type: ignore[arg-type]
    path.reverse()
    return path, found


def centerline_lanes(start: LaneEdge, route: Route, search_depth: int = 30) -> list[LaneEdge]:
    """Lanes of the PDM centerline (navsim ``_get_discrete_centerline``)."""
    ids = np.array(route.roadblock_ids)
    blocks = list(route.blocks.values())
    start_idx = int(np.argmax(ids == start.get_roadblock_id()))
    window = blocks[start_idx : start_idx + search_depth]
    path, _ = _dijkstra(start, set(route.lanes), window[-1].id)
    return path


def centerline_path(lanes: list[LaneEdge]) -> NDArray[np.float64]:
    """Concatenated baseline discrete paths ``[N, 3]`` (joint vertices duplicated, heading not unwrapped)."""
    return np.concatenate([lane.discrete_path for lane in lanes], axis=0)
