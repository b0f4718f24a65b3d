"""The documented error types of every reader of a user-supplied file.

Every reader of a file a user hands to inspatio-drive (log pickles, PCD point clouds, GPKG maps, candidate
trajectories, InSpatio trajectory files, synthetic scene pickles, metric caches) raises a subclass of
:class:`InputFormatError` when the file is missing a field, malformed, truncated, binary where text is
expected, or refused as unsafe. Its message is **one line** naming the file (and, where it applies, the line,
frame, layer or field) and what was expected, so a command can print it as is and exit 2.

:class:`InputFormatError` derives from :class:`ValueError`, so code that already catches ``ValueError`` keeps
working. A reader never returns a plausible value from wrong input.
"""

from __future__ import annotations

__all__ = [
    "CandidateFormatError",
    "InputFormatError",
    "LogFormatError",
    "MapFormatError",
    "MetricCacheFormatError",
    "TrajectoryFormatError",
    "brief_repr",
]


class InputFormatError(ValueError):
    """A user-supplied file does not follow its documented format (one-line message: file, where, expected).

    The base class of every reader error: :class:`LogFormatError`, :class:`MapFormatError`,
    :class:`CandidateFormatError`, :class:`TrajectoryFormatError`, ``inspatio_drive.data.PCDError``,
    ``inspatio_drive.data.SensorError`` and ``inspatio_drive.data.UnsafePickleError`` /
    ``CorruptPickleError``.
    """


class LogFormatError(InputFormatError):
    """An OpenScene log pickle or a navsim scene pickle breaks its schema: file, frame, field, expectation."""


class MapFormatError(InputFormatError):
    """A nuPlan GPKG map (or the maps index JSON) is unreadable or lacks a required layer / column / row."""


class MetricCacheFormatError(InputFormatError):
    """A metric-cache folder or store (``manifest.json``, ``arrays.npz``, ``epdms.npz``) is truncated, corrupt,
    of a field type this code did not write, or of the other metric (v1.1 PDMS vs v2 EPDMS)."""


class CandidateFormatError(InputFormatError):
    """A candidate-trajectory file (JSON / NPZ / NPY) is unreadable or not ``[K, 8, 3]`` poses at 0.5 s."""


class TrajectoryFormatError(InputFormatError):
    """An InSpatio-World trajectory file (3-line ``.txt``, ``target_tcw.txt``, ``.npy``) is malformed:
    file and line (for text files), what was expected."""


def brief_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line (whitespace runs collapsed, e.g. a multi-line numpy array) and cut to
    ``limit`` characters, for the "got …" part of an error message."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
