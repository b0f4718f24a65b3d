"""Route correction, Dijkstra centerline, forecast observation and IDM on small synthetic maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.maps import (
    LaneConnectorSpec,
    LaneSpec,
    MapSpec,
    RoadblockConnectorSpec,
    RoadblockSpec,
    write_maps_root,
)
from inspatio_drive.maps import load_map as open_map
from inspatio_drive.pdm.cache.config import IDMConfig
from inspatio_drive.pdm.cache.forecast import forecast_observation
from inspatio_drive.pdm.cache.geometry import ego_center, ego_corners
from inspatio_drive.pdm.cache.pdm_closed import idm_step
from inspatio_drive.pdm.cache.route import centerline_lanes, centerline_path, correct_route, load_route
from inspatio_drive.pdm.cache.scene_input import Detections

X0, Y0 = 500000.0, 4000000.0


def _seg(a: float, b: float) -> tuple[shapely.LineString, shapely.Polygon]:
    xs = np.linspace(a, b, int(b - a) + 1)
    return (
        shapely.LineString(np.column_stack([X0 + xs, np.full_like(xs, Y0)])),
        shapely.box(X0 + a, Y0 - 2, X0 + b, Y0 + 2),
    )


@pytest.fixture(scope="module")
def chain_map(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Roadblocks 100 → (101) → 200 → (201) → 300 along +x; 401 duplicates 101's polygon (200 → 100)."""
    spec = MapSpec(crs="EPSG:32611")
    for rb, lane, (a, b) in ((100, 10, (0, 50)), (200, 20, (60, 110)), (300, 30, (120, 170))):
        line, poly = _seg(a, b)
        spec.roadblocks.append(RoadblockSpec(rb, poly))
        spec.lanes.append(LaneSpec(lane, rb, line, poly, speed_limit_mps=10.0))
    for rbc, lc, frm, to, lane_from, lane_to, (a, b) in (
        (101, 11, 100, 200, 10, 20, (50, 60)),
        (201, 21, 200, 300, 20, 30, (110, 120)),
    ):
        line, poly = _seg(a, b)
        spec.roadblock_connectors.append(RoadblockConnectorSpec(rbc, frm, to, poly))
        spec.lane_connectors.append(LaneConnectorSpec(lc, lane_from, lane_to, rbc, line, poly))
    line, poly = _seg(50, 60)
    spec.roadblock_connectors.append(RoadblockConnectorSpec(401, 200, 100, poly))
    spec.lane_connectors.append(LaneConnectorSpec(41, 20, 10, 401, shapely.reverse(line), poly))
    root = write_maps_root(tmp_path_factory.mktemp("maps"), {"us-nv-las-vegas-strip": spec})
    return open_map(root, "us-nv-las-vegas-strip")


EGO = np.array([X0 + 20.0, Y0, 0.0])


def test_route_correction_prepends_start_roadblock(chain_map) -> None:  # type: ignore[no-untyped-def]
    route = correct_route(EGO, chain_map, load_route(chain_map, ["200", "201", "300"]))
    assert route.roadblock_ids == ["100", "101", "200", "201", "300"]
    assert route.lane_ids == ["10", "11", "20", "21", "30"]


def test_route_correction_fills_missing_links_and_cuts_loops(chain_map) -> None:  # type: ignore[no-untyped-def]
    route = correct_route(EGO, chain_map, load_route(chain_map, ["100", "200", "300", "300"]))
    assert route.roadblock_ids == ["100", "101", "200", "201", "300"]
    looped = correct_route(EGO, chain_map, load_route(chain_map, ["100", "101", "200", "401"]))
    assert looped.roadblock_ids == ["100", "101", "200"]  # 401 overlaps 101 by 40 m² → cut


def test_unknown_route_roadblock_is_a_clear_error(chain_map) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="'999'"):
        load_route(chain_map, ["100", "999"])


def test_dijkstra_centerline_follows_route(chain_map) -> None:  # type: ignore[no-untyped-def]
    route = correct_route(EGO, chain_map, load_route(chain_map, ["100", "200", "300"]))
    lanes = centerline_lanes(chain_map.get_lane(10), route)
    assert [lane.id for lane in lanes] == ["10", "11", "20", "21", "30"]
    path = centerline_path(lanes)
    assert len(path) == 51 + 11 + 51 + 11 + 51  # joint vertices duplicated
    # target roadblock unreachable within the candidates → cheapest deepest path
    short = load_route(chain_map, ["100", "101", "300"])
    assert [lane.id for lane in centerline_lanes(chain_map.get_lane(10), short)] == ["10", "11"]


def _dets(rows: list[tuple[str, str, float, float, float, float, float]]) -> Detections:
    """(token, type, x, y, heading, vx, vy) rows, 4.5 × 2 m boxes, global frame."""
    agent = np.array([r[1] in {"vehicle", "pedestrian", "bicycle"} for r in rows], dtype=bool)
    return Detections(
        tokens=[r[0] for r in rows],
        types=[r[1] for r in rows],
        centers=np.array([[r[2], r[3]] for r in rows]).reshape(-1, 2),
        headings=np.array([r[4] for r in rows]),
        sizes=np.tile([4.5, 2.0, 1.5], (len(rows), 1)),
        velocities=np.array([[r[5], r[6]] for r in rows]).reshape(-1, 2) * agent[:, None],
        is_agent=agent,
    )


def test_forecast_constant_velocity_radius_collided_and_red_light() -> None:
    ego = np.array([0.0, 0.0, 0.0])
    center = ego_center(ego, PACIFICA)
    box = shapely.Polygon(ego_corners(ego, PACIFICA))
    dets = _dets(
        [
            ("ahead", "vehicle", 30.0, 0.0, 0.0, 5.0, 0.0),
            ("reversing", "vehicle", 40.0, 4.0, 0.0, -2.0, 0.0),  # drives backwards: heading flipped
            ("far", "vehicle", 150.0, 0.0, 0.0, 0.0, 0.0),
            ("on_ego", "traffic_cone", 1.0, 0.0, 0.0, 0.0, 0.0),
        ]
    )
    red = shapely.box(10, -2, 20, 2)
    fc = forecast_observation(dets, center, box, [("7", red)], 50, 0.1, 100.0, 2)
    assert fc.tokens == ["on_ego", "ahead", "reversing", "red_light_7"]  # static first, "far" dropped
    assert fc.collided == ["on_ego"]
    # step 3 shows forecast sample 1 (t = 0.2 s)
    np.testing.assert_allclose(fc.polygon(3, "ahead").centroid.x, 31.0)
    np.testing.assert_allclose(fc.polygon(3, "reversing").centroid.x, 39.6)
    assert fc.polygon(40, "red_light_7").equals(red)
    obs = fc.scorer_observation(0.1)
    assert obs.tokens == ["ahead", "reversing"] and obs.num_steps == 52
    # ego inside the red-light polygon → collided too
    fc2 = forecast_observation(_dets([]), center, box, [("8", shapely.box(-5, -5, 10, 5))], 50, 0.1, 100.0, 2)
    assert fc2.collided == ["red_light_8"]


def test_idm_free_road_and_stop_behind_leader() -> None:
    cfg = IDMConfig()
    state = np.array([[0.0, 5.0], [0.0, 12.0], [0.0, 5.0]])
    leader = np.array([[1e4, 0.0, 0.0], [1e4, 0.0, 0.0], [4.0, 0.0, 1.0]])
    nxt = idm_step(state, leader, np.array([10.0, 10.0, 10.0]), cfg, 0.1)
    np.testing.assert_allclose(nxt[:, 0], [0.5, 1.2, 0.5])
    accel = (nxt[:, 1] - state[:, 1]) / 0.1
    assert 0 < accel[0] <= cfg.accel_max  # below target speed: speed up
    assert accel[1] < 0  # above target speed: slow down
    assert accel[2] == pytest.approx(-cfg.decel_max)  # 3 m gap at 5 m/s: full braking (clipped)


def test_nonexistent_maps_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_map(tmp_path / "none", "us-ma-boston")
