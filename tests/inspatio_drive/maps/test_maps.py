"""nuPlan GPKG writer / reader: round trips, connectivity (entry/exit naming), proximity, CRS, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio import raw

from inspatio_drive.maps import (
    AreaSpec,
    LaneConnectorSpec,
    LaneSpec,
    MapSpec,
    RoadblockConnectorSpec,
    RoadblockSpec,
    SemanticMapLayer,
    load_map,
    write_map_gpkg,
    write_maps_root,
)
from inspatio_drive.maps.gpkg import read_layer

GOLDEN_MAPS = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms" / "maps"
L = SemanticMapLayer


def _two_lane_spec(crs: str = "EPSG:32611", x0: float = 500000.0, y0: float = 4000000.0) -> MapSpec:
    """Lane 1 (x 0..50) → connector 3 (x 50..60) → lane 2 (x 60..110), all along +x, y = 0, width 4."""

    def seg(a: float, b: float) -> tuple[shapely.LineString, shapely.Polygon]:
        return (
            shapely.LineString([(x0 + a, y0), (x0 + (a + b) / 2, y0), (x0 + b, y0)]),
            shapely.box(x0 + a, y0 - 2, x0 + b, y0 + 2),
        )

    b1, p1 = seg(0, 50)
    b2, p2 = seg(60, 110)
    b3, p3 = seg(50, 60)
    return MapSpec(
        crs=crs,
        roadblocks=[RoadblockSpec(11, p1), RoadblockSpec(12, p2)],
        roadblock_connectors=[RoadblockConnectorSpec(13, 11, 12, p3, intersection_id=14)],
        lanes=[LaneSpec(1, 11, b1, p1, speed_limit_mps=10.0), LaneSpec(2, 12, b2, p2)],
        lane_connectors=[
            LaneConnectorSpec(3, 1, 2, 13, b3, p3, speed_limit_mps=5.0, traffic_light_stop_line_ids=(15,))
        ],
        intersections=[AreaSpec(14, p3, type_id=1)],
        carpark_areas=[AreaSpec(16, shapely.box(x0, y0 - 30, x0 + 20, y0 - 2))],
        stop_polygons=[AreaSpec(15, shapely.box(x0 + 49, y0 - 2, x0 + 50, y0), type_id=2)],
    )


def test_write_read_roundtrip_and_connectivity(tmp_path: Path) -> None:
    root = write_maps_root(tmp_path / "maps", {"us-nv-las-vegas-strip": _two_lane_spec()}, version="v9")
    import pyogrio

    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") is None  # the writer restores it
    index = json.loads((root / "nuplan-maps-v1.0.json").read_text())
    assert index["us-ma-boston"]["version"] == "v9"  # stub locations too
    m = load_map(root, "las_vegas")
    assert m is load_map(root, "us-nv-las-vegas-strip")  # cached per file
    lane1, lane2 = m.get_lane(1), m.get_lane("2")
    conn = m.get_lane_connector(3)
    # naming trap: connector goes from exit_lane_fid (1) to entry_lane_fid (2)
    assert [c.id for c in lane1.outgoing_edges] == ["3"] and lane1.incoming_edges == []
    assert [c.id for c in lane2.incoming_edges] == ["3"] and lane2.outgoing_edges == []
    assert conn.incoming_edges[0] is lane1 and conn.outgoing_edges[0] is lane2
    assert conn.get_roadblock_id() == "13" and lane1.get_roadblock_id() == "11"
    assert conn.traffic_light_stop_line_ids == ("15",)
    assert lane1.speed_limit_mps == 10.0 and lane2.speed_limit_mps is None
    rb1, rbc = m.get_roadblock(11), m.get_roadblock_connector(13)
    assert [x.id for x in rb1.interior_edges] == ["1"] and [x.id for x in rb1.outgoing_edges] == ["13"]
    assert rbc.incoming_edges[0].id == "11" and rbc.outgoing_edges[0].id == "12"
    assert [x.id for x in rbc.interior_edges] == ["3"] and rbc.intersection_id == "14"
    np.testing.assert_allclose(lane1.discrete_path[:, 2], 0.0)
    assert lane1.discrete_path.shape == (3, 3) and lane1.length == pytest.approx(50.0)
    # lane-connector polygon comes from gen_lane_connectors_scaled_width_polygons
    assert conn.polygon.area == pytest.approx(40.0)
    # baseline_paths: lane_fid xor lane_connector_fid, NULL for the other
    bp = read_layer(root / "us-nv-las-vegas-strip" / "v9" / "map.gpkg", "baseline_paths")
    lane_col, lc_col = bp.ids_column("lane_fid"), bp.ids_column("lane_connector_fid")
    assert all((a is None) != (b is None) for a, b in zip(lane_col, lc_col))


def test_proximal_square_box_and_point_queries(tmp_path: Path) -> None:
    write_maps_root(tmp_path, {"us-nv-las-vegas-strip": _two_lane_spec()})
    m = load_map(tmp_path, "us-nv-las-vegas-strip")
    x0, y0 = 500000.0, 4000000.0
    # point 5 m beyond lane 2's end along +x, 4 m off in y: a circle of radius 5 would miss lane 2's corner
    # at distance sqrt(5^2+2^2) = 5.39, the square box of half-side 5 intersects it
    got = m.get_proximal_map_objects((x0 + 115.0, y0 + 6.9), 5.0, [L.LANE, L.ROADBLOCK, L.INTERSECTION])
    assert [o.id for o in got[L.LANE]] == ["2"] and [o.id for o in got[L.ROADBLOCK]] == ["12"]
    assert got[L.INTERSECTION] == []
    assert m.is_in_layer((x0 + 55, y0), L.INTERSECTION) and not m.is_in_layer((x0 + 30, y0), L.INTERSECTION)
    assert m.get_one_map_object((x0 + 30, y0 + 1), L.LANE).id == "1"
    ident, dist = m.get_distance_to_nearest_map_object((x0 + 30, y0 + 10), L.LANE)
    assert ident == "1" and dist == pytest.approx(8.0)
    assert m.get_map_object("999", L.LANE) is None


def test_layer_crs_reprojected_to_meta_crs(tmp_path: Path) -> None:
    """A layer stored in another CRS is transformed into meta.projectedCoordSystem (nuplan's to_crs)."""
    import pyproj

    spec_utm = _two_lane_spec()
    to_wgs = pyproj.Transformer.from_crs("EPSG:32611", "EPSG:4326", always_xy=True)
    path = write_map_gpkg(tmp_path / "map.gpkg", spec_utm)
    # rewrite the carpark layer in lon/lat
    poly = spec_utm.carpark_areas[0].polygon
    poly_ll = shapely.transform(poly, lambda xy: np.stack(to_wgs.transform(xy[:, 0], xy[:, 1]), axis=1))
    raw.write(
        str(path),
        shapely.to_wkb([poly_ll]),
        [np.array([16])],
        fields=["fid"],
        layer="carpark_areas",
        driver="GPKG",
        crs="EPSG:4326",
        geometry_type="Polygon",
        append=False,
    )
    from inspatio_drive.maps.map_api import MapAPI

    m = MapAPI(path)
    back = m.get_map_object("16", L.CARPARK_AREA).polygon
    assert back.equals_exact(poly, tolerance=1e-6)


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"map\.gpkg"):
        load_map(tmp_path, "us-ma-boston", version="1.0")
    (tmp_path / "nuplan-maps-v1.0.json").write_text(json.dumps({"sg-one-north": {"version": "1"}}))
    with pytest.raises(ValueError, match="us-ma-boston"):
        load_map(tmp_path, "us-ma-boston")
    spec = _two_lane_spec()
    spec.lanes[0].baseline_id = 99
    spec.lane_connectors[0].baseline_id = 99
    with pytest.raises(ValueError, match="duplicate ids"):
        write_map_gpkg(tmp_path / "dup.gpkg", spec)
    bad = _two_lane_spec()
    bad.lane_connectors[0].to_lane_id = 7
    with pytest.raises(ValueError, match="lane connector 3: to_lane_id 7"):
        write_map_gpkg(tmp_path / "bad.gpkg", bad)
    bad = _two_lane_spec()
    bad.lanes[0].polygon = shapely.LineString([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="lane 1: polygon"):
        write_map_gpkg(tmp_path / "bad.gpkg", bad)
    # a map without the meta layer
    raw.write(
        str(tmp_path / "nometa.gpkg"),
        shapely.to_wkb([shapely.box(0, 0, 1, 1)]),
        [np.array([1])],
        fields=["fid"],
        layer="lanes_polygons",
        driver="GPKG",
        crs="EPSG:32611",
        geometry_type="Polygon",
    )
    from inspatio_drive.maps.map_api import MapAPI

    with pytest.raises(ValueError, match="meta"):
        MapAPI(tmp_path / "nometa.gpkg")


def test_golden_map_reads_like_nuplan() -> None:
    m = load_map(GOLDEN_MAPS, "us-nv-las-vegas-strip")
    assert m.crs.to_epsg() == 32611
    assert len(m.get_all_map_objects(L.LANE)) == 8 and len(m.get_all_map_objects(L.LANE_CONNECTOR)) == 12
    # W-in lane 30001 → connectors 50001 (→S), 50002 (→E), 50003 (→N)
    assert [c.id for c in m.get_lane(30001).outgoing_edges] == ["50001", "50002", "50003"]
    c = m.get_lane_connector(50003)
    assert c.incoming_edges[0].id == "30001" and c.outgoing_edges[0].id == "30008"
    assert c.get_roadblock_id() == "40003"
    # lane-connector polygon = baseline offset ±1.8 m, area ≈ length × 3.6
    assert c.polygon.area == pytest.approx(c.length * 3.6, rel=1e-2)
    # lane baselines sampled every 1 m: 201 vertices
    assert m.get_lane(30001).discrete_path.shape == (201, 3)
    assert [r.id for r in m.get_roadblock(20008).incoming_edges] == ["40003", "40006", "40009"]
    # empty stub maps load
    assert load_map(GOLDEN_MAPS, "us-ma-boston").get_all_map_objects(L.LANE) == []


def test_writer_schema_matches_golden_map(tmp_path: Path) -> None:
    """Layers, geometry types and column names/types written = those of the navsim-readable golden map."""
    import pyogrio

    golden = GOLDEN_MAPS / "us-nv-las-vegas-strip" / "synthetic.1" / "map.gpkg"
    ours = write_map_gpkg(tmp_path / "map.gpkg", _two_lane_spec())
    golden_layers = dict(pyogrio.list_layers(str(golden)))
    our_layers = dict(pyogrio.list_layers(str(ours)))
    assert set(golden_layers) <= set(our_layers)
    for name, gtype in golden_layers.items():
        gi, oi = pyogrio.read_info(str(golden), layer=name), pyogrio.read_info(str(ours), layer=name)
        assert our_layers[name] == gtype, name
        assert list(oi["fields"]) == list(gi["fields"]), name
        assert list(oi["dtypes"]) == list(gi["dtypes"]), name
        assert oi["fid_column"] == "fid"


def _drop_layer(path: Path, layer: str) -> None:
    """Remove ``layer`` from a GeoPackage (its table and its gpkg_contents / geometry-column rows)."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute(f'DROP TABLE "{layer}"')
        for table in ("gpkg_contents", "gpkg_geometry_columns"):
            db.execute(f"DELETE FROM {table} WHERE table_name = ?", (layer,))
        db.execute("DELETE FROM gpkg_extensions WHERE table_name = ?", (layer,))


@pytest.mark.parametrize("layer", ["road_segments", "baseline_paths", "lane_group_connectors", "crosswalks"])
def test_missing_required_layer_is_refused_at_load_time(tmp_path: Path, layer: str) -> None:
    """Not a later KeyError about a lane id, nor a silently smaller drivable area: the file and the layer."""
    from inspatio_drive.maps import MapFormatError

    root = write_maps_root(tmp_path / "maps", {"us-nv-las-vegas-strip": _two_lane_spec()})
    path = root / "us-nv-las-vegas-strip" / "synthetic.1" / "map.gpkg"
    _drop_layer(path, layer)
    with pytest.raises(MapFormatError, match=rf"map\.gpkg: missing required layer '{layer}'") as err:
        load_map(root, "us-nv-las-vegas-strip")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_map_and_index_name_the_path(tmp_path: Path) -> None:
    from inspatio_drive.maps import MapFormatError

    root = write_maps_root(tmp_path / "maps", {"us-nv-las-vegas-strip": _two_lane_spec()})
    path = root / "us-nv-las-vegas-strip" / "synthetic.1" / "map.gpkg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MapFormatError, match=r"map\.gpkg: ") as err:
        load_map(root, "us-nv-las-vegas-strip")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(MapFormatError, match=r"map\.gpkg: not a readable GeoPackage"):
        load_map(root, "us-nv-las-vegas-strip")
    index = root / "nuplan-maps-v1.0.json"
    index.write_text(index.read_text()[:40])
    with pytest.raises(MapFormatError, match=r"nuplan-maps-v1\.0\.json: not valid JSON"):
        load_map(root, "us-nv-las-vegas-strip")


def test_empty_stub_maps_still_load(tmp_path: Path) -> None:
    """A stub of meta + empty layers (what nuplan-devkit needs for locations without data) is an empty map."""
    m = load_map(GOLDEN_MAPS, "sg-one-north")  # navsim's stub: meta + an empty lane_connectors layer
    assert m.get_all_map_objects(L.LANE) == [] and m.get_all_map_objects(L.DRIVABLE_AREA) == []
