"""The contracts vocabulary: one spelling of every sub-score name, the order each consumer relies on."""

from __future__ import annotations

from inspatio_drive.contracts import (
    DRIVOR_HEAD_TO_SUBSCORE,
    METRIC_LABELS,
    NAVSIM_PDM_COLUMNS,
    NAVSIM_TO_SUBSCORE,
    SUBSCORE_NAMES,
    SUBSCORE_TO_NAVSIM,
)


def test_subscore_names_and_orders():
    assert SUBSCORE_NAMES == ("NC", "DAC", "DDC", "TTC", "EP", "C")
    assert tuple(SUBSCORE_TO_NAVSIM) == SUBSCORE_NAMES
    assert NAVSIM_TO_SUBSCORE == DRIVOR_HEAD_TO_SUBSCORE == {v: k for k, v in SUBSCORE_TO_NAVSIM.items()}
    # navsim v1.1 PDMResults field order = the CSV column order of run_pdm_score.py
    assert NAVSIM_PDM_COLUMNS == (
        "no_at_fault_collisions",
        "drivable_area_compliance",
        "ego_progress",
        "time_to_collision_within_bound",
        "comfort",
        "driving_direction_compliance",
        "score",
    )
    assert METRIC_LABELS == (
        ("score", "PDMS"),
        ("no_at_fault_collisions", "NC"),
        ("drivable_area_compliance", "DAC"),
        ("driving_direction_compliance", "DDC"),
        ("time_to_collision_within_bound", "TTC"),
        ("ego_progress", "EP"),
        ("comfort", "C"),
    )


def test_consumers_use_the_one_definition():
    from inspatio_drive.evaluation.results import PDM_COLUMNS
    from inspatio_drive.evaluation.study import METRICS
    from inspatio_drive.pdm.scorer import PDMResults
    from planners.drivor.model import DRIVOR_HEADS
    from planners.scoring.oracle import PDM_FIELDS
    from scorers.dataset import SUBSCORE_KEYS
    from scorers.study import SUBSCORE_ORDER

    assert PDM_COLUMNS is NAVSIM_PDM_COLUMNS and PDMResults.SUBSCORES is NAVSIM_PDM_COLUMNS
    assert SUBSCORE_KEYS is NAVSIM_PDM_COLUMNS
    assert METRICS is METRIC_LABELS and SUBSCORE_ORDER is METRIC_LABELS
    assert PDM_FIELDS is SUBSCORE_TO_NAVSIM
    # DrivoR's ModuleDict order (the released checkpoint's)
    assert DRIVOR_HEADS == (
        "no_at_fault_collisions",
        "drivable_area_compliance",
        "time_to_collision_within_bound",
        "ego_progress",
        "driving_direction_compliance",
        "comfort",
    )


def test_pacifica_is_the_one_vehicle():
    """The footprints derived from contracts.PACIFICA carry exactly nuplan's literals (float64, bit for bit)."""
    from inspatio_drive.contracts import PACIFICA
    from inspatio_drive.sandbox import actors
    from scorers.vehicle import PACIFICA as FOOTPRINT

    assert PACIFICA.front_length + PACIFICA.rear_length == 4.049 + 1.127 == 5.176
    assert PACIFICA.width == 2.297 and PACIFICA.height == 1.777
    assert PACIFICA.half_length - PACIFICA.rear_length == 1.461
    assert (FOOTPRINT.length, FOOTPRINT.width, FOOTPRINT.rear_axle_to_center) == (5.176, 2.297, 1.461)
    assert (actors.EGO_LENGTH, actors.EGO_WIDTH, actors.EGO_HEIGHT, actors.EGO_REAR_TO_CENTER) == (
        5.176,
        2.297,
        1.777,
        1.461,
    )
