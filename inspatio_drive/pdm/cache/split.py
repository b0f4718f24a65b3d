"""Build the metric caches of many scenes (a split) into a :class:`MetricCacheStore`, with a progress bar.

Failures are recorded per token in the store manifest (``failed``) and returned in the report, never
dropped silently; ``fail_fast=True`` re-raises the first one instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from inspatio_drive.data.types import Scene
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.storage import MetricCacheStore

__all__ = ["BuildReport", "build_cache_for_split"]


@dataclass
class BuildReport:
    """What :func:`build_cache_for_split` did. ``failed``: token → error message."""

    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ms_per_built_scene(self) -> float:
        return 1e3 * self.seconds / max(len(self.built), 1)

    def summary(self) -> str:
        text = f"built {len(self.built)}, skipped (already cached) {len(self.skipped)}, failed {len(self.failed)}"
        if self.failed:
            text += ": " + ", ".join(sorted(self.failed)[:10]) + (" …" if len(self.failed) > 10 else "")
        return text


def build_cache_for_split(
    scenes: Iterable[Scene],
    maps_root: str | os.PathLike[str],
    cache_root: str | os.PathLike[str],
    config: MetricCacheConfig | None = None,
    force: bool = False,
    fail_fast: bool = False,
    total: int | None = None,
    map_version: str | None = None,
    progress: bool = True,
) -> BuildReport:
    """Build and store the metric cache of every scene.

    Args:
        scenes: scenes to cache (e.g. a ``SceneLoader`` iteration); loaded lazily one by one.
        maps_root: nuPlan maps root (``NUPLAN_MAPS_ROOT``).
        cache_root: store folder (created).
        config: builder settings.
        force: rebuild entries that exist already.
        fail_fast: re-raise the first failure instead of recording it.
        total: number of scenes for the progress bar (``len(scenes)`` when available).
        map_version: nuPlan map version (default: from ``nuplan-maps-v1.0.json``).
    """
    config = config or MetricCacheConfig()
    store = MetricCacheStore.open(cache_root)
    report = BuildReport()
    if total is None and hasattr(scenes, "__len__"):
        total = len(scenes)  # type: ignore[arg-type]
    start = time.perf_counter()
    bar = tqdm(scenes, total=total, desc="metric cache", unit="scene", disable=not progress)
    try:
        for scene in bar:
            token = scene.scene_metadata.scene_token
            if token in store and not force:
                report.skipped.append(token)
                continue
            try:
                map_api = load_map(maps_root, scene.scene_metadata.map_name, map_version)
                store.save(build_metric_cache(scene, map_api, config))
                report.built.append(token)
            except Exception as exc:
                if fail_fast:
                    raise
                message = f"{type(exc).__name__}: {exc}"
                store.mark_failed(token, message)
                report.failed[token] = message
            bar.set_postfix(failed=len(report.failed))
    finally:
        store.write_manifest()
        report.seconds = time.perf_counter() - start
    return report


def default_cache_root(experiment_root: str | os.PathLike[str]) -> Path:
    """``<experiment_root>/metric_cache`` (navsim's ``$NAVSIM_EXP_ROOT/metric_cache``)."""
    return Path(experiment_root) / "metric_cache"
