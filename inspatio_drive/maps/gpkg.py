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

from inspatio_drive.contracts.errors import MapFormatError, brief_repr

__all__ = ["GpkgLayer", "MapFormatError", "feature_count", "list_layers", "read_layer", "read_projected_crs"]

# what pyogrio / GDAL / shapely / pyproj raise on a truncated or corrupt file
_READ_ERRORS: tuple[type[BaseException], ...] = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.CRSError,
    shapely.errors.ShapelyError,
    OSError,
    ValueError,
    TypeError,
    RuntimeError,
)


def _detail(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


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
            raise MapFormatError(
                f"{path}: layer {self.name!r} lacks column {name!r} (has {sorted(self.columns)})"
            )
        out: list[str | None] = []
        for v in self.columns[name]:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                out.append(None)
                continue
            try:
                out.append(str(int(v)))
            except (TypeError, ValueError, OverflowError):
                raise MapFormatError(f"{path}: layer {self.name!r} column {name!r}: expected integer ids, got {brief_repr(v, 40)}") from None
        return out

    def float_column(self, name: str, path: Path | str = "") -> NDArray[np.float64]:
        if name not in self.columns:
            raise MapFormatError(
                f"{path}: layer {self.name!r} lacks column {name!r} (has {sorted(self.columns)})"
            )
        try:
            return np.array([np.nan if v is None else float(v) for v in self.columns[name]], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise MapFormatError(f"{path}: layer {self.name!r} column {name!r}: expected numbers ({_detail(exc)})") from None


def list_layers(path: str | Path) -> list[str]:
    """Layer names of a GPKG file.

    Raises:
        MapFormatError: the file is not a readable GeoPackage (truncated, corrupt, not a GPKG).
    """
    try:
        return [str(n) for n, _ in pyogrio.list_layers(str(path))]
    except _READ_ERRORS as exc:
        raise MapFormatError(f"{path}: not a readable GeoPackage map ({_detail(exc)})") from None


def feature_count(path: str | Path, layer: str) -> int:
    """Number of features of ``layer`` (``MapFormatError`` when the file cannot be read)."""
    try:
        return int(pyogrio.read_info(str(path), layer=layer)["features"])
    except _READ_ERRORS as exc:
        raise MapFormatError(f"{path}: layer {layer!r} is unreadable ({_detail(exc)})") from None


def read_projected_crs(path: str | Path) -> pyproj.CRS:
    """CRS named by the ``meta`` layer's ``projectedCoordSystem`` row (nuplan's target CRS)."""
    p = Path(path)
    if "meta" not in list_layers(p):
        raise MapFormatError(f"{p}: no 'meta' layer; expected a nuPlan map with meta.projectedCoordSystem")
    try:
        _, _, _, fields = raw.read(str(p), layer="meta", return_fids=True)
        meta_info = pyogrio.read_info(str(p), layer="meta")
    except _READ_ERRORS as exc:
        raise MapFormatError(f"{p}: layer 'meta' is unreadable ({_detail(exc)})") from None
    names = [str(n) for n in meta_info["fields"]]
    if "key" not in names or "value" not in names:
        raise MapFormatError(f"{p}: layer 'meta' must have columns 'key' and 'value', has {names}")
    table = dict(zip(fields[names.index("key")], fields[names.index("value")]))
    if "projectedCoordSystem" not in table:
        raise MapFormatError(f"{p}: layer 'meta' has no row key='projectedCoordSystem' (keys: {sorted(table)})")
    try:
        return pyproj.CRS.from_user_input(table["projectedCoordSystem"])
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise MapFormatError(f"{p}: meta.projectedCoordSystem is not a valid CRS: {exc}") from exc


def read_layer(path: str | Path, layer: str, target_crs: pyproj.CRS | None = None) -> GpkgLayer:
    """Read ``layer`` of ``path``; reproject to ``target_crs`` when the layer's CRS differs.

    Raises:
        MapFormatError: the layer is missing or unreadable (file and layer named).
    """
    p = Path(path)
    if layer not in list_layers(p):
        raise MapFormatError(f"{p}: missing layer {layer!r}")
    try:
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
        ids = [str(int(f)) for f in fids]
    except (*_READ_ERRORS, pyproj.exceptions.CRSError) as exc:
        raise MapFormatError(f"{p}: layer {layer!r} is unreadable ({_detail(exc)})") from None
    if geoms is not None and any(g is None for g in geoms):
        raise MapFormatError(f"{p}: layer {layer!r} has a row without geometry (fid {ids[[g is None for g in geoms].index(True)]})")
    return GpkgLayer(name=layer, ids=ids, geometries=geoms, columns=columns)
