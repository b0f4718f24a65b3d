"""Sub-score vocabulary shared by every layer: the NAVSIM v1.1 PDM sub-scores, their short names and DrivoR's.

Short names (``NC``, ``DAC``, ``DDC``, ``TTC``, ``EP``, ``C``) key logits, targets and selection weights;
navsim's column names (``no_at_fault_collisions`` …) key result rows and CSV columns.
"""

from __future__ import annotations

# Canonical order of the six PDM sub-scores used everywhere in planners/ (logits, targets, weights).
SUBSCORE_NAMES: tuple[str, ...] = ("NC", "DAC", "DDC", "TTC", "EP", "C")
# DrivoR's head names (``Scorer.pred_score`` keys) -> our short names.
DRIVOR_HEAD_TO_SUBSCORE: dict[str, str] = {
    "no_at_fault_collisions": "NC",
    "drivable_area_compliance": "DAC",
    "driving_direction_compliance": "DDC",
    "time_to_collision_within_bound": "TTC",
    "ego_progress": "EP",
    "comfort": "C",
}
