"""One of each: sub-score names, the vehicle, SE(2) helpers, the camera native size and the resolution rule
have one definition; the places that used to repeat them import it (same values, bit for bit)."""

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


def test_se2_helpers_live_in_geometry_and_keep_their_floats():
    """Pose helpers formerly repeated in pdm, data, sandbox and scorers are geometry's, bit for bit."""
    import numpy as np
    import torch

    from inspatio_drive.data import types
    from inspatio_drive.geometry import se2, se3
    from inspatio_drive.pdm import simulation
    from inspatio_drive.pdm.cache import geometry as cache_geometry
    from scorers import poses

    assert simulation.principal_value is se2.principal_value and simulation.normalize_angle is se2.normalize_angle
    assert simulation.local_to_global_poses is se2.local_to_global_se2
    assert cache_geometry.normalize_angle is se2.normalize_angle
    assert types.navsim_absolute_to_relative is se2.absolute_to_relative_se2_navsim
    a = np.random.default_rng(0).uniform(-30.0, 30.0, 1000)
    np.testing.assert_array_equal(se2.wrap_angle(a), (a + np.pi) % (2.0 * np.pi) - np.pi)  # the former spellings
    np.testing.assert_array_equal(se2.normalize_angle(a), np.arctan2(np.sin(a), np.cos(a)))
    p32 = torch.tensor(np.random.default_rng(1).normal(size=(5, 3)), dtype=torch.float32)
    m = poses.se2_to_se3(p32)
    c, s = torch.cos(p32[:, 2]), torch.sin(p32[:, 2])
    assert m.dtype == torch.float32
    assert torch.equal(m[:, :2, :2], torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2))
    assert torch.equal(m[:, :2, 3], p32[:, :2]) and torch.equal(se3.se2_to_se3(p32), se3.se2_to_se3(p32.double()))


def test_camera_carries_its_native_size():
    import numpy as np

    from inspatio_drive.data.types import Camera
    from inspatio_drive.geometry.intrinsics import NAVSIM_IMAGE_SIZE
    from inspatio_drive.render.types import render_cameras

    assert NAVSIM_IMAGE_SIZE == (1920, 1080)
    k, r, t = np.diag([100.0, 100.0, 1.0]), np.eye(3), np.zeros(3)
    logged = Camera("CAM_F0", None, k, r, t)
    loaded = Camera("CAM_B0", np.zeros((54, 96, 3), np.uint8), k, r, t)
    assert logged.image_size == (1920, 1080) and loaded.image_size == (96, 54)
    assert render_cameras({"CAM_F0": logged}, ["CAM_F0"]).image_size == (1920, 1080)
    assert render_cameras({"CAM_F0": logged, "CAM_B0": loaded}, ["CAM_F0", "CAM_B0"]).image_size == (96, 54)


def test_one_resolution_rule_names_the_knob():
    import pytest

    from inspatio_drive.world_model.condition import check_image_size

    assert check_image_size([64.0, 32], "closed_loop.image_size") == (64, 32)
    with pytest.raises(ValueError, match=r"^generate_size 60x32: .*multiples of 16.*a multiple of 16"):
        check_image_size((60, 32), "generate_size")
    with pytest.raises(ValueError, match=r"counterfactual\.image_size 64x54"):
        check_image_size((64, 54), "counterfactual.image_size")
