"""Drivable-area map around the ego (navsim v1.1 ``PDMDrivableMap.from_simulation``).

Query: the square box of half-side ``radius`` around the ego **box centre** over ROADBLOCK,
ROADBLOCK_CONNECTOR, INTERSECTION and CARPARK_AREA. Polygons, in this order: the roadblocks; the lanes of
each roadblock; the lane connectors of each roadblock connector; intersections; car parks.
``generic_drivable_areas`` are *not* part of it (navsim's behaviour).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from inspatio_drive.maps import MapAPI, SemanticMapLayer
from inspatio_drive.pdm.types import DrivableAreaMap

__all__ = ["drivable_area_map"]

L = SemanticMapLayer


def drivable_area_map(map_api: MapAPI, center_xy: ArrayLike, radius: float = 100.0) -> DrivableAreaMap:
    """Drivable polygons within the square box of half-side ``radius`` (m) around ``center_xy``."""
    xy = np.asarray(center_xy, dtype=np.float64).reshape(-1)[:2]
    found = map_api.get_proximal_map_objects(
        xy, radius, [L.ROADBLOCK, L.ROADBLOCK_CONNECTOR, L.INTERSECTION, L.CARPARK_AREA]
    )
    tokens: list[str] = []
    layers: list[str] = []
    polygons: list[object] = []

    def add(objs, layer: SemanticMapLayer) -> None:  # type: ignore[no-untyped-def]
        for o in objs:
            tokens.append(o.id)
            layers.append(layer.name)
            polygons.append(o.polygon)

    add(found[L.ROADBLOCK], L.ROADBLOCK)
    for rb in found[L.ROADBLOCK]:
        add(rb.interior_edges, L.LANE)
    for rbc in found[L.ROADBLOCK_CONNECTOR]:
        add(rbc.interior_edges, L.LANE_CONNECTOR)
    add(found[L.INTERSECTION], L.INTERSECTION)
    add(found[L.CARPARK_AREA], L.CARPARK_AREA)
    return DrivableAreaMap(tokens=tokens, layers=layers, polygons=polygons)
