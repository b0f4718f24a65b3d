"""Candidate-trajectory files a user hands to ``pdm-score`` / ``render``: one strict reader.

A candidate file holds ``K`` trajectories of NAVSIM's shape, ``[K, 8, 3]`` poses ``(x [m], y [m], heading
[rad])`` at t = 0.5, 1.0, …, 4.0 s in the current rear-axle frame (x forward, y left). Formats:

* ``.npz``: an array ``trajectories`` (or the only array besides ``names``), optional ``names`` ``[K]`` str and
  optional ``interval_s`` (scalar, the pose spacing in seconds); read without pickles.
* ``.npy``: one array ``[K, T, 3]`` (or ``[T, 3]`` for one candidate); read without pickles.
* ``.json``: ``[[[x, y, heading] * 8] * K]``, ``{"trajectories": ..., "names": [...], "interval_s": 0.5}`` or a
  list of ``{"name": ..., "poses_local_xyh": [[x, y, heading] * 8]}``.

Anything else — a missing, truncated or unparsable file, non-numeric or non-finite values, the wrong shape,
poses at another interval or horizon — raises :class:`~inspatio_drive.contracts.errors.CandidateFormatError`
naming the file. Trajectories of another sampling are **resampled only when asked** (``resample=True``): the
current pose (0, 0, 0) at t = 0 is prepended, positions follow an interpolating cubic spline and headings are
interpolated linearly (:func:`inspatio_drive.geometry.interpolation.interpolate_se2`); the returned
:class:`CandidateFile` then says so (``resampled``, ``source_num_poses``, ``source_interval_s``).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.contracts.errors import CandidateFormatError, brief_repr
from inspatio_drive.geometry.interpolation import interpolate_se2

__all__ = ["CANDIDATE_INTERVAL_S", "CANDIDATE_NUM_POSES", "CandidateFile", "read_candidates"]

CANDIDATE_NUM_POSES = 8
"""Poses per candidate (NAVSIM: 4 s horizon at 2 Hz)."""
CANDIDATE_INTERVAL_S = 0.5
"""Seconds between candidate poses (NAVSIM ``TrajectorySampling(num_poses=8, interval_length=0.5)``)."""

_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, RecursionError,
                MemoryError, OverflowError)


@dataclass(frozen=True)
class CandidateFile:
    """What :func:`read_candidates` returns.

    Attributes:
        poses: float64 ``[K, 8, 3]`` (x, y, heading) at t = 0.5 … 4.0 s, current rear-axle frame.
        names: ``K`` names, or ``None`` when the file gives none.
        source_num_poses, source_interval_s: the sampling of the file (``8`` / ``0.5`` unless resampled).
        resampled: whether ``poses`` were resampled from another sampling (only with ``resample=True``).
    """

    poses: NDArray[np.float64]
    names: list[str] | None
    source_num_poses: int
    source_interval_s: float
    resampled: bool

    def describe_resampling(self) -> str:
        """One line saying how the poses were resampled (empty when they were not)."""
        if not self.resampled:
            return ""
        return (f"resampled {len(self.poses)} candidates from {self.source_num_poses} poses at {self.source_interval_s:g} s "
                f"to {CANDIDATE_NUM_POSES} poses at {CANDIDATE_INTERVAL_S:g} s (cubic spline in x, y; linear heading)")


def _fail(path: Path, message: str) -> CandidateFormatError:
    return CandidateFormatError(f"{path}: {message}")


def _detail(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__


def _scalar_interval(value: Any, path: Path) -> float:
    try:
        arr = np.asarray(value, dtype=np.float64)
        ok = arr.shape == () and bool(np.isfinite(arr)) and float(arr) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _fail(path, f"'interval_s' must be one positive number of seconds, got {brief_repr(value, 40)}")
    return float(arr)


def _names(value: Any, path: Path) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise _fail(path, f"'names' must be a list of strings, got {type(value).__name__}")
    out = []
    for n in value:
        if not isinstance(n, (str, int, np.str_, np.integer)):
            raise _fail(path, f"'names' must be a list of strings, got an entry {brief_repr(n, 40)}")
        out.append(str(n))
    return out


def _read_npz(path: Path) -> tuple[Any, list[str] | None, float | None]:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.files)
        arrays = [k for k in keys if k not in ("names", "interval_s")]
        if "trajectories" in keys:
            arr = z["trajectories"]
        elif len(arrays) == 1:
            arr = z[arrays[0]]
        else:
            raise _fail(path, f"expected an array 'trajectories' [K, 8, 3], found arrays {keys}")
        names = _names(z["names"], path) if "names" in keys else None
        interval = _scalar_interval(z["interval_s"], path) if "interval_s" in keys else None
    return arr, names, interval


def _read_json(path: Path) -> tuple[Any, list[str] | None, float | None]:
    data: Any = json.loads(path.read_bytes().decode("utf-8"))
    if isinstance(data, dict):
        if "trajectories" not in data:
            raise _fail(path, f"a JSON object needs a field 'trajectories' [K, 8, 3], has {sorted(data)[:8]}")
        unknown = sorted(set(data) - {"trajectories", "names", "interval_s"})
        if unknown:
            raise _fail(path, f"unknown field(s) {unknown}; expected trajectories, names, interval_s")
        names = None if data.get("names") is None else _names(data["names"], path)
        interval = None if data.get("interval_s") is None else _scalar_interval(data["interval_s"], path)
        return data["trajectories"], names, interval
    if isinstance(data, list) and data and all(isinstance(c, dict) for c in data):
        for i, c in enumerate(data):
            if "poses_local_xyh" not in c:
                raise _fail(path, f"candidate {i} needs a field 'poses_local_xyh' [[x, y, heading] * 8]")
        return [c["poses_local_xyh"] for c in data], [str(c.get("name", i)) for i, c in enumerate(data)], None
    if isinstance(data, list):
        return data, None, None
    raise _fail(path, f"expected a JSON list of trajectories or an object with 'trajectories', got {type(data).__name__}")


def read_candidates(
    path: str | os.PathLike[str],
    *,
    interval_s: float | None = None,
    resample: bool = False,
    resample_knob: str = "resample",
) -> CandidateFile:
    """Read a candidate file (``.json`` / ``.npz`` / ``.npy``) into ``[K, 8, 3]`` poses at 0.5 s.

    Args:
        path: the file.
        interval_s: seconds between the file's poses when the file does not say (``interval_s`` field);
            ``None`` = 0.5. A file that says another value than a given ``interval_s`` is refused.
        resample: resample trajectories of another sampling to 8 poses at 0.5 s (they must reach 4.0 s);
            ``False`` refuses them.
        resample_knob: how the caller spells ``resample`` (named in the error message).

    Raises:
        CandidateFormatError: one line naming the file and what was expected.
    """
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "candidates file not found")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            arr, names, declared = _read_npz(p)
        elif suffix == ".json":
            arr, names, declared = _read_json(p)
        elif suffix == ".npy":
            arr, names, declared = np.load(p, allow_pickle=False), None, None
        else:
            raise _fail(p, f"unknown candidates format {p.suffix!r}; expected .json, .npz or .npy")
    except CandidateFormatError:
        raise
    except _READ_ERRORS as exc:
        raise _fail(p, f"unreadable {suffix.lstrip('.')} file (truncated or corrupt?): {_detail(exc)}") from None
    if declared is not None and interval_s is not None and not np.isclose(declared, interval_s):
        raise _fail(p, f"the file says interval_s={declared:g} but {interval_s:g} s was given")
    dt = float(declared if declared is not None else (CANDIDATE_INTERVAL_S if interval_s is None else interval_s))
    try:
        raw = np.asarray(arr)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _fail(p, f"trajectories are not a numeric [K, 8, 3] array ({_detail(exc)})") from None
    if raw.dtype.kind not in "iuf":  # no strings parsed as numbers, no complex / bool / object values
        raise _fail(p, f"trajectories are not a numeric [K, 8, 3] array of real numbers (dtype {raw.dtype})")
    traj = raw.astype(np.float64)
    if traj.ndim == 2:
        traj = traj[None]
    if traj.ndim != 3 or traj.shape[-1] != 3 or traj.shape[0] == 0 or traj.shape[1] == 0:
        raise _fail(p, f"trajectories must have shape [K, 8, 3] (x, y, heading) with K >= 1, got {traj.shape}")
    if not np.isfinite(traj).all():
        k = int(np.argwhere(~np.isfinite(traj))[0][0])
        raise _fail(p, f"candidate {k} contains NaN or infinite values")
    if names is not None and len(names) != len(traj):
        raise _fail(p, f"{len(names)} names for {len(traj)} trajectories")
    num = traj.shape[1]
    if num == CANDIDATE_NUM_POSES and np.isclose(dt, CANDIDATE_INTERVAL_S):
        return CandidateFile(traj, names, num, dt, False)
    horizon = CANDIDATE_NUM_POSES * CANDIDATE_INTERVAL_S
    if not resample:
        raise _fail(p, f"expected [K, {CANDIDATE_NUM_POSES}, 3] poses at {CANDIDATE_INTERVAL_S:g} s (t = 0.5..{horizon:g} s), "
                       f"got [K, {num}, 3] at {dt:g} s; set {resample_knob}=true to resample them")
    if num * dt < horizon - 1e-9:
        raise _fail(p, f"cannot resample: {num} poses at {dt:g} s reach {num * dt:g} s, {horizon:g} s needed")
    keys = np.concatenate([np.zeros((len(traj), 1, 3)), traj], axis=1)
    times = np.arange(num + 1) * dt
    query = np.arange(1, CANDIDATE_NUM_POSES + 1) * CANDIDATE_INTERVAL_S
    poses = interpolate_se2(times, keys, query)
    return CandidateFile(poses, names, num, dt, True)
