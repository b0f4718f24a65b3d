"""NAVSIM v2.2 extended PDM score (EPDMS), next to the v1.1 PDMS of :mod:`inspatio_drive.pdm` (unchanged).

Public API (what evaluate / closed loop call):

* :func:`~inspatio_drive.pdm.cache.epdms.build_epdms_cache` (``Scene`` + ``MapAPI`` → :class:`EPDMSCache`),
  :meth:`EPDMSCache.save` / :meth:`EPDMSCache.load`, or a ``MetricCacheStore(..., metric="epdms")``;
* :func:`score_epdms` (cache + candidates ``[K, 8, 3]`` + traffic policy [+ the previous frame's plans] →
  :class:`EPDMSResults`, a per-candidate table with navsim's v2 column names);
* :func:`one_stage_rows` (the chosen plan of every scene → navsim's one-stage CSV rows with EC and the final
  score, ``average_all_frames`` last).

Rules and file:line references into navsim v2.2: ``shared/reference/navsim_v2_epdms.md``; docs: ``docs/pdm.md``.
"""

from inspatio_drive.pdm.v2.aggregate import FrameResult, adjacent_previous, one_stage_rows
from inspatio_drive.pdm.v2.cache import EPDMSCache, RedLights, scene_type_of_token
from inspatio_drive.pdm.v2.idm import IDMTrafficConfig
from inspatio_drive.pdm.v2.scorer import (
    EC_COLUMN,
    EPDMS_COLUMNS,
    HUMAN_FILTERS,
    SUBMETRICS,
    EPDMSConfig,
    EPDMSResults,
    PreviousFrame,
    final_scores,
    score_epdms,
    simulate_plans,
)
from inspatio_drive.pdm.v2.traffic import TRAFFIC_POLICIES

__all__ = [
    "EC_COLUMN",
    "EPDMS_COLUMNS",
    "HUMAN_FILTERS",
    "SUBMETRICS",
    "TRAFFIC_POLICIES",
    "EPDMSCache",
    "EPDMSConfig",
    "EPDMSResults",
    "FrameResult",
    "IDMTrafficConfig",
    "PreviousFrame",
    "RedLights",
    "adjacent_previous",
    "final_scores",
    "one_stage_rows",
    "scene_type_of_token",
    "score_epdms",
    "simulate_plans",
]
