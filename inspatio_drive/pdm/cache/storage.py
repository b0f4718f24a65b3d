"""On-disk metric-cache store: one folder per scene, a versioned manifest, missing entries reported.

Layout (no pickles anywhere; arrays are read with ``allow_pickle=False``)::

    <root>/manifest.json                     store manifest (format, versions, token → entry, failures)
    <root>/<log_name>/<token>/manifest.json  one MetricCache (strings / ids / scalars, JSON)
    <root>/<log_name>/<token>/arrays.npz     its numeric arrays

The store manifest records the builder semantics version and the per-scene format version; opening a store
written by another version is an error that says to rebuild. :meth:`MetricCacheStore.load_many` reports missing
tokens (count + tokens) instead of skipping them silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspatio_drive.contracts.errors import MetricCacheFormatError
from inspatio_drive.pdm.cache.builder import BUILDER_VERSION
from inspatio_drive.pdm.types import CACHE_FORMAT, CACHE_FORMAT_VERSION, EPDMS_CACHE_FORMAT, MetricCache
from inspatio_drive.pdm.v2.cache import EPDMS_BUILDER_VERSION, EPDMS_CACHE_VERSION, EPDMSCache

__all__ = ["METRICS", "STORE_FORMAT", "STORE_VERSION", "MetricCacheStore", "MissingCacheEntriesError"]

METRICS = ("pdms", "epdms")
"""``pdms``: NAVSIM v1.1 caches (:class:`MetricCache`); ``epdms``: NAVSIM v2 caches (:class:`EPDMSCache`)."""
_BUILDER = {"pdms": BUILDER_VERSION, "epdms": EPDMS_BUILDER_VERSION}
_ENTRY_FORMAT = {"pdms": (CACHE_FORMAT, CACHE_FORMAT_VERSION), "epdms": (EPDMS_CACHE_FORMAT, EPDMS_CACHE_VERSION)}
_LABEL = {"pdms": "NAVSIM v1.1 (PDMS)", "epdms": "NAVSIM v2 (EPDMS)"}


def _metric_of_builder(builder: object) -> str | None:
    return next((m for m, b in _BUILDER.items() if b == builder), None)

STORE_FORMAT = "inspatio_drive.pdm.metric_cache_store"
STORE_VERSION = 1
MANIFEST = "manifest.json"


class MissingCacheEntriesError(KeyError):
    """Some requested scene tokens have no cache entry; ``.missing`` lists them."""

    def __init__(self, root: Path, missing: list[str], requested: int) -> None:
        self.missing = missing
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        super().__init__(
            f"metric cache {root}: {len(missing)} of {requested} requested scenes have no entry: {shown}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class MetricCacheStore:
    """A metric-cache folder. Create with :meth:`open` (reads / checks the manifest if present)."""

    root: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    builder: str = BUILDER_VERSION
    metric: str = "pdms"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric cache: metric must be one of {METRICS}, got {self.metric!r}")
        self.builder = _BUILDER[self.metric]

    @classmethod
    def open(cls, root: str | os.PathLike[str], create: bool = True, metric: str = "pdms") -> MetricCacheStore:
        """Open (or create) a store of ``metric`` caches; a store of the other metric is refused (one line)."""
        if metric not in METRICS:
            raise MetricCacheFormatError(f"metric cache: metric must be one of {METRICS}, got {metric!r}")
        r = Path(root)
        man = r / MANIFEST
        if not man.is_file():
            if not create:
                raise FileNotFoundError(f"metric cache {r}: no {MANIFEST} (not a metric-cache store)")
            r.mkdir(parents=True, exist_ok=True)
            return cls(r, metric=metric)
        try:
            d = json.loads(man.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MetricCacheFormatError(f"{man}: not valid JSON ({exc})") from exc
        if not isinstance(d, dict):
            raise MetricCacheFormatError(f"{man}: expected a JSON object")
        if d.get("format") != STORE_FORMAT:
            raise MetricCacheFormatError(f"{man}: field 'format' is {d.get('format')!r}, expected {STORE_FORMAT!r}")
        found = d.get("metric") or _metric_of_builder(d.get("builder"))
        if found in METRICS and found != metric:
            raise MetricCacheFormatError(
                f"metric cache {r}: holds {_LABEL[found]} caches, metric={metric} needs {_LABEL[metric]} caches "
                f"(use metric={found}, or build a {metric} cache with metric-cache metric={metric})"
            )
        want_format = _ENTRY_FORMAT[metric][1]
        for key, want in (("version", STORE_VERSION), ("cache_format_version", want_format)):
            if d.get(key) != want:
                raise MetricCacheFormatError(
                    f"{man}: field {key!r} is {d.get(key)!r}, this code needs {want}; rebuild the cache"
                )
        if d.get("builder") != _BUILDER[metric]:
            raise MetricCacheFormatError(
                f"{man}: field 'builder' is {d.get('builder')!r}, this code builds {_BUILDER[metric]!r}; "
                "rebuild the cache"
            )
        entries, failed = d.get("entries", {}), d.get("failed", {})
        if not isinstance(entries, dict) or not all(
            isinstance(e, dict) and isinstance(e.get("path"), str) for e in entries.values()
        ):
            raise MetricCacheFormatError(f"{man}: field 'entries' must map tokens to {{'path': <folder>, ...}}")
        if not isinstance(failed, dict):
            raise MetricCacheFormatError(f"{man}: field 'failed' must be an object (token -> reason)")
        return cls(r, dict(entries), dict(failed), d["builder"], metric)

    # ------------------------------------------------------------------------------------------ write
    def entry_dir(self, log_name: str, token: str) -> Path:
        for part, name in ((log_name, "log_name"), (token, "token")):
            if not part or "/" in part or "\\" in part or part in {".", ".."}:
                raise ValueError(f"metric cache: {name} {part!r} cannot be used as a folder name")
        return self.root / log_name / token

    def save(self, cache: MetricCache | EPDMSCache) -> Path:
        """Write one scene's cache and register it (call :meth:`write_manifest` to persist the index)."""
        want = EPDMSCache if self.metric == "epdms" else MetricCache
        if not isinstance(cache, want):
            raise TypeError(f"metric cache {self.root}: a {self.metric} store cannot hold a {type(cache).__name__}")
        d = cache.save(self.entry_dir(cache.log_name, cache.token))
        self.register(cache.token, self.entry_of(cache))
        return d

    @staticmethod
    def entry_of(cache: MetricCache | EPDMSCache) -> dict[str, Any]:
        """Manifest entry of a saved cache."""
        base = cache.base if isinstance(cache, EPDMSCache) else cache
        return {
            "log_name": cache.log_name,
            "path": f"{cache.log_name}/{cache.token}",
            "map_name": base.extra.get("map_name"),
        }

    def register(self, token: str, entry: dict[str, Any]) -> None:
        """Add an entry written elsewhere (e.g. by a worker process) to the index."""
        self.entries[token] = entry
        self.failed.pop(token, None)

    def mark_failed(self, token: str, message: str) -> None:
        self.failed[token] = message

    def write_manifest(self) -> Path:
        """Persist the store manifest (atomic replace)."""
        self.root.mkdir(parents=True, exist_ok=True)
        d = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "metric": self.metric,
            "cache_format_version": _ENTRY_FORMAT[self.metric][1],
            "builder": self.builder,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "num_entries": len(self.entries),
            "entries": dict(sorted(self.entries.items())),
            "failed": dict(sorted(self.failed.items())),
        }
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(d, indent=1))
        tmp.replace(self.root / MANIFEST)
        return self.root / MANIFEST

    # ------------------------------------------------------------------------------------------ read
    @property
    def tokens(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, token: object) -> bool:
        return token in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def missing(self, tokens: Iterable[str]) -> list[str]:
        """Tokens (in the given order) that have no entry."""
        return [t for t in tokens if t not in self.entries]

    def load(self, token: str) -> Any:
        """The entry of ``token``: a :class:`MetricCache` (``pdms`` store) or :class:`EPDMSCache` (``epdms``)."""
        if token not in self.entries:
            raise MissingCacheEntriesError(self.root, [token], 1)
        path = self.root / self.entries[token]["path"]
        return EPDMSCache.load(path) if self.metric == "epdms" else MetricCache.load(path)

    def load_many(self, tokens: Iterable[str], strict: bool = True) -> tuple[dict[str, Any], list[str]]:
        """Load several entries. ``strict``: raise :class:`MissingCacheEntriesError` if any is missing;
        otherwise return ``(caches, missing_tokens)`` so the caller can report them."""
        wanted = list(dict.fromkeys(tokens))
        missing = self.missing(wanted)
        if missing and strict:
            raise MissingCacheEntriesError(self.root, missing, len(wanted))
        return {t: self.load(t) for t in wanted if t in self.entries}, missing

    def rebuild_index(self) -> int:
        """Re-create ``entries`` by scanning ``<root>/<log>/<token>/manifest.json`` (e.g. after an
        interrupted build); returns the number of entries found."""
        self.entries = {}
        for man in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            try:
                d = json.loads(man.read_text())
            except json.JSONDecodeError:
                continue
            if d.get("format") != _ENTRY_FORMAT[self.metric][0] or not (man.parent / "arrays.npz").is_file():
                continue
            rel = man.parent.relative_to(self.root).as_posix()
            self.entries[d["token"]] = {
                "log_name": d["log_name"],
                "path": rel,
                "map_name": d.get("extra", {}).get("map_name"),
            }
        return len(self.entries)
