"""nuPlan vector map API on a GPKG file (the subset nuplan's ``NuPlanMap`` offers that PDM scoring needs).

``load_map(maps_root, location)`` resolves ``<maps_root>/<location>/<version>/map.gpkg`` with the version from
``<maps_root>/nuplan-maps-v1.0.json`` (or the only version folder present), reads the layers once and caches
the :class:`MapAPI` per (file, mtime). Coordinates are in the map's projected CRS (UTM metres, the frame of
OpenScene's ``ego2global_translation``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.strtree import STRtree

from inspatio_drive.contracts.errors import MapFormatError
from inspatio_drive.maps.gpkg import GpkgLayer, feature_count, list_layers, read_layer, read_projected_crs
from inspatio_drive.maps.layers import (
    LANE_CONNECTOR_POLYGONS,
    MAP_LOCATIONS,
    SemanticMapLayer,
    canonical_location,
)
from inspatio_drive.maps.objects import (
    Lane,
    LaneConnector,
    PolygonMapObject,
    Roadblock,
    RoadblockConnector,
)

__all__ = ["REQUIRED_LAYERS", "MapAPI", "MapFormatError", "MapObject", "check_required_layers", "load_map", "resolve_map_path"]

MapObject = Lane | LaneConnector | Roadblock | RoadblockConnector | PolygonMapObject

MAPS_INDEX_NAME = "nuplan-maps-v1.0.json"

_AREA_LAYERS: dict[SemanticMapLayer, str] = {
    SemanticMapLayer.INTERSECTION: "intersections",
    SemanticMapLayer.CARPARK_AREA: "carpark_areas",
    SemanticMapLayer.CROSSWALK: "crosswalks",
    SemanticMapLayer.WALKWAYS: "walkways",
    SemanticMapLayer.STOP_LINE: "stop_polygons",
}
# DRIVABLE_AREA (nuplan): road_segments + intersections + generic_drivable_areas + carpark_areas
_DRIVABLE_AREA_LAYERS = ("road_segments", "intersections", "generic_drivable_areas", "carpark_areas")

REQUIRED_LAYERS: tuple[str, ...] = (
    "meta",
    "baseline_paths",
    "lanes_polygons",
    "lane_groups_polygons",
    "lane_connectors",
    LANE_CONNECTOR_POLYGONS,
    "lane_group_connectors",
    *_DRIVABLE_AREA_LAYERS,
    *(name for name in _AREA_LAYERS.values() if name not in _DRIVABLE_AREA_LAYERS),
)
"""GPKG layers every map must hold (nuPlan maps and :func:`~inspatio_drive.maps.writer.write_map_gpkg` have
them all): the lane graph, the drivable area and the area layers. A missing one is refused at load time
(:class:`MapFormatError` naming the file and the layer) instead of yielding an emptier map — a missing
``road_segments`` would silently shrink the drivable area. Exception: an empty stub (``meta`` plus layers
without any feature, as nuplan-devkit needs for locations without data) loads as an empty map."""


def check_required_layers(path: str | Path) -> set[str]:
    """The layer names of ``path``, after checking :data:`REQUIRED_LAYERS` (see there for the stub exception).

    Raises:
        MapFormatError: unreadable file, or a required layer missing from a map that has features.
    """
    available = set(list_layers(path))
    if "meta" not in available:
        raise MapFormatError(f"{path}: missing required layer 'meta' (a nuPlan map names its CRS there)")
    missing = [name for name in REQUIRED_LAYERS if name not in available]
    if missing and any(feature_count(path, name) for name in sorted(available - {"meta"})):
        raise MapFormatError(
            f"{path}: missing required layer {missing[0]!r}"
            + (f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else "")
            + "; expected a nuPlan map with every layer of " + ", ".join(REQUIRED_LAYERS)
        )
    return available


def _str_ids(values: Iterable[str | None]) -> list[str]:
    return [v for v in values if v is not None]


class MapAPI:
    """Vector map of one nuPlan location.

    Objects are held per :class:`SemanticMapLayer` in file (``fid``) order, each layer with a shapely
    ``STRtree`` for proximity queries (built lazily).
    """

    def __init__(self, gpkg_path: str | Path, location: str = "") -> None:
        self.path = Path(gpkg_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"nuPlan map not found: {self.path}")
        self.location = location
        available = check_required_layers(self.path)
        self.crs = read_projected_crs(self.path)
        self._objects: dict[SemanticMapLayer, dict[str, MapObject]] = {}
        self._lane_incoming: dict[str, list[str]] = defaultdict(list)
        self._lane_outgoing: dict[str, list[str]] = defaultdict(list)
        self._roadblock_lanes: dict[str, list[str]] = defaultdict(list)
        self._roadblock_incoming: dict[str, list[str]] = defaultdict(list)
        self._roadblock_outgoing: dict[str, list[str]] = defaultdict(list)
        self._rbc_connectors: dict[str, list[str]] = defaultdict(list)
        self._trees: dict[SemanticMapLayer, tuple[STRtree, list[str]]] = {}

        def layer(name: str) -> GpkgLayer | None:
            return read_layer(self.path, name, self.crs) if name in available else None

        self._read_graph(layer)
        for sem, name in _AREA_LAYERS.items():
            lay = layer(name)
            objs: dict[str, MapObject] = {}
            if lay is not None and lay.geometries is not None:
                for i, g in zip(lay.ids, lay.geometries):
                    objs[i] = PolygonMapObject(i, sem, g)
            self._objects[sem] = objs
        drivable: dict[str, MapObject] = {}
        for name in _DRIVABLE_AREA_LAYERS:
            lay = layer(name)
            if lay is not None and lay.geometries is not None:
                for i, g in zip(lay.ids, lay.geometries):
                    drivable[i] = PolygonMapObject(i, SemanticMapLayer.DRIVABLE_AREA, g)
        self._objects[SemanticMapLayer.DRIVABLE_AREA] = drivable

    # ------------------------------------------------------------------------------------------ loading
    def _read_graph(self, layer) -> None:  # type: ignore[no-untyped-def]
        p = self.path
        baselines_lane: dict[str, shapely.LineString] = {}
        baselines_lc: dict[str, shapely.LineString] = {}
        bp = layer("baseline_paths")
        if bp is not None:
            for lane_id, lc_id, g in zip(
                bp.ids_column("lane_fid", p), bp.ids_column("lane_connector_fid", p), bp.geometries
            ):
                if lane_id is not None:
                    baselines_lane[lane_id] = g
                elif lc_id is not None:
                    baselines_lc[lc_id] = g

        lanes: dict[str, MapObject] = {}
        lp = layer("lanes_polygons")
        if lp is not None:
            rb = lp.ids_column("lane_group_fid", p)
            idx = lp.float_column("lane_index", p) if "lane_index" in lp.columns else np.zeros(len(lp))
            speed = lp.float_column("speed_limit_mps", p) if "speed_limit_mps" in lp.columns else None
            left = lp.ids_column("left_boundary_fid", p) if "left_boundary_fid" in lp.columns else None
            right = lp.ids_column("right_boundary_fid", p) if "right_boundary_fid" in lp.columns else None
            for k, (i, g) in enumerate(zip(lp.ids, lp.geometries)):
                if i not in baselines_lane:
                    raise MapFormatError(f"{p}: lane {i} has no row in layer 'baseline_paths' (column lane_fid)")
                if rb[k] is None:
                    raise MapFormatError(f"{p}: layer 'lanes_polygons' row {i}: lane_group_fid is NULL")
                sp = None if speed is None or np.isnan(speed[k]) else float(speed[k])
                lanes[i] = Lane(
                    i,
                    SemanticMapLayer.LANE,
                    g,
                    baseline=baselines_lane[i],
                    speed_limit_mps=sp,
                    _map=self,
                    roadblock_id=rb[k],  # type: ignore[arg-type]
                    lane_index=0 if np.isnan(idx[k]) else int(idx[k]),
                    left_boundary_id=None if left is None else left[k],
                    right_boundary_id=None if right is None else right[k],
                )
                self._roadblock_lanes[rb[k]].append(i)  # type: ignore[index]
        self._objects[SemanticMapLayer.LANE] = lanes

        polys: dict[str, shapely.Polygon] = {}
        cp = layer(LANE_CONNECTOR_POLYGONS)
        if cp is not None:
            for lc_id, g in zip(cp.ids_column("lane_connector_fid", p), cp.geometries):
                if lc_id is not None:
                    polys[lc_id] = g
        connectors: dict[str, MapObject] = {}
        lc = layer("lane_connectors")
        if lc is not None:
            exits = lc.ids_column("exit_lane_fid", p)
            entries = lc.ids_column("entry_lane_fid", p)
            rbcs = lc.ids_column("lane_group_connector_fid", p)
            speed = lc.float_column("speed_limit_mps", p) if "speed_limit_mps" in lc.columns else None
            stops = lc.columns.get("traffic_light_stop_line_fids")
            for k, i in enumerate(lc.ids):
                if exits[k] is None or entries[k] is None or rbcs[k] is None:
                    raise MapFormatError(
                        f"{p}: layer 'lane_connectors' row {i}: exit_lane_fid / entry_lane_fid / "
                        f"lane_group_connector_fid must not be NULL"
                    )
                if i not in polys:
                    raise MapFormatError(
                        f"{p}: lane connector {i} has no polygon in layer {LANE_CONNECTOR_POLYGONS!r}"
                    )
                baseline = baselines_lc.get(i)
                if baseline is None:
                    if lc.geometries is None:
                        raise MapFormatError(f"{p}: lane connector {i} has no baseline path")
                    baseline = lc.geometries[k]
                stop_ids: tuple[str, ...] = ()
                if stops is not None and isinstance(stops[k], str) and stops[k].strip():
                    stop_ids = tuple(s.strip() for s in stops[k].split(",") if s.strip())
                sp = None if speed is None or np.isnan(speed[k]) else float(speed[k])
                connectors[i] = LaneConnector(
                    i,
                    SemanticMapLayer.LANE_CONNECTOR,
                    polys[i],
                    baseline=baseline,
                    speed_limit_mps=sp,
                    _map=self,
                    from_lane_id=exits[k],  # type: ignore[arg-type]
                    to_lane_id=entries[k],  # type: ignore[arg-type]
                    roadblock_connector_id=rbcs[k],  # type: ignore[arg-type]
                    traffic_light_stop_line_ids=stop_ids,
                )
                self._lane_outgoing[exits[k]].append(i)  # type: ignore[index]
                self._lane_incoming[entries[k]].append(i)  # type: ignore[index]
                self._rbc_connectors[rbcs[k]].append(i)  # type: ignore[index]
        self._objects[SemanticMapLayer.LANE_CONNECTOR] = connectors

        roadblocks: dict[str, MapObject] = {}
        rp = layer("lane_groups_polygons")
        if rp is not None:
            for i, g in zip(rp.ids, rp.geometries):
                roadblocks[i] = Roadblock(i, SemanticMapLayer.ROADBLOCK, g, _map=self)
        self._objects[SemanticMapLayer.ROADBLOCK] = roadblocks

        rbconn: dict[str, MapObject] = {}
        gp = layer("lane_group_connectors")
        if gp is not None:
            frm = gp.ids_column("from_lane_group_fid", p)
            to = gp.ids_column("to_lane_group_fid", p)
            inter = (
                gp.ids_column("intersection_fid", p) if "intersection_fid" in gp.columns else [None] * len(gp)
            )
            for k, (i, g) in enumerate(zip(gp.ids, gp.geometries)):
                if frm[k] is None or to[k] is None:
                    raise MapFormatError(
                        f"{p}: layer 'lane_group_connectors' row {i}: from/to_lane_group_fid is NULL"
                    )
                rbconn[i] = RoadblockConnector(
                    i,
                    SemanticMapLayer.ROADBLOCK_CONNECTOR,
                    g,
                    _map=self,
                    from_roadblock_id=frm[k],  # type: ignore[arg-type]
                    to_roadblock_id=to[k],  # type: ignore[arg-type]
                    intersection_id=inter[k],
                )
                self._roadblock_outgoing[frm[k]].append(i)  # type: ignore[index]
                self._roadblock_incoming[to[k]].append(i)  # type: ignore[index]
        self._objects[SemanticMapLayer.ROADBLOCK_CONNECTOR] = rbconn

    # ------------------------------------------------------------------------------------------ lookup
    @property
    def available_layers(self) -> list[SemanticMapLayer]:
        return list(self._objects)

    def _layer(self, layer: SemanticMapLayer) -> dict[str, MapObject]:
        layer = SemanticMapLayer(layer)
        if layer not in self._objects:
            raise ValueError(f"{self.path}: layer {layer.name} is not supported by this map API")
        return self._objects[layer]

    def get_all_map_objects(self, layer: SemanticMapLayer) -> list[MapObject]:
        """All objects of ``layer`` in file order."""
        return list(self._layer(layer).values())

    def get_map_object(self, object_id: str | int, layer: SemanticMapLayer) -> MapObject | None:
        """Object with ``object_id`` in ``layer``, or None (nuplan semantics)."""
        return self._layer(layer).get(str(object_id))

    def _get(self, object_id: str | int, layer: SemanticMapLayer) -> MapObject:
        obj = self.get_map_object(object_id, layer)
        if obj is None:
            raise KeyError(f"{self.path}: no {layer.name} with id {object_id!r}")
        return obj

    def get_lane(self, lane_id: str | int) -> Lane:
        return self._get(lane_id, SemanticMapLayer.LANE)  # type: ignore[return-value]

    def get_lane_connector(self, connector_id: str | int) -> LaneConnector:
        return self._get(connector_id, SemanticMapLayer.LANE_CONNECTOR)  # type: ignore[return-value]

    def get_roadblock(self, roadblock_id: str | int) -> Roadblock:
        return self._get(roadblock_id, SemanticMapLayer.ROADBLOCK)  # type: ignore[return-value]

    def get_roadblock_connector(self, connector_id: str | int) -> RoadblockConnector:
        return self._get(connector_id, SemanticMapLayer.ROADBLOCK_CONNECTOR)  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ geometry
    def _tree(self, layer: SemanticMapLayer) -> tuple[STRtree, list[str]]:
        layer = SemanticMapLayer(layer)
        if layer not in self._trees:
            objs = self._layer(layer)
            ids = list(objs)
            geoms = [self._query_geometry(objs[i]) for i in ids]
            self._trees[layer] = (STRtree(geoms), ids)
        return self._trees[layer]

    @staticmethod
    def _query_geometry(obj: MapObject) -> shapely.Geometry:
        # nuplan queries the lane_connectors layer itself, whose geometry is the baseline
        if isinstance(obj, LaneConnector):
            return obj.baseline
        return obj.polygon

    def get_proximal_map_objects(
        self, point: Sequence[float] | NDArray[np.float64], radius: float, layers: Iterable[SemanticMapLayer]
    ) -> dict[SemanticMapLayer, list[MapObject]]:
        """Objects of each layer whose geometry intersects the axis-aligned square of half-side ``radius``
        around ``point`` (x, y), in file order (nuplan ``get_proximal_map_objects``)."""
        x, y = float(point[0]), float(point[1])
        patch = shapely.box(x - radius, y - radius, x + radius, y + radius)
        out: dict[SemanticMapLayer, list[MapObject]] = {}
        for layer in layers:
            layer = SemanticMapLayer(layer)
            tree, ids = self._tree(layer)
            idx = np.sort(tree.query(patch, predicate="intersects"))
            objs = self._layer(layer)
            out[layer] = [objs[ids[i]] for i in idx]
        return out

    def get_all_map_objects_at(self, point: Sequence[float], layer: SemanticMapLayer) -> list[MapObject]:
        """Objects of ``layer`` whose polygon contains ``point`` (boundary excluded; nuplan
        ``get_all_map_objects``, lane connectors by their scaled-width polygon)."""
        objs = self._layer(layer)
        pt = shapely.Point(float(point[0]), float(point[1]))
        if layer == SemanticMapLayer.LANE_CONNECTOR:
            return [o for o in objs.values() if o.polygon.contains(pt)]
        tree, ids = self._tree(layer)
        return [objs[ids[i]] for i in np.sort(tree.query(pt, predicate="within"))]

    def is_in_layer(self, point: Sequence[float], layer: SemanticMapLayer) -> bool:
        return len(self.get_all_map_objects_at(point, layer)) > 0

    def get_one_map_object(self, point: Sequence[float], layer: SemanticMapLayer) -> MapObject | None:
        objs = self.get_all_map_objects_at(point, layer)
        return objs[0] if objs else None

    def get_distance_to_nearest_map_object(
        self, point: Sequence[float], layer: SemanticMapLayer
    ) -> tuple[str | None, float]:
        """(id, distance in m) of the object of ``layer`` nearest to ``point`` (the layer's geometry, like
        nuplan: polygons; baselines for lane connectors)."""
        tree, ids = self._tree(layer)
        if not ids:
            return None, float("inf")
        pt = shapely.Point(float(point[0]), float(point[1]))
        k = int(tree.query_nearest(pt, all_matches=False)[0])
        return ids[k], float(shapely.distance(tree.geometries[k], pt))

    def __repr__(self) -> str:
        counts = ", ".join(f"{k.name}={len(v)}" for k, v in self._objects.items())
        return f"MapAPI({self.location or self.path}: {counts})"


def resolve_map_path(maps_root: str | Path, location: str, version: str | None = None) -> Path:
    """``<maps_root>/<location>/<version>/map.gpkg``; version from the index JSON when not given."""
    root = Path(maps_root)
    loc = canonical_location(location)
    if version is None:
        index_path = root / MAPS_INDEX_NAME
        if index_path.is_file():
            try:
                index = json.loads(index_path.read_bytes().decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                detail = " ".join(str(exc).split())[:120]
                raise MapFormatError(f"{index_path}: not valid JSON, truncated or corrupt ({detail})") from None
            entry = index.get(loc) if isinstance(index, dict) else None
            if not isinstance(entry, dict) or "version" not in entry:
                has = sorted(index)[:8] if isinstance(index, dict) else type(index).__name__
                raise MapFormatError(f"{index_path}: no entry {loc!r} with a 'version' field (has {has})")
            version = str(entry["version"])
        else:
            folder = root / loc
            found = (
                sorted(d.name for d in folder.iterdir() if (d / "map.gpkg").is_file())
                if folder.is_dir()
                else []
            )
            if len(found) != 1:
                raise FileNotFoundError(
                    f"{root}: no {MAPS_INDEX_NAME} and {len(found)} map versions under {folder} "
                    f"({found}); pass version= explicitly"
                )
            version = found[0]
    path = root / loc / version / "map.gpkg"
    if not path.is_file():
        known = ", ".join(MAP_LOCATIONS)
        raise FileNotFoundError(
            f"nuPlan map not found: {path} (location {location!r}; nuPlan locations: {known})"
        )
    return path


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int, location: str) -> MapAPI:
    return MapAPI(path, location)


def load_map(maps_root: str | Path, location: str, version: str | None = None) -> MapAPI:
    """Open the nuPlan map of ``location`` under ``maps_root`` (``las_vegas`` alias accepted); cached per
    file and modification time, so repeated calls return the same object."""
    path = resolve_map_path(maps_root, location, version)
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns, canonical_location(location))
