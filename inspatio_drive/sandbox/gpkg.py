"""Write a :class:`~inspatio_drive.sandbox.roads.RoadNetwork` as a nuPlan-format GeoPackage.

Layers and columns follow nuplan-devkit's GPKG maps (``nuplan_map.py`` layer names, the columns its
lane / lane-connector / roadblock / roadblock-connector objects read): ``meta`` (``key``, ``value``; row
``projectedCoordSystem`` = the UTM CRS), ``lanes_polygons``, ``lane_groups_polygons``, ``lane_connectors``,
``gen_lane_connectors_scaled_width_polygons``, ``lane_group_connectors``, ``baseline_paths``,
``boundaries``, ``intersections``, ``stop_polygons``, ``crosswalks``, ``walkways``, ``carpark_areas``,
``road_segments``, ``generic_drivable_areas``. Geometry is written in UTM metres: local network
coordinates plus ``origin``. Layout of a maps root: ``<root>/<location>/<version>/map.gpkg`` and
``<root>/nuplan-maps-v1.0.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
import shapely.affinity

from inspatio_drive.sandbox.roads import RoadNetwork

#: UTM zone 11N (Las Vegas, like nuPlan's ``us-nv-las-vegas-strip``).
DEFAULT_CRS = "EPSG:32611"
MAP_VERSION = "1.0"
MAPS_INDEX = "nuplan-maps-v1.0.json"


def _layer(
    path: Path,
    name: str,
    geoms: Sequence[shapely.Geometry] | None,
    columns: dict[str, Sequence],
    crs: str,
    geometry_type: str | None,
) -> None:
    fields = list(columns)
    data, masks = [], []
    for key in fields:
        values = list(columns[key])
        if any(isinstance(v, str) for v in values if v is not None):
            data.append(np.array(["" if v is None else v for v in values], dtype=object))
        elif any(isinstance(v, float) for v in values):
            data.append(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
        else:
            data.append(np.array([0 if v is None else v for v in values], dtype=np.int64))
        masks.append(np.array([v is None for v in values], dtype=bool))
    geometry = None
    if geoms is not None:
        geometry = shapely.to_wkb(np.asarray(list(geoms), dtype=object)) if len(geoms) else np.array([], dtype=object)
    pyogrio.raw.write(
        str(path), geometry, data, fields, field_mask=masks, layer=name, driver="GPKG",
        geometry_type=geometry_type, crs=crs if geoms is not None else None, append=path.exists(),
    )


def write_map_gpkg(
    path: str | os.PathLike[str],
    network: RoadNetwork,
    origin: tuple[float, float] = (0.0, 0.0),
    crs: str = DEFAULT_CRS,
) -> Path:
    """Write ``network`` (local coordinates + ``origin`` = UTM metres) as a nuPlan GeoPackage.

    Returns:
        the path written (an existing file is replaced).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    ox, oy = origin

    def g(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.affinity.translate(geom, ox, oy)

    _layer(path, "meta", None, {"key": ["projectedCoordSystem", "version"], "value": [crs, MAP_VERSION]}, crs, None)
    lanes = list(network.lanes.values())
    _layer(path, "lanes_polygons", [g(x.polygon) for x in lanes], {
        "fid": [x.fid for x in lanes],
        "lane_group_fid": [x.lane_group_fid for x in lanes],
        "lane_index": [x.lane_index for x in lanes],
        "left_boundary_fid": [x.left_boundary_fid for x in lanes],
        "right_boundary_fid": [x.right_boundary_fid for x in lanes],
        "speed_limit_mps": [float(x.speed_limit_mps) for x in lanes],
    }, crs, "Polygon")
    groups = list(network.lane_groups.values())
    _layer(path, "lane_groups_polygons", [g(x.polygon) for x in groups], {
        "fid": [x.fid for x in groups],
        "lane_count": [len(x.lane_fids) for x in groups],
    }, crs, "Polygon")
    conns = list(network.connectors.values())
    _layer(path, "lane_connectors", None, {
        "fid": [c.fid for c in conns],
        "entry_lane_fid": [c.entry_lane_fid for c in conns],
        "exit_lane_fid": [c.exit_lane_fid for c in conns],
        "lane_group_connector_fid": [c.lane_group_connector_fid for c in conns],
        "speed_limit_mps": [float(c.speed_limit_mps) for c in conns],
        "traffic_light_stop_line_fids": [str(c.stop_line_fid) for c in conns],
        "turn_type": [c.turn for c in conns],
    }, crs, None)
    _layer(path, "gen_lane_connectors_scaled_width_polygons", [g(c.polygon) for c in conns], {
        "fid": [c.fid for c in conns],
        "lane_connector_fid": [c.fid for c in conns],
        "left_boundary_fid": [None for _ in conns],
        "right_boundary_fid": [None for _ in conns],
    }, crs, "Polygon")
    lgcs = list(network.lane_group_connectors.values())
    _layer(path, "lane_group_connectors", [g(x.polygon) for x in lgcs], {
        "fid": [x.fid for x in lgcs],
        "from_lane_group_fid": [x.from_lane_group_fid for x in lgcs],
        "to_lane_group_fid": [x.to_lane_group_fid for x in lgcs],
        "intersection_fid": [x.intersection_fid for x in lgcs],
    }, crs, "Polygon")
    base_geoms = [g(x.baseline) for x in lanes] + [g(c.baseline) for c in conns]
    n_l = len(lanes)
    _layer(path, "baseline_paths", base_geoms, {
        "fid": list(range(10**8, 10**8 + len(base_geoms))),
        "lane_fid": [x.fid for x in lanes] + [None] * len(conns),
        "lane_connector_fid": [None] * n_l + [c.fid for c in conns],
    }, crs, "LineString")
    bounds = list(network.boundaries.values())
    kinds = {"center": 2, "lane": 1, "edge": 3}
    _layer(path, "boundaries", [g(b.geometry) for b in bounds], {
        "fid": [b.fid for b in bounds],
        "boundary_type_fid": [kinds[b.kind] for b in bounds],
    }, crs, "LineString")
    for name, polys in (("intersections", network.intersections), ("stop_polygons", network.stop_lines),
                        ("crosswalks", network.crosswalks), ("walkways", network.walkways),
                        ("carpark_areas", network.carparks)):
        _layer(path, name, [g(p) for p in polys.values()], {"fid": list(polys)}, crs, "Polygon")
    segs = [shapely.union_all([network.lane_groups[network.arm_lane_groups[(a.index, inb)]].polygon
                               for inb in (False, True)]) for a in network.arms]
    _layer(path, "road_segments", [g(p) for p in segs],
           {"fid": [2 * 10**8 + a.index for a in network.arms]}, crs, "Polygon")
    _layer(path, "generic_drivable_areas", [], {"fid": []}, crs, "Polygon")
    return path


def write_maps_root(
    maps_root: str | os.PathLike[str],
    location: str,
    network: RoadNetwork,
    origin: tuple[float, float],
    crs: str = DEFAULT_CRS,
) -> Path:
    """Write ``<maps_root>/<location>/<MAP_VERSION>/map.gpkg`` and register it in the version index."""
    root = Path(maps_root)
    out = write_map_gpkg(root / location / MAP_VERSION / "map.gpkg", network, origin, crs)
    index_path = root / MAPS_INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[location] = {"version": MAP_VERSION}
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=1))
    return out
