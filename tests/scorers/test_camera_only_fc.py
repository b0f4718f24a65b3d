"""Issue 22: the FC term on a scene without LiDAR — the cloud comes from the cameras' depth (here the sandbox
oracle's true depth of the bundled sandbox sample, a perfect monocular model), and the FC asks for no LiDAR."""

import dataclasses

import numpy as np
import pytest
import torch

from inspatio_drive.closed_loop.geometric import sandbox_oracle
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from inspatio_drive.data.types import AgentInput, Lidar
from inspatio_drive.render.mono_depth import LookupDepth
from planners.constant_velocity import ConstantVelocityPlanner
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer
from scorers.geometric import GeometricFC

pytest.importorskip("embreex")


@pytest.fixture(scope="module")
def camera_only():
    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    scene = loader.get_scene_from_token(loader.tokens[0])
    oracle = sandbox_oracle(root / "sensor_blobs" / SAMPLE_SPLIT, scene.scene_metadata.log_name)
    depths = oracle.history_depths(scene, ["CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0"], frames=1)
    full = scene.get_agent_input()
    no_lidar = AgentInput(full.ego_statuses, full.cameras, [Lidar(None) for _ in full.lidars])
    planner = ScoredPlanner(ConstantVelocityPlanner(yaw_rates=(-0.3, 0.0, 0.3), speed_factors=(0.0, 1.0)),
                            RuleBasedScorer())
    return scene, full, no_lidar, depths, planner.propose(full), oracle


def test_fc_runs_without_lidar_from_camera_depth(camera_only):
    _, full, no_lidar, depths, candidates, _ = camera_only
    with pytest.raises(ValueError, match="no LiDAR sweep loaded"):
        GeometricFC(image_size=(96, 54))(no_lidar, candidates)
    fc = GeometricFC(image_size=(96, 54), depth="oracle", depth_backend=LookupDepth(depths),
                     mono={"stride": 2})
    assert "lidar_pc" not in fc.sensor_needs(4) and "lidar_pc" in GeometricFC().sensor_needs(4)
    out = fc(no_lidar, candidates)
    lidar = GeometricFC(image_size=(96, 54))(full, candidates)
    assert out.logit.shape == (6,) and out.extras["render"].shape[:3] == (6, 8, 4)
    # the camera cloud sees what the LiDAR cloud sees: both render most of the near future
    cov_mono = out.extras["render"].valid[:, 0].float().mean()
    cov_lidar = lidar.extras["render"].valid[:, 0].float().mean()
    assert float(cov_mono) > 0.5 * float(cov_lidar) and float(cov_lidar) > 0.05, (float(cov_mono), float(cov_lidar))
    assert set(out.features) == set(lidar.features)
    with pytest.raises(ValueError, match="depth_backend needs"):
        GeometricFC(depth_backend=LookupDepth(depths))


def test_geometric_observer_without_lidar(camera_only):
    from inspatio_drive.closed_loop.geometric import GeometricObserver

    scene, _, _, _, _, oracle = camera_only
    frames = [dataclasses.replace(f, lidar=Lidar(None)) for f in scene.frames]
    no_lidar = dataclasses.replace(scene, frames=frames)
    with pytest.raises(ValueError, match="no LiDAR sweep loaded"):
        GeometricObserver(no_lidar, ("CAM_F0", "CAM_B0"), (96, 54))
    with pytest.raises(ValueError, match="needs a sandbox scene"):
        GeometricObserver(no_lidar, ("CAM_F0", "CAM_B0"), (96, 54), depth="oracle")
    obs = GeometricObserver(no_lidar, ("CAM_F0", "CAM_B0"), (96, 54), oracle=oracle, depth="oracle",
                            mono={"stride": 2})
    assert obs.points.meta["depth"] == "mono" and obs.points.meta["lidar_points"] == 0 and len(obs.points) > 1000
    assert np.isfinite(obs.points.xyz.numpy()).all() and obs.points.rgb.dtype == torch.uint8
