"""Map objects of a nuPlan vector map: lanes, lane connectors, roadblocks, roadblock connectors, areas.

Ids are ``str`` (nuplan casts the GPKG ``fid`` to str). Graph edges are resolved through the owning
:class:`~inspatio_drive.maps.map_api.MapAPI`. Connectivity follows nuplan (reference §4, naming trap):

* a lane's ``incoming_edges`` are the connectors whose ``entry_lane_fid`` is the lane, its ``outgoing_edges``
  those whose ``exit_lane_fid`` is the lane;
* a lane connector's ``incoming_edges`` = [lane ``exit_lane_fid``], ``outgoing_edges`` = [lane ``entry_lane_fid``];
* a roadblock's incoming / outgoing edges are roadblock connectors with ``to_`` / ``from_lane_group_fid`` = it;
  a roadblock connector's incoming / outgoing edges are its ``from_`` / ``to_`` roadblock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.maps.layers import SemanticMapLayer

if TYPE_CHECKING:
    from inspatio_drive.maps.map_api import MapAPI

__all__ = ["Lane", "LaneConnector", "PolygonMapObject", "Roadblock", "RoadblockConnector", "discrete_path"]


def discrete_path(line: shapely.LineString) -> NDArray[np.float64]:
    """Baseline polyline → ``[N, 3]`` (x, y, heading): raw vertices, heading towards the next vertex, the last
    vertex repeating the previous heading (nuplan ``discrete_path`` of a baseline path)."""
    xy = shapely.get_coordinates(line)
    if len(xy) < 2:
        raise ValueError(f"baseline path needs ≥ 2 vertices, got {len(xy)}")
    d = np.diff(xy, axis=0)
    heading = np.arctan2(d[:, 1], d[:, 0])
    heading = np.append(heading, heading[-1])
    return np.column_stack([xy, heading])


@dataclass(eq=False)
class PolygonMapObject:
    """A map object described by its polygon only (intersection, car park, crosswalk, walkway…)."""

    id: str
    layer: SemanticMapLayer
    polygon: shapely.Polygon

    def contains_point(self, x: float, y: float) -> bool:
        return bool(shapely.contains_xy(self.polygon, x, y))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, layer={self.layer.name})"


@dataclass(eq=False, repr=False)
class _GraphEdge(PolygonMapObject):
    baseline: shapely.LineString = field(default=None)  # type: ignore[assignment]
    speed_limit_mps: float | None = None
    _map: MapAPI = field(default=None, repr=False)  # type: ignore[assignment]

    @cached_property
    def discrete_path(self) -> NDArray[np.float64]:
        """``[N, 3]`` baseline (x, y, heading), see :func:`discrete_path`."""
        return discrete_path(self.baseline)

    @property
    def length(self) -> float:
        """Baseline length (m)."""
        return float(self.baseline.length)


@dataclass(eq=False, repr=False)
class Lane(_GraphEdge):
    """A lane (``lanes_polygons``); ``roadblock_id`` = ``lane_group_fid``."""

    roadblock_id: str = ""
    lane_index: int = 0
    left_boundary_id: str | None = None
    right_boundary_id: str | None = None

    def get_roadblock_id(self) -> str:
        return self.roadblock_id

    @property
    def parent(self) -> Roadblock:
        return self._map.get_roadblock(self.roadblock_id)

    @property
    def incoming_edges(self) -> list[LaneConnector]:
        return [self._map.get_lane_connector(i) for i in self._map._lane_incoming.get(self.id, [])]

    @property
    def outgoing_edges(self) -> list[LaneConnector]:
        return [self._map.get_lane_connector(i) for i in self._map._lane_outgoing.get(self.id, [])]


@dataclass(eq=False, repr=False)
class LaneConnector(_GraphEdge):
    """A lane connector; ``from_lane_id`` = nuPlan ``exit_lane_fid``, ``to_lane_id`` = ``entry_lane_fid``."""

    from_lane_id: str = ""
    to_lane_id: str = ""
    roadblock_connector_id: str = ""
    traffic_light_stop_line_ids: tuple[str, ...] = ()

    def get_roadblock_id(self) -> str:
        return self.roadblock_connector_id

    @property
    def parent(self) -> RoadblockConnector:
        return self._map.get_roadblock_connector(self.roadblock_connector_id)

    @property
    def incoming_edges(self) -> list[Lane]:
        return [self._map.get_lane(self.from_lane_id)]

    @property
    def outgoing_edges(self) -> list[Lane]:
        return [self._map.get_lane(self.to_lane_id)]


@dataclass(eq=False, repr=False)
class Roadblock(PolygonMapObject):
    """A roadblock (nuPlan lane group)."""

    _map: MapAPI = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def interior_edges(self) -> list[Lane]:
        return [self._map.get_lane(i) for i in self._map._roadblock_lanes.get(self.id, [])]

    @property
    def incoming_edges(self) -> list[RoadblockConnector]:
        return [self._map.get_roadblock_connector(i) for i in self._map._roadblock_incoming.get(self.id, [])]

    @property
    def outgoing_edges(self) -> list[RoadblockConnector]:
        return [self._map.get_roadblock_connector(i) for i in self._map._roadblock_outgoing.get(self.id, [])]


@dataclass(eq=False, repr=False)
class RoadblockConnector(PolygonMapObject):
    """A roadblock connector (nuPlan lane-group connector)."""

    from_roadblock_id: str = ""
    to_roadblock_id: str = ""
    intersection_id: str | None = None
    _map: MapAPI = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def interior_edges(self) -> list[LaneConnector]:
        return [self._map.get_lane_connector(i) for i in self._map._rbc_connectors.get(self.id, [])]

    @property
    def incoming_edges(self) -> list[Roadblock]:
        return [self._map.get_roadblock(self.from_roadblock_id)]

    @property
    def outgoing_edges(self) -> list[Roadblock]:
        return [self._map.get_roadblock(self.to_roadblock_id)]
