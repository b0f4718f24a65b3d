"""The metric knobs every scoring command shares (``metric=pdms|epdms``, ``traffic=``, ``epdms.human_filter=``):
their check, the label rows carry, and navsim v2's short column names (used by evaluate and closed-loop, which
may not import each other)."""

from __future__ import annotations

from inspatio_drive.pdm.cache.storage import METRICS
from inspatio_drive.pdm.v2.scorer import EC_COLUMN, HUMAN_FILTERS
from inspatio_drive.pdm.v2.traffic import TRAFFIC_POLICIES

__all__ = ["EPDMS_SHORT", "METRICS", "METRIC_LABEL", "check_metric"]

METRIC_LABEL = {"pdms": "navsim_v1.1_pdms", "epdms": "navsim_v2.2_epdms"}
"""What an output row's ``metric`` column says (the spelling of ``pdm-score``'s output)."""
EPDMS_SHORT = {"score": "EPDMS", "no_at_fault_collisions": "NC", "drivable_area_compliance": "DAC",
               "driving_direction_compliance": "DDC", "traffic_light_compliance": "TLC", "ego_progress": "EP",
               "time_to_collision_within_bound": "TTC", "lane_keeping": "LK", "history_comfort": "HC",
               EC_COLUMN: "EC"}
"""navsim v2 column → short label (summaries, plots, viewer, closed-loop table)."""


def check_metric(metric: str, traffic: str, human_filter: str) -> None:
    """One-line ``ValueError`` for an unknown ``metric`` / ``traffic`` / ``epdms.human_filter``, and for a traffic
    policy other than log replay with ``metric=pdms`` (v1.1 has none)."""
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
    if traffic not in TRAFFIC_POLICIES:
        raise ValueError(f"traffic: expected one of {TRAFFIC_POLICIES}, got {traffic!r}")
    if human_filter not in HUMAN_FILTERS:
        raise ValueError(f"epdms.human_filter: expected one of {HUMAN_FILTERS}, got {human_filter!r}")
    if metric == "pdms" and traffic != "log_replay":
        raise ValueError(f"traffic={traffic}: only metric=epdms has traffic policies (metric=pdms is NAVSIM v1.1, "
                         "log replay); add metric=epdms")
