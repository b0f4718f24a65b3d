"""nuPlan GPKG maps without nuplan-devkit: reader (:func:`load_map`, :class:`MapAPI`) and writer
(:func:`write_map_gpkg`, :func:`write_maps_root`)."""

from inspatio_drive.maps.layers import MAP_LOCATIONS, SemanticMapLayer, canonical_location
from inspatio_drive.maps.map_api import REQUIRED_LAYERS, MapAPI, MapFormatError, load_map, resolve_map_path
from inspatio_drive.maps.objects import Lane, LaneConnector, PolygonMapObject, Roadblock, RoadblockConnector
from inspatio_drive.maps.writer import (
    AreaSpec,
    BoundarySpec,
    LaneConnectorSpec,
    LaneSpec,
    MapSpec,
    RoadblockConnectorSpec,
    RoadblockSpec,
    validate_spec,
    write_map_gpkg,
    write_maps_root,
)

__all__ = [
    "MAP_LOCATIONS",
    "REQUIRED_LAYERS",
    "AreaSpec",
    "BoundarySpec",
    "Lane",
    "LaneConnector",
    "LaneConnectorSpec",
    "LaneSpec",
    "MapAPI",
    "MapFormatError",
    "MapSpec",
    "PolygonMapObject",
    "Roadblock",
    "RoadblockConnector",
    "RoadblockConnectorSpec",
    "RoadblockSpec",
    "SemanticMapLayer",
    "canonical_location",
    "load_map",
    "resolve_map_path",
    "validate_spec",
    "write_map_gpkg",
    "write_maps_root",
]
