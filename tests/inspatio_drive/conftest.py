"""Fixtures shared by the room tests and the command tests below: the bundled sandbox sample (scene, metric
cache, oracle) and the procedural street of the renderer."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspatio_drive.render.synthetic import make_street, synthetic_agent_input


@pytest.fixture(scope="session")
def sample():
    """(root, loader) of the bundled sandbox sample, every sensor loaded."""
    from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
    from inspatio_drive.data.roots import sample_root

    root = Path(sample_root())
    loader = SceneLoader(root / "navsim_logs" / "sample", root / "sensor_blobs" / "sample", SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    return root, loader


@pytest.fixture(scope="session")
def sandbox_scene(sample):
    """(scene, metric cache, oracle) of the first sample scene (pedestrian crossing, straight road)."""
    from inspatio_drive.closed_loop.geometric import sandbox_oracle
    from inspatio_drive.maps import load_map
    from inspatio_drive.pdm.cache.builder import build_metric_cache

    root, loader = sample
    scene = loader.get_scene_from_token(loader.tokens[0])
    cache = build_metric_cache(scene, load_map(root / "maps", scene.scene_metadata.map_name))
    oracle = sandbox_oracle(root / "sensor_blobs" / "sample", scene.scene_metadata.log_name)
    assert oracle is not None
    return scene, cache, oracle


@pytest.fixture(scope="session")
def small_street():
    """The procedural street, coarse, with 4 history frames of 4 cameras at 160×90."""
    street = make_street(step=0.2)
    agent_input, street = synthetic_agent_input(street, image_size=(160, 90), lidar_resolution=(200, 80))
    return street, agent_input
