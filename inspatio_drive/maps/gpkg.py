"""Read layers of a nuPlan ``map.gpkg`` with pyogrio (no geopandas / nuplan-devkit needed).

Like nuplan's ``GPKGMapsDB``: the target CRS is the ``projectedCoordSystem`` value of the ``meta`` layer;
each layer is reprojected to it when its own CRS differs (identity otherwise, coordinates untouched), and the
GeoPackage ``fid`` is the object id, as ``str``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import shapely
from numpy.typing import NDArray
from pyogrio import raw

__all__ = ["GpkgLayer", "list_layers", "read_layer", "read_projected_crs"]


@dataclass
class GpkgLayer:
    """One GPKG layer.

    Attributes:
        name: layer name.
        ids: ``[N]`` object ids (``fid`` as str).
        geometries: ``[N]`` shapely geometries in the map CRS (None for attribute-only layers).
        columns: field name → ``[N]`` array (integers with NULLs come back as float64 with NaN).
    """

    name: str
    ids: list[str]
    geometries: NDArray[np.object_] | None
    columns: dict[str, NDArray]

    def __len__(self) -> int:
        return len(self.ids)

    def ids_column(self, name: str, path: Path | str = "") -> list[str | None]:
        """Column ``name`` as ids (``str(int(v))``, None for NULL); clear error if the column is missing."""
        if name not in self.columns:
            raise ValueError(
                f"{path}: layer {self.name!r} lacks column {name!r} (has {sorted(self.columns)})"
            )
        out: list[str | None] = []
        for v in self.columns[name]:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                out.append(None)
            else:
                out.append(str(int(v)))
        return out

    def float_column(self, name: str, path: Path | str = "") -> NDArray[np.float64]:
        if name not in self.columns:
            raise ValueError(
                f"{path}: layer {self.name!r} lacks column {name!r} (has {sorted(self.columns)})"
            )
        return np.array([np.nan if v is None else float(v) for v in self.columns[name]], dtype=np.float64)


def list_layers(path: str | Path) -> list[str]:
    """Layer names of a GPKG file."""
    return [str(n) for n, _ in pyogrio.list_layers(str(path))]


def read_projected_crs(path: str | Path) -> pyproj.CRS:
    """CRS named by the ``meta`` layer's ``projectedCoordSystem`` row (nuplan's target CRS)."""
    p = Path(path)
    if "meta" not in list_layers(p):
        raise ValueError(f"{p}: no 'meta' layer; expected a nuPlan map with meta.projectedCoordSystem")
    _, _, _, fields = raw.read(str(p), layer="meta", return_fids=True)
    meta_info = pyogrio.read_info(str(p), layer="meta")
    names = [str(n) for n in meta_info["fields"]]
    if "key" not in names or "value" not in names:
        raise ValueError(f"{p}: layer 'meta' must have columns 'key' and 'value', has {names}")
    table = dict(zip(fields[names.index("key")], fields[names.index("value")]))
    if "projectedCoordSystem" not in table:
        raise ValueError(f"{p}: layer 'meta' has no row key='projectedCoordSystem' (keys: {sorted(table)})")
    try:
        return pyproj.CRS.from_user_input(table["projectedCoordSystem"])
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(f"{p}: meta.projectedCoordSystem is not a valid CRS: {exc}") from exc


def read_layer(path: str | Path, layer: str, target_crs: pyproj.CRS | None = None) -> GpkgLayer:
    """Read ``layer`` of ``path``; reproject to ``target_crs`` when the layer's CRS differs."""
    p = Path(path)
    if layer not in list_layers(p):
        raise ValueError(f"{p}: missing layer {layer!r}")
    meta, fids, geometry, fields = raw.read(str(p), layer=layer, return_fids=True)
    names = [str(n) for n in meta["fields"]]
    columns = dict(zip(names, fields))
    geoms = None
    if geometry is not None:
        geoms = shapely.from_wkb(geometry)
        if target_crs is not None and meta.get("crs") is not None:
            src = pyproj.CRS.from_user_input(meta["crs"])
            if not src.equals(target_crs, ignore_axis_order=True):
                tf = pyproj.Transformer.from_crs(src, target_crs, always_xy=True)
                geoms = shapely.transform(
                    geoms, lambda xy: np.stack(tf.transform(xy[:, 0], xy[:, 1]), axis=1)
                )
    return GpkgLayer(name=layer, ids=[str(int(f)) for f in fids], geometries=geoms, columns=columns)
