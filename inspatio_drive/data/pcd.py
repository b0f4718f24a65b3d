"""nuPlan / OpenScene ``MergedPointCloud`` PCD files, read and written without nuplan-devkit.

Format (PCD v0.7, as nuplan's ``PointCloud.parse``): an ASCII header of ``KEY value...`` lines
(``VERSION FIELDS SIZE TYPE COUNT WIDTH HEIGHT VIEWPOINT POINTS DATA``, ``#`` comments allowed),
then ``POINTS`` little-endian packed records for ``DATA binary`` (nuPlan's only format) or one
whitespace-separated line per point for ``DATA ascii``. ``TYPE`` is ``F``/``I``/``U`` with ``SIZE``
bytes. NAVSIM's LiDAR array is float32 ``[6, N]`` with rows ``x y z intensity ring lidar_info``
(navsim ``LidarIndex``), in the ego (rear-axle) frame.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts.errors import InputFormatError

#: nuPlan MergedPointCloud fields, in the order of NAVSIM's ``Lidar.lidar_pc`` rows.
PCD_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring", "lidar_info")
_TYPES = {"F": "f", "I": "i", "U": "u"}
_REQUIRED = ("fields", "size", "type", "points", "data")


class PCDError(InputFormatError):
    """A PCD file is malformed, truncated or lacks the expected fields (a ``ValueError``)."""


def _parse_header(buf: bytes, source: str) -> tuple[dict[str, list[str]], int]:
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = buf.find(b"\n", pos)
        if end < 0:
            raise PCDError(f"{source}: PCD header has no DATA line (expected 'DATA binary' or 'DATA ascii')")
        try:
            line = buf[pos:end].decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise PCDError(f"{source}: PCD header is not ASCII text (not a PCD file?)") from exc
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.lower()] = values
        if key.lower() == "data":
            break
    missing = [k for k in _REQUIRED if k not in header]
    if missing:
        raise PCDError(f"{source}: PCD header lacks {', '.join(k.upper() for k in missing)}")
    return header, pos


def _record_dtype(header: dict[str, list[str]], source: str) -> np.dtype:
    fields, sizes, types = header["fields"], header["size"], header["type"]
    counts = header.get("count", ["1"] * len(fields))
    if not len(fields) == len(sizes) == len(types) == len(counts):
        raise PCDError(f"{source}: PCD FIELDS/SIZE/TYPE/COUNT have different lengths")
    if any(c != "1" for c in counts):
        raise PCDError(f"{source}: PCD COUNT must be 1 for every field, got {counts}")
    try:
        return np.dtype([(f, f"<{_TYPES[t]}{int(s)}") for f, s, t in zip(fields, sizes, types)])
    except (KeyError, TypeError, ValueError) as exc:
        raise PCDError(f"{source}: unsupported PCD SIZE/TYPE {sizes}/{types}") from exc


def parse_pcd(data: bytes, source: str = "<bytes>", fields: tuple[str, ...] = PCD_FIELDS) -> NDArray[np.float32]:
    """Parse PCD bytes into float32 ``[len(fields), N]`` (rows in ``fields`` order).

    Args:
        data: the whole file content.
        source: name used in error messages (the file path).
        fields: fields to return, default nuPlan's ``x y z intensity ring lidar_info``.

    Raises:
        PCDError: malformed header, missing field, truncated data, unsupported DATA kind.
    """
    header, offset = _parse_header(data, source)
    dtype = _record_dtype(header, source)
    missing = [f for f in fields if f not in dtype.names]
    if missing:
        raise PCDError(f"{source}: PCD lacks field(s) {missing}; has {list(dtype.names)}, expected {list(fields)}")
    try:
        n = int(header["points"][0])
    except (IndexError, ValueError) as exc:
        raise PCDError(f"{source}: PCD POINTS is not an integer: {header['points']}") from exc
    kind = header["data"][0].lower() if header["data"] else ""
    if kind == "binary":
        length = dtype.itemsize * n
        if len(data) - offset < length:  # nuPlan files may carry trailing padding; fewer bytes is an error
            raise PCDError(f"{source}: PCD data truncated: {length} bytes expected, {len(data) - offset} present")
        records = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
    elif kind == "ascii":
        try:
            table = np.loadtxt(io.BytesIO(data[offset:]), dtype=np.float64, ndmin=2, max_rows=n)
        except ValueError as exc:
            raise PCDError(f"{source}: PCD ascii data is not numeric") from exc
        if table.shape != (n, len(dtype.names)) and not (n == 0 and table.size == 0):
            raise PCDError(f"{source}: PCD ascii data has shape {table.shape}, expected ({n}, {len(dtype.names)})")
        records = np.zeros(n, dtype=dtype)
        for i, name in enumerate(dtype.names):
            records[name] = table[:, i] if n else []
    else:
        raise PCDError(f"{source}: unsupported PCD DATA {header['data']}; expected 'binary' or 'ascii'")
    out = np.empty((len(fields), n), dtype=np.float32)
    for i, name in enumerate(fields):
        out[i] = records[name]
    return out


def read_pcd(path: str | os.PathLike[str], fields: tuple[str, ...] = PCD_FIELDS) -> NDArray[np.float32]:
    """Read a PCD file into float32 ``[len(fields), N]``; see :func:`parse_pcd`."""
    path = Path(path)
    return parse_pcd(path.read_bytes(), str(path), fields)


def write_pcd(
    path: str | os.PathLike[str],
    points: ArrayLike,
    fields: tuple[str, ...] = PCD_FIELDS,
    binary: bool = True,
) -> Path:
    """Write points as a nuPlan-style PCD (float32 fields, ``DATA binary`` by default).

    Args:
        path: output file; parent folders are created.
        points: ``[len(fields), N]`` array (NAVSIM ``lidar_pc`` layout), cast to float32.
        fields: field names, default ``x y z intensity ring lidar_info``.
        binary: ``DATA binary`` (nuPlan) or ``DATA ascii``.

    Returns:
        the path written.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[0] != len(fields):
        raise ValueError(f"points must be [{len(fields)}, N] for fields {fields}, got shape {pts.shape}")
    n = pts.shape[1]
    k = len(fields)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\n"
        "VERSION 0.7\n"
        f"FIELDS {' '.join(fields)}\n"
        f"SIZE {' '.join(['4'] * k)}\n"
        f"TYPE {' '.join(['F'] * k)}\n"
        f"COUNT {' '.join(['1'] * k)}\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\n"
        f"DATA {'binary' if binary else 'ascii'}\n"
    ).encode("ascii")
    if binary:
        body = np.ascontiguousarray(pts.T).astype("<f4").tobytes()
    else:
        buf = io.StringIO()
        np.savetxt(buf, pts.T, fmt="%.9g")
        body = buf.getvalue().encode("ascii")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body)
    return path
