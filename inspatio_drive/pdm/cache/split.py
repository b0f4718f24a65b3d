"""Build the metric caches of many scenes (a split) into a :class:`MetricCacheStore`, with a progress bar.

Failures are recorded per token in the store manifest (``failed``) and returned in the report, never
dropped silently; ``fail_fast=True`` re-raises the first one instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from inspatio_drive.data.types import Scene
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.cache.scene_input import scene_token
from inspatio_drive.pdm.cache.storage import METRICS, MetricCacheStore

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


def _build(scene: Scene, map_api: Any, config: MetricCacheConfig, metric: str) -> Any:
    """The ``metric`` cache (v1.1 :class:`MetricCache` or v2 :class:`EPDMSCache`) of one scene."""
    if metric == "epdms":
        return build_epdms_cache(scene, map_api, config)
    return build_metric_cache(scene, map_api, config)


def _build_one(
    scene: Scene,
    maps_root: str,
    cache_root: str,
    config: MetricCacheConfig,
    map_version: str | None,
    metric: str = "pdms",
) -> tuple[str, dict[str, Any] | None, str | None]:
    """Build and write one scene's cache; returns (token, manifest entry, error message)."""
    token = scene_token(scene)
    try:
        map_api = load_map(maps_root, scene.scene_metadata.map_name, map_version)
        cache = _build(scene, map_api, config, metric)
        store = MetricCacheStore(Path(cache_root), metric=metric)
        cache.save(store.entry_dir(cache.log_name, cache.token))
        return token, MetricCacheStore.entry_of(cache), None
    except Exception as exc:
        return token, None, f"{type(exc).__name__}: {exc}"


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
    workers: int = 1,
    metric: str = "pdms",
) -> BuildReport:
    """Build and store the metric cache of every scene.

    Args:
        scenes: scenes to cache (e.g. a ``SceneLoader`` iteration); consumed lazily, at most
            ``4 × workers`` scenes in flight, so memory stays flat on a large split.
        maps_root: nuPlan maps root (``NUPLAN_MAPS_ROOT``).
        cache_root: store folder (created).
        config: builder settings.
        force: rebuild entries that exist already.
        fail_fast: re-raise (sequential) / stop at (parallel) the first failure instead of recording it.
        total: number of scenes for the progress bar (``len(scenes)`` when available).
        map_version: nuPlan map version (default: from ``nuplan-maps-v1.0.json``).
        workers: processes building in parallel (1 = in this process). Each worker opens the maps once.
        metric: ``pdms`` (NAVSIM v1.1 caches) or ``epdms`` (NAVSIM v2 caches); a store of the other kind is
            refused.
    """
    if metric not in METRICS:
        raise ValueError(f"build_cache_for_split: metric must be one of {METRICS}, got {metric!r}")
    config = config or MetricCacheConfig()
    if workers < 1:
        raise ValueError(f"build_cache_for_split: workers must be >= 1, got {workers}")
    store = MetricCacheStore.open(cache_root, metric=metric)
    report = BuildReport()
    if total is None and hasattr(scenes, "__len__"):
        total = len(scenes)  # type: ignore[arg-type]
    start = time.perf_counter()
    bar = tqdm(total=total, desc="metric cache", unit="scene", disable=not progress)
    args = (str(maps_root), str(cache_root), config, map_version, metric)

    def collect(token: str, entry: dict[str, Any] | None, error: str | None) -> None:
        if entry is not None:
            store.register(token, entry)
            report.built.append(token)
        else:
            store.mark_failed(token, str(error))
            report.failed[token] = str(error)
        bar.update(1)
        bar.set_postfix(failed=len(report.failed))

    def todo() -> Iterable[Scene]:
        for scene in scenes:
            token = scene_token(scene)
            if token in store and not force:
                report.skipped.append(token)
                bar.update(1)
                continue
            yield scene

    try:
        if workers == 1:
            for scene in todo():
                if fail_fast:
                    map_api = load_map(maps_root, scene.scene_metadata.map_name, map_version)
                    cache = _build(scene, map_api, config, metric)
                    store.save(cache)
                    collect(cache.token, MetricCacheStore.entry_of(cache), None)
                else:
                    collect(*_build_one(scene, *args))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                pending: set[Future] = set()
                for scene in todo():
                    pending.add(pool.submit(_build_one, scene, *args))
                    if len(pending) >= 4 * workers:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for f in done:
                            collect(*f.result())
                        if fail_fast and report.failed:
                            break
                for f in pending:
                    collect(*f.result())
            if fail_fast and report.failed:
                token, message = next(iter(report.failed.items()))
                raise RuntimeError(f"metric cache: scene {token} failed: {message}")
    finally:
        bar.close()
        store.write_manifest()
        report.seconds = time.perf_counter() - start
    return report


def default_cache_root(experiment_root: str | os.PathLike[str]) -> Path:
    """``<experiment_root>/metric_cache`` (navsim's ``$NAVSIM_EXP_ROOT/metric_cache``)."""
    return Path(experiment_root) / "metric_cache"
