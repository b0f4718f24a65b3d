"""Write a :class:`~inspatio_drive.sandbox.roads.RoadNetwork` as a nuPlan-format GeoPackage.

A thin conversion to :class:`inspatio_drive.maps.writer.MapSpec` (same layers and columns as nuPlan's
maps, ``meta`` holding the UTM CRS) written by :func:`inspatio_drive.maps.writer.write_map_gpkg`.
Geometry is written in UTM metres: local network coordinates plus ``origin``. Layout of a maps root:
``<root>/<location>/<version>/map.gpkg`` and ``<root>/nuplan-maps-v1.0.json``.

navsim / nuplan-devkit open a map by one of nuPlan's four location names (``get_maps_api(root,
"nuplan-maps-v1.0", map_name)`` → ``<root>/<location>/<version from the index>/map.gpkg``; nuplan's maps DB knows
the dimensions of those four only). :func:`navsim_location` gives each sandbox world of a maps root one of them,
with the sandbox's own map version (:data:`MAP_VERSION`); the index records which world holds it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import shapely
import shapely.affinity

from inspatio_drive.maps import MAP_LOCATIONS
from inspatio_drive.maps import writer as mw
from inspatio_drive.sandbox.roads import RoadNetwork

#: UTM zone 11N (Las Vegas, like nuPlan's ``us-nv-las-vegas-strip``).
DEFAULT_CRS = "EPSG:32611"
MAP_VERSION = "sandbox.1"
MAPS_INDEX = mw.MAPS_INDEX_NAME
BOUNDARY_TYPES = {"lane": 1, "center": 2, "edge": 3}
WORLD_KEY = "sandbox_world"
"""Key of a maps-index entry naming the sandbox world whose map it is (nuplan reads ``version`` and ``layers``)."""

log = logging.getLogger(__name__)


def navsim_location(maps_root: str | os.PathLike[str], world_name: str) -> str:
    """The nuPlan location name under which ``world_name``'s map is (or will be) written in ``maps_root``: the one
    the index already gives that world, else the first of :data:`~inspatio_drive.maps.MAP_LOCATIONS` not yet in the
    index. A root holds four navsim-readable worlds (navsim knows four locations); a fifth world is written under
    its own name (this package reads it, navsim does not) with a warning.
    """
    index_path = Path(maps_root) / MAPS_INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for location, entry in index.items():
        if isinstance(entry, dict) and entry.get(WORLD_KEY) == world_name:
            return location
    for location in MAP_LOCATIONS:
        if location not in index:
            return location
    log.warning("%s: all four nuPlan map locations hold other sandbox worlds; %s's map is written under its own "
                "name, which navsim cannot open (write at most four worlds per data root for navsim)",
                maps_root, world_name)
    return world_name


BASELINE_SPACING_M = 1.0
"""Largest distance between two baseline points written to the GPKG (m)."""


def network_to_map_spec(network: RoadNetwork, origin: tuple[float, float] = (0.0, 0.0),
                        crs: str = DEFAULT_CRS) -> mw.MapSpec:
    """The network as a :class:`~inspatio_drive.maps.writer.MapSpec` in UTM (local + ``origin``)."""
    ox, oy = origin

    def g(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.affinity.translate(geom, ox, oy)

    def line(geom: shapely.Geometry) -> shapely.Geometry:
        # nuPlan baselines are sampled about every metre; a 2-point straight baseline would leave nuplan's
        # InterpolatedPath (which drops the last pose) a single pose: the reactive IDM agents could not follow it
        return shapely.segmentize(g(geom), BASELINE_SPACING_M)

    lanes = [mw.LaneSpec(ln.fid, ln.lane_group_fid, line(ln.baseline), g(ln.polygon), ln.lane_index,
                         float(ln.speed_limit_mps), ln.left_boundary_fid, ln.right_boundary_fid)
             for ln in network.lanes.values()]
    conns = [mw.LaneConnectorSpec(c.fid, c.exit_lane_fid, c.entry_lane_fid, c.lane_group_connector_fid,
                                  line(c.baseline), g(c.polygon), float(c.speed_limit_mps), (c.stop_line_fid,))
             for c in network.connectors.values()]
    segs = [mw.AreaSpec(2 * 10**8 + a.index, g(shapely.union_all(
        [network.lane_groups[network.arm_lane_groups[(a.index, inb)]].polygon for inb in (False, True)])))
        for a in network.arms]

    def areas(d: dict, type_id: int | None = None) -> list[mw.AreaSpec]:
        return [mw.AreaSpec(f, g(p), type_id) for f, p in d.items()]

    return mw.MapSpec(
        crs=crs,
        lanes=lanes,
        lane_connectors=conns,
        roadblocks=[mw.RoadblockSpec(r.fid, g(r.polygon)) for r in network.lane_groups.values()],
        roadblock_connectors=[mw.RoadblockConnectorSpec(r.fid, r.from_lane_group_fid, r.to_lane_group_fid,
                                                        g(r.polygon), r.intersection_fid)
                              for r in network.lane_group_connectors.values()],
        intersections=areas(network.intersections, 1),
        carpark_areas=areas(network.carparks),
        road_segments=segs,
        crosswalks=areas(network.crosswalks),
        walkways=areas(network.walkways),
        stop_polygons=areas(network.stop_lines, 1),
        boundaries=[mw.BoundarySpec(b.fid, g(b.geometry), BOUNDARY_TYPES[b.kind])
                    for b in network.boundaries.values()],
    )


def write_map_gpkg(
    path: str | os.PathLike[str],
    network: RoadNetwork,
    origin: tuple[float, float] = (0.0, 0.0),
    crs: str = DEFAULT_CRS,
) -> Path:
    """Write ``network`` (local coordinates + ``origin`` = UTM metres) as a nuPlan GeoPackage (replaced
    if it exists). Returns the path."""
    return mw.write_map_gpkg(path, network_to_map_spec(network, origin, crs), generator="inspatio_drive.sandbox")


def write_maps_root(
    maps_root: str | os.PathLike[str],
    location: str,
    network: RoadNetwork,
    origin: tuple[float, float],
    crs: str = DEFAULT_CRS,
    world: str | None = None,
) -> Path:
    """Write ``<maps_root>/<location>/<MAP_VERSION>/map.gpkg`` and register it in the version index
    (other entries kept; ``world`` recorded as the entry's :data:`WORLD_KEY`). Returns the GPKG path."""
    root = Path(maps_root)
    out = write_map_gpkg(root / location / MAP_VERSION / "map.gpkg", network, origin, crs)
    index_path = root / MAPS_INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[location] = {"version": MAP_VERSION, "layers": {}, **({WORLD_KEY: world} if world else {})}
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=2))
    return out
