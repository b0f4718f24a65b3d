"""nuPlan map layer names: ``SemanticMapLayer`` values and the GPKG layer that stores each one."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["GPKG_LAYERS", "LOCATION_ALIASES", "MAP_LOCATIONS", "SemanticMapLayer", "canonical_location"]


class SemanticMapLayer(IntEnum):
    """nuplan ``SemanticMapLayer`` (same names and values)."""

    LANE = 0
    INTERSECTION = 1
    STOP_LINE = 2
    TURN_STOP = 3
    CROSSWALK = 4
    DRIVABLE_AREA = 5
    YIELD = 6
    TRAFFIC_LIGHT = 7
    STOP_SIGN = 8
    EXTENDED_PUDO = 9
    SPEED_BUMP = 10
    LANE_CONNECTOR = 11
    BASELINE_PATHS = 12
    BOUNDARIES = 13
    WALKWAYS = 14
    CARPARK_AREA = 15
    PUDO = 16
    ROADBLOCK = 17
    ROADBLOCK_CONNECTOR = 18


GPKG_LAYERS: dict[SemanticMapLayer, str] = {
    SemanticMapLayer.LANE: "lanes_polygons",
    SemanticMapLayer.ROADBLOCK: "lane_groups_polygons",
    SemanticMapLayer.INTERSECTION: "intersections",
    SemanticMapLayer.STOP_LINE: "stop_polygons",
    SemanticMapLayer.CROSSWALK: "crosswalks",
    SemanticMapLayer.LANE_CONNECTOR: "lane_connectors",
    SemanticMapLayer.ROADBLOCK_CONNECTOR: "lane_group_connectors",
    SemanticMapLayer.BASELINE_PATHS: "baseline_paths",
    SemanticMapLayer.BOUNDARIES: "boundaries",
    SemanticMapLayer.WALKWAYS: "walkways",
    SemanticMapLayer.CARPARK_AREA: "carpark_areas",
}
"""SemanticMapLayer → GPKG layer (nuplan ``nuplan_map.py``). Lane-connector polygons live in
``gen_lane_connectors_scaled_width_polygons``; DRIVABLE_AREA is the union of ``road_segments``,
``intersections``, ``generic_drivable_areas`` and ``carpark_areas``."""

LANE_CONNECTOR_POLYGONS = "gen_lane_connectors_scaled_width_polygons"
DRIVABLE_AREA_LAYERS = ("road_segments", "intersections", "generic_drivable_areas", "carpark_areas")

MAP_LOCATIONS: tuple[str, ...] = (
    "sg-one-north",
    "us-ma-boston",
    "us-nv-las-vegas-strip",
    "us-pa-pittsburgh-hazelwood",
)
LOCATION_ALIASES: dict[str, str] = {"las_vegas": "us-nv-las-vegas-strip"}
"""navsim's alias for the map name stored in OpenScene logs (``navsim_scenario.py``)."""


def canonical_location(location: str) -> str:
    """Map ``las_vegas`` → ``us-nv-las-vegas-strip``; other names unchanged."""
    return LOCATION_ALIASES.get(location, location)
