"""Road network geometry and its nuPlan GPKG, read back with the project's map reader."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from inspatio_drive.maps import load_map
from inspatio_drive.maps.gpkg import read_projected_crs
from inspatio_drive.maps.layers import SemanticMapLayer
from inspatio_drive.sandbox.gpkg import write_maps_root
from inspatio_drive.sandbox.roads import LANE_WIDTH, build_road_network, ego_route, route_path


@pytest.fixture(scope="module")
def network():
    return build_road_network((2, 1, 3, 2), curves=(0.0, 0.6, 0.0, -0.7), carpark_arm=2)


def test_lanes_and_connectors_are_continuous(network):
    for c in network.connectors.values():
        before = np.asarray(network.lanes[c.exit_lane_fid].baseline.coords)[-1]
        after = np.asarray(network.lanes[c.entry_lane_fid].baseline.coords)[0]
        np.testing.assert_allclose(np.asarray(c.baseline.coords)[0], before, atol=1e-9)
        np.testing.assert_allclose(np.asarray(c.baseline.coords)[-1], after, atol=1e-9)
    for lane in network.lanes.values():
        assert lane.polygon.is_valid and lane.polygon.area == pytest.approx(lane.baseline.length * LANE_WIDTH, rel=0.02)


def test_lane_counts_and_turns(network):
    for arm, n in enumerate((2, 1, 3, 2)):
        assert len(network.lanes_of(arm, True)) == n and len(network.lanes_of(arm, False)) == n
    turns = {c.turn for c in network.connectors.values()}
    assert turns == {"left", "straight", "right"}
    assert network.carparks and network.walkways and len(network.crosswalks) == 4


def test_right_hand_traffic(network):
    # driving north on the south arm (3) the centre line (x = 0) is on the left: lanes have x > 0
    for lane in network.lanes_of(3, True):
        c = np.asarray(lane.baseline.coords)
        assert np.all(c[-20:, 0] > 0) and c[-1, 1] > c[-20, 1]


def test_gpkg_read_back_by_map_reader(tmp_path, network):
    origin = (664000.0, 3997000.0)
    write_maps_root(tmp_path, "sandbox-test", network, origin)
    crs = read_projected_crs(tmp_path / "sandbox-test" / "sandbox.1" / "map.gpkg")
    assert crs.equals(pyproj.CRS.from_epsg(32611))
    m = load_map(tmp_path, "sandbox-test")
    assert len(m.get_all_map_objects(SemanticMapLayer.LANE)) == len(network.lanes)
    assert len(m.get_all_map_objects(SemanticMapLayer.LANE_CONNECTOR)) == len(network.connectors)
    fids, roadblocks = ego_route(network, 3, 2)
    # route: lane -> connector -> lane, roadblock -> roadblock connector -> roadblock
    lane = m.get_lane(fids[0])
    assert str(fids[1]) in [e.id for e in lane.outgoing_edges]
    conn = m.get_lane_connector(fids[1])
    assert [e.id for e in conn.outgoing_edges] == [str(fids[2])]
    rb = m.get_roadblock(roadblocks[0])
    assert roadblocks[1] in [e.id for e in rb.outgoing_edges]
    # geometry is in UTM: local + origin
    path = route_path(network, fids)
    x, y = path.coords[0]
    assert m.get_one_map_object((x + origin[0], y + origin[1]), SemanticMapLayer.LANE).id == str(fids[0])
