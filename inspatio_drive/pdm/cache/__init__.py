"""NAVSIM v1.1 metric-cache builder: PDM-Closed reference, centerline, drivable-area map, observation.

Public API: :func:`build_metric_cache` (one scene), :func:`build_cache_for_split` (many scenes into a
:class:`MetricCacheStore`), :class:`MetricCacheConfig`, :func:`plot_bev` / :func:`save_bev`.
"""

from inspatio_drive.pdm.cache.bev import plot_bev, save_bev
from inspatio_drive.pdm.cache.builder import BUILDER_VERSION, build_metric_cache
from inspatio_drive.pdm.cache.config import IDMConfig, MetricCacheConfig
from inspatio_drive.pdm.cache.split import BuildReport, build_cache_for_split
from inspatio_drive.pdm.cache.storage import MetricCacheStore, MissingCacheEntriesError

__all__ = [
    "BUILDER_VERSION",
    "BuildReport",
    "IDMConfig",
    "MetricCacheConfig",
    "MetricCacheStore",
    "MissingCacheEntriesError",
    "build_cache_for_split",
    "build_metric_cache",
    "plot_bev",
    "save_bev",
]
