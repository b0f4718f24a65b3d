"""SE(2) poses: round trips, matrix form, frame axes."""

import numpy as np
import pytest

from inspatio_drive.geometry import (
    absolute_to_relative_se2,
    relative_to_absolute_se2,
    se2_to_matrix,
    wrap_angle,
)


@pytest.mark.parametrize("seed", range(5))
def test_se2_round_trip_and_matrix(seed):
    rng = np.random.default_rng(seed)
    origin = np.array([rng.uniform(-1e5, 1e5), rng.uniform(-1e5, 1e5), rng.uniform(-4, 4)])
    poses = np.column_stack([rng.normal(size=(7, 2)) * 50, rng.uniform(-3, 3, 7)])
    rel = absolute_to_relative_se2(origin, relative_to_absolute_se2(origin, poses))
    np.testing.assert_allclose(rel[:, :2], poses[:, :2], atol=1e-8)
    np.testing.assert_allclose(wrap_angle(rel[:, 2] - poses[:, 2]), 0, atol=1e-12)
    # matrix form agrees with the composition
    m = se2_to_matrix(origin) @ se2_to_matrix(poses)
    absolute = relative_to_absolute_se2(origin, poses)
    np.testing.assert_allclose(m[:, :2, 3], absolute[:, :2], rtol=1e-12)


def test_relative_frame_axes():
    # origin facing +y (heading π/2): a point 1 m further along +y is 1 m ahead (x forward)
    rel = absolute_to_relative_se2([0, 0, np.pi / 2], [[0, 1, np.pi / 2], [-1, 0, 0]])
    np.testing.assert_allclose(rel[0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rel[1, :2], [0, 1], atol=1e-12)  # −x global is to the left
