"""Per-log summaries for scene windowing, optionally cached on disk.

Building a :class:`~inspatio_drive.data.loader.SceneLoader` means reading every log of the split once
(navsim does the same). What windowing needs from a log is small: the frame tokens, whether each
frame has a route, and the log name. :class:`LogIndexCache` stores that per log file in one JSON
file per log folder, keyed by file size and modification time. A second loader on the same split —
say, one per worker process — builds its index without unpickling anything. The summary does not
depend on the scene filter, so one cache serves every filter.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_VERSION = 1


@dataclass
class LogSummary:
    """What windowing needs from one log: per frame the token (``None`` if not a str), the number of
    route roadblock ids (``None`` if ``roadblock_ids`` is missing or not a list) and ``log_name``."""

    tokens: list[str | None]
    route_lengths: list[int | None]
    log_names: list[str | None]

    @property
    def num_frames(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_frames(cls, frames: list[Any]) -> LogSummary:
        tokens: list[str | None] = []
        routes: list[int | None] = []
        names: list[str | None] = []
        for f in frames:
            f = f if isinstance(f, Mapping) else {}
            token, route, name = f.get("token"), f.get("roadblock_ids"), f.get("log_name")
            tokens.append(token if isinstance(token, str) else None)
            routes.append(len(route) if hasattr(route, "__len__") and not isinstance(route, (str, bytes, Mapping)) else None)
            names.append(name if isinstance(name, str) else None)
        return cls(tokens, routes, names)

    def to_json(self) -> dict[str, Any]:
        unique = set(self.log_names)
        names: Any = self.log_names[0] if len(unique) == 1 else self.log_names
        return {"tokens": self.tokens, "route_lengths": self.route_lengths, "log_names": names}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogSummary:
        tokens = list(data["tokens"])
        names = data["log_names"]
        names = [names] * len(tokens) if names is None or isinstance(names, str) else list(names)
        routes = list(data["route_lengths"])
        if not len(tokens) == len(routes) == len(names):
            raise ValueError("inconsistent lengths")
        return cls(tokens, routes, names)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


class LogIndexCache:
    """JSON cache of :class:`LogSummary` per log file of one log folder.

    Args:
        cache_dir: folder for the cache files (created); one file per log folder, named by a hash of
            the folder's absolute path.
        data_path: the log folder (``navsim_logs/<split>``).
    """

    def __init__(self, cache_dir: str | os.PathLike[str], data_path: str | os.PathLike[str]) -> None:
        self.cache_dir = Path(cache_dir)
        key = hashlib.sha1(str(Path(data_path).resolve()).encode()).hexdigest()[:16]
        self.path = self.cache_dir / f"log_index_{key}.json"
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") == _VERSION and isinstance(data.get("logs"), dict):
                self._entries = data["logs"]
        except (OSError, ValueError, AttributeError):
            self._entries = {}  # missing or unreadable cache: rebuilt from the logs

    def get(self, log_path: Path) -> LogSummary | None:
        """The cached summary of ``log_path`` if its size and mtime are unchanged, else ``None``."""
        entry = self._entries.get(log_path.name)
        if entry is None or [entry.get("size"), entry.get("mtime_ns")] != list(_stamp(log_path)):
            return None
        try:
            return LogSummary.from_json(entry)
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, log_path: Path, summary: LogSummary) -> None:
        size, mtime = _stamp(log_path)
        self._entries[log_path.name] = {"size": size, "mtime_ns": mtime, **summary.to_json()}
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically (only if something changed)."""
        if not self._dirty:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".log_index_", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": _VERSION, "logs": self._entries}, fh)
        os.replace(tmp, self.path)
        self._dirty = False
