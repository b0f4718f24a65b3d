"""Sub-score vocabulary shared by every layer: the NAVSIM v1.1 PDM sub-scores, their short names and DrivoR's.

Short names (``NC``, ``DAC``, ``DDC``, ``TTC``, ``EP``, ``C``) key logits, targets and selection weights;
navsim's column names (``no_at_fault_collisions`` …) key result rows and CSV columns. This module is the one
place either spelling is written out; everything else derives from it.
"""

from __future__ import annotations

# Canonical order of the six PDM sub-scores used everywhere in planners/ (logits, targets, weights).
SUBSCORE_NAMES: tuple[str, ...] = ("NC", "DAC", "DDC", "TTC", "EP", "C")
# Our short name -> navsim v1.1 ``PDMResults`` field / CSV column (in SUBSCORE_NAMES order).
SUBSCORE_TO_NAVSIM: dict[str, str] = {
    "NC": "no_at_fault_collisions",
    "DAC": "drivable_area_compliance",
    "DDC": "driving_direction_compliance",
    "TTC": "time_to_collision_within_bound",
    "EP": "ego_progress",
    "C": "comfort",
}
NAVSIM_TO_SUBSCORE: dict[str, str] = {navsim: short for short, navsim in SUBSCORE_TO_NAVSIM.items()}
# DrivoR names its heads (``Scorer.pred_score`` keys) with navsim's field names -> our short names.
DRIVOR_HEAD_TO_SUBSCORE: dict[str, str] = NAVSIM_TO_SUBSCORE

# navsim's aggregate column and its short label.
PDM_SCORE, PDMS = "score", "PDMS"
# navsim v1.1 PDM columns in ``PDMResults`` field order, the order of its CSV (sub-scores, then ``score``).
NAVSIM_PDM_COLUMNS: tuple[str, ...] = (
    *(SUBSCORE_TO_NAVSIM[s] for s in ("NC", "DAC", "EP", "TTC", "C", "DDC")),
    PDM_SCORE,
)
# (navsim column, short label) for tables: ``score`` (PDMS) first, then the sub-scores in SUBSCORE_NAMES order.
METRIC_LABELS: tuple[tuple[str, str], ...] = (
    (PDM_SCORE, PDMS),
    *((SUBSCORE_TO_NAVSIM[s], s) for s in SUBSCORE_NAMES),
)
