"""Shared small sandbox fixtures: one tiny world and one tiny written split (module-scoped, fast)."""

from __future__ import annotations

import pytest

from inspatio_drive.sandbox import LidarModel, RenderConfig, generate_scene
from inspatio_drive.sandbox.writer import write_split

TINY = RenderConfig(width=96, height=54, lidar=LidarModel(channels=16, azimuths=180), texture_res=0.25)


@pytest.fixture(scope="session")
def tiny_config():
    return TINY


@pytest.fixture(scope="session")
def tiny_world():
    return generate_scene("lead_vehicle_braking", 3, num_frames=6, density=0.5)


@pytest.fixture(scope="session")
def tiny_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox_root")
    paths = write_split(root, "tiny", 1, ["cut_in"], seed=5, num_frames=6, density=0.5, config=TINY,
                        show_progress=False)
    return root, paths
