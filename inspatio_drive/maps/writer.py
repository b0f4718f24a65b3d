"""Write nuPlan-format GPKG maps (same layers / columns as the nuPlan maps, readable by nuplan-devkit).

Input is a :class:`MapSpec` of plain dataclasses holding integer ids and shapely geometry in the map CRS
(metres). Example — one straight lane in its own roadblock::

    lane = LaneSpec(id=30001, roadblock_id=20001, baseline=LineString([(0, 0), (100, 0)]),
                    polygon=box(0, -1.8, 100, 1.8))
    spec = MapSpec(crs="EPSG:32611", roadblocks=[RoadblockSpec(20001, box(0, -1.8, 100, 1.8))], lanes=[lane])
    write_maps_root(root, {"us-nv-las-vegas-strip": spec})   # root/<location>/<version>/map.gpkg + index json

Ids must be unique across all objects of a map (nuPlan's convention; the GeoPackage ``fid`` is the id).
Baseline paths and lane-connector polygons get their own ids: give ``baseline_id`` / ``polygon_id`` or let
the writer number them after the largest id in use.
Naming (nuPlan): a lane connector goes **from** its ``exit_lane_fid`` (predecessor lane) **to** its
``entry_lane_fid`` (successor lane); :class:`LaneConnectorSpec` names them ``from_lane_id`` / ``to_lane_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyproj
import shapely
from pyogrio import raw

from inspatio_drive.maps.layers import LANE_CONNECTOR_POLYGONS, MAP_LOCATIONS

__all__ = [
    "AreaSpec",
    "BoundarySpec",
    "LaneConnectorSpec",
    "LaneSpec",
    "MapSpec",
    "RoadblockConnectorSpec",
    "RoadblockSpec",
    "validate_spec",
    "write_map_gpkg",
    "write_maps_root",
]

MAPS_INDEX_NAME = "nuplan-maps-v1.0.json"


@dataclass
class LaneSpec:
    """A lane (``lanes_polygons`` row + its ``baseline_paths`` row).

    ``baseline`` is the centre line in driving direction; ``speed_limit_mps`` may be None (NULL).
    """

    id: int
    roadblock_id: int
    baseline: shapely.LineString
    polygon: shapely.Polygon
    lane_index: int = 0
    speed_limit_mps: float | None = None
    left_boundary_id: int | None = None
    right_boundary_id: int | None = None
    baseline_id: int | None = None


@dataclass
class LaneConnectorSpec:
    """A lane connector: ``lane_connectors`` row (geometry = baseline), its polygon row in
    ``gen_lane_connectors_scaled_width_polygons`` and its ``baseline_paths`` row."""

    id: int
    from_lane_id: int  # nuPlan exit_lane_fid (predecessor)
    to_lane_id: int  # nuPlan entry_lane_fid (successor)
    roadblock_connector_id: int
    baseline: shapely.LineString
    polygon: shapely.Polygon
    speed_limit_mps: float | None = None
    traffic_light_stop_line_ids: Sequence[int] = ()
    left_boundary_id: int | None = None
    right_boundary_id: int | None = None
    baseline_id: int | None = None
    polygon_id: int | None = None


@dataclass
class RoadblockSpec:
    """A roadblock (nuPlan lane group, ``lane_groups_polygons``)."""

    id: int
    polygon: shapely.Polygon


@dataclass
class RoadblockConnectorSpec:
    """A roadblock connector (nuPlan lane-group connector, ``lane_group_connectors``)."""

    id: int
    from_roadblock_id: int
    to_roadblock_id: int
    polygon: shapely.Polygon
    intersection_id: int | None = None


@dataclass
class AreaSpec:
    """A polygon object (intersection, car park, crosswalk, walkway, stop polygon, road segment…).

    ``type_id`` fills the layer's type column where it has one (``intersection_type_fid``,
    ``stop_polygon_type_fid``)."""

    id: int
    polygon: shapely.Polygon
    type_id: int | None = None


@dataclass
class BoundarySpec:
    """A lane boundary line (``boundaries``), ``type_id`` → ``boundary_type_fid``."""

    id: int
    line: shapely.LineString
    type_id: int | None = None


@dataclass
class MapSpec:
    """Everything one ``map.gpkg`` holds. ``crs``: any pyproj-readable CRS of the coordinates (metres)."""

    crs: str
    lanes: list[LaneSpec] = field(default_factory=list)
    lane_connectors: list[LaneConnectorSpec] = field(default_factory=list)
    roadblocks: list[RoadblockSpec] = field(default_factory=list)
    roadblock_connectors: list[RoadblockConnectorSpec] = field(default_factory=list)
    intersections: list[AreaSpec] = field(default_factory=list)
    carpark_areas: list[AreaSpec] = field(default_factory=list)
    generic_drivable_areas: list[AreaSpec] = field(default_factory=list)
    road_segments: list[AreaSpec] = field(default_factory=list)
    crosswalks: list[AreaSpec] = field(default_factory=list)
    walkways: list[AreaSpec] = field(default_factory=list)
    stop_polygons: list[AreaSpec] = field(default_factory=list)
    boundaries: list[BoundarySpec] = field(default_factory=list)


def _int_column(values: Sequence[int | None]) -> tuple[np.ndarray, np.ndarray | None]:
    """int64 data + NULL mask (None where nothing is NULL)."""
    mask = np.array([v is None for v in values], dtype=bool)
    data = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
    return data, (mask if mask.any() else None)


def _float_column(values: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray | None]:
    mask = np.array([v is None for v in values], dtype=bool)
    data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return data, (mask if mask.any() else None)


def _write_layer(
    path: Path,
    layer: str,
    fids: Sequence[int],
    geometries: Sequence[shapely.Geometry] | None,
    columns: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    crs: str | None,
    geometry_type: str | None,
) -> None:
    fid_data = np.asarray([int(f) for f in fids], dtype=np.int64)
    if len(set(fid_data.tolist())) != len(fid_data):
        raise ValueError(f"{path}: layer {layer!r} has duplicate ids")
    names = ["fid", *columns]
    data = [fid_data, *(c[0] for c in columns.values())]
    masks = [None, *(c[1] for c in columns.values())]
    wkb = None
    if geometries is not None:
        bad = [i for i, g in zip(fids, geometries) if not isinstance(g, shapely.Geometry) or g.is_empty]
        if bad:
            raise ValueError(f"{path}: layer {layer!r}: ids {bad[:5]} have no / empty geometry")
        wkb = shapely.to_wkb(np.asarray(list(geometries), dtype=object), output_dimension=2)
        if len(fid_data) == 0:
            wkb = np.array([], dtype=object)
    raw.write(
        str(path),
        wkb,
        data,
        fields=names,
        field_mask=masks if any(m is not None for m in masks) else None,
        layer=layer,
        driver="GPKG",
        crs=crs,
        geometry_type=geometry_type,
        append=path.exists(),
    )


def validate_spec(spec: MapSpec) -> None:
    """Check the references between objects (roadblocks of lanes, lanes / roadblock connectors of lane
    connectors, roadblocks of roadblock connectors) and the geometry types; ValueError names the object."""
    roadblocks = {int(r.id) for r in spec.roadblocks}
    rbcs = {int(r.id) for r in spec.roadblock_connectors}
    lanes = {int(ln.id) for ln in spec.lanes}
    for ln in spec.lanes:
        if int(ln.roadblock_id) not in roadblocks:
            raise ValueError(f"MapSpec: lane {ln.id} refers to unknown roadblock {ln.roadblock_id}")
    for c in spec.lane_connectors:
        for name, ref in (("from_lane_id", c.from_lane_id), ("to_lane_id", c.to_lane_id)):
            if int(ref) not in lanes:
                raise ValueError(f"MapSpec: lane connector {c.id}: {name} {ref} is not a lane of the map")
        if int(c.roadblock_connector_id) not in rbcs:
            raise ValueError(
                f"MapSpec: lane connector {c.id} refers to unknown roadblock connector {c.roadblock_connector_id}"
            )
    for r in spec.roadblock_connectors:
        for name, ref in (("from_roadblock_id", r.from_roadblock_id), ("to_roadblock_id", r.to_roadblock_id)):
            if int(ref) not in roadblocks:
                raise ValueError(
                    f"MapSpec: roadblock connector {r.id}: {name} {ref} is not a roadblock of the map"
                )
    for kind, objs, attr, gtype in (
        ("lane", spec.lanes, "baseline", "LineString"),
        ("lane connector", spec.lane_connectors, "baseline", "LineString"),
        ("lane", spec.lanes, "polygon", "Polygon"),
        ("lane connector", spec.lane_connectors, "polygon", "Polygon"),
        ("roadblock", spec.roadblocks, "polygon", "Polygon"),
        ("roadblock connector", spec.roadblock_connectors, "polygon", "Polygon"),
    ):
        for o in objs:
            g = getattr(o, attr)
            if not isinstance(g, shapely.Geometry) or g.geom_type != gtype or g.is_empty:
                raise ValueError(
                    f"MapSpec: {kind} {o.id}: {attr} must be a non-empty shapely {gtype}, got {g!r}"
                )


def _next_ids(spec: MapSpec) -> Iterable[int]:
    used: list[int] = []
    for group in (
        spec.lanes,
        spec.lane_connectors,
        spec.roadblocks,
        spec.roadblock_connectors,
        spec.intersections,
        spec.carpark_areas,
        spec.generic_drivable_areas,
        spec.road_segments,
        spec.crosswalks,
        spec.walkways,
        spec.stop_polygons,
        spec.boundaries,
    ):
        used += [int(o.id) for o in group]
    used += [int(x.baseline_id) for x in (*spec.lanes, *spec.lane_connectors) if x.baseline_id is not None]
    used += [int(c.polygon_id) for c in spec.lane_connectors if c.polygon_id is not None]
    nxt = max(used, default=0) + 1
    while True:
        yield nxt
        nxt += 1


@contextmanager
def _fast_sqlite() -> Iterator[None]:
    """Skip SQLite's fsync for the duration of a map write (a half-written map is rewritten anyway);
    5–7× faster on busy disks. Restores the previous GDAL setting."""
    key = "OGR_SQLITE_SYNCHRONOUS"
    previous = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: previous})


def write_map_gpkg(path: str | Path, spec: MapSpec, generator: str = "inspatio_drive.maps.writer") -> Path:
    """Write ``spec`` as a nuPlan-format GeoPackage at ``path`` (overwritten). Returns the path.

    Layers written: ``meta`` (``projectedCoordSystem`` = WKT of ``spec.crs``), ``lanes_polygons``,
    ``lane_groups_polygons``, ``lane_connectors``, ``gen_lane_connectors_scaled_width_polygons``,
    ``lane_group_connectors``, ``baseline_paths``, ``boundaries``, ``intersections``, ``carpark_areas``,
    ``generic_drivable_areas``, ``road_segments``, ``crosswalks``, ``walkways``, ``stop_polygons``
    (empty layers included, so every reader finds them).
    """
    validate_spec(spec)
    with _fast_sqlite():
        return _write_map_gpkg(path, spec, generator)


def _write_map_gpkg(path: str | Path, spec: MapSpec, generator: str) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        p.unlink()
    crs_wkt = pyproj.CRS.from_user_input(spec.crs).to_wkt()
    ids = _next_ids(spec)
    lane_baseline_ids = [ln.baseline_id if ln.baseline_id is not None else next(ids) for ln in spec.lanes]
    lc_baseline_ids = [
        c.baseline_id if c.baseline_id is not None else next(ids) for c in spec.lane_connectors
    ]
    lc_polygon_ids = [c.polygon_id if c.polygon_id is not None else next(ids) for c in spec.lane_connectors]

    def w(layer: str, fids, geoms, cols, gtype) -> None:  # type: ignore[no-untyped-def]
        _write_layer(p, layer, fids, geoms, cols, crs_wkt, gtype)

    lanes = spec.lanes
    w(
        "lanes_polygons",
        [ln.id for ln in lanes],
        [ln.polygon for ln in lanes],
        {
            "lane_fid": _int_column([ln.id for ln in lanes]),
            "lane_group_fid": _int_column([ln.roadblock_id for ln in lanes]),
            "lane_index": _int_column([ln.lane_index for ln in lanes]),
            "left_boundary_fid": _int_column([ln.left_boundary_id for ln in lanes]),
            "right_boundary_fid": _int_column([ln.right_boundary_id for ln in lanes]),
            "speed_limit_mps": _float_column([ln.speed_limit_mps for ln in lanes]),
        },
        "Polygon",
    )
    w(
        "lane_groups_polygons",
        [r.id for r in spec.roadblocks],
        [r.polygon for r in spec.roadblocks],
        {},
        "Polygon",
    )
    lcs = spec.lane_connectors
    w(
        "lane_connectors",
        [c.id for c in lcs],
        [c.baseline for c in lcs],
        {
            "exit_lane_fid": _int_column([c.from_lane_id for c in lcs]),
            "entry_lane_fid": _int_column([c.to_lane_id for c in lcs]),
            "lane_group_connector_fid": _int_column([c.roadblock_connector_id for c in lcs]),
            "speed_limit_mps": _float_column([c.speed_limit_mps for c in lcs]),
            "traffic_light_stop_line_fids": (
                np.array(
                    [",".join(str(int(x)) for x in c.traffic_light_stop_line_ids) for c in lcs], dtype=object
                ),
                None,
            ),
        },
        "LineString",
    )
    w(
        LANE_CONNECTOR_POLYGONS,
        lc_polygon_ids,
        [c.polygon for c in lcs],
        {
            "lane_connector_fid": _int_column([c.id for c in lcs]),
            "left_boundary_fid": _int_column([c.left_boundary_id for c in lcs]),
            "right_boundary_fid": _int_column([c.right_boundary_id for c in lcs]),
        },
        "Polygon",
    )
    rbcs = spec.roadblock_connectors
    w(
        "lane_group_connectors",
        [r.id for r in rbcs],
        [r.polygon for r in rbcs],
        {
            "from_lane_group_fid": _int_column([r.from_roadblock_id for r in rbcs]),
            "to_lane_group_fid": _int_column([r.to_roadblock_id for r in rbcs]),
            "intersection_fid": _int_column([r.intersection_id for r in rbcs]),
        },
        "Polygon",
    )
    w(
        "baseline_paths",
        [*lane_baseline_ids, *lc_baseline_ids],
        [*(ln.baseline for ln in lanes), *(c.baseline for c in lcs)],
        {
            "lane_fid": _int_column([*(ln.id for ln in lanes), *([None] * len(lcs))]),
            "lane_connector_fid": _int_column([*([None] * len(lanes)), *(c.id for c in lcs)]),
        },
        "LineString",
    )
    w(
        "boundaries",
        [b.id for b in spec.boundaries],
        [b.line for b in spec.boundaries],
        {"boundary_type_fid": _int_column([b.type_id for b in spec.boundaries])},
        "LineString",
    )
    typed = {"intersections": "intersection_type_fid", "stop_polygons": "stop_polygon_type_fid"}
    for layer in (
        "intersections",
        "carpark_areas",
        "generic_drivable_areas",
        "road_segments",
        "crosswalks",
        "walkways",
        "stop_polygons",
    ):
        areas: list[AreaSpec] = getattr(spec, layer)
        cols: dict[str, Any] = {}
        if layer in typed:
            cols[typed[layer]] = _int_column([a.type_id for a in areas])
        w(layer, [a.id for a in areas], [a.polygon for a in areas], cols, "Polygon")
    _write_layer(
        p,
        "meta",
        [1, 2],
        None,
        {
            "key": (np.array(["projectedCoordSystem", "generator"], dtype=object), None),
            "value": (np.array([crs_wkt, generator], dtype=object), None),
        },
        None,
        None,
    )
    return p


def write_maps_root(
    root: str | Path,
    maps: Mapping[str, MapSpec],
    version: str = "synthetic.1",
    stub_crs: str = "EPSG:32611",
) -> Path:
    """Write a nuPlan maps root: ``<root>/<location>/<version>/map.gpkg`` + ``nuplan-maps-v1.0.json``.

    Every nuPlan location without a spec gets an empty stub map (nuplan-devkit opens all four), so the
    folder works as ``NUPLAN_MAPS_ROOT`` for navsim too. Returns ``root``.
    """
    r = Path(root)
    index: dict[str, Any] = {}
    for location in sorted(set(MAP_LOCATIONS) | set(maps)):
        spec = maps.get(location, MapSpec(crs=stub_crs))
        write_map_gpkg(r / location / version / "map.gpkg", spec)
        index[location] = {"version": version, "layers": {}}
    (r / MAPS_INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True))
    return r
