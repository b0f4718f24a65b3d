"""Closed loop on the golden NAVSIM scenes: the open-loop score of the first plan equals navsim's own number,
a planner that re-plans the same motion scores the same closed-loop, and a planner that misbehaves in closed
loop only is caught."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from inspatio_drive.closed_loop import LidarWorldObserver, driving_command, rollout
from inspatio_drive.contracts import Candidates
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.maps import load_map
from inspatio_drive.pdm.cache.builder import build_metric_cache
from planners.constant_velocity import ConstantVelocityPlanner
from planners.pipeline import PlanningPipeline

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


@pytest.fixture(scope="module")
def scene_a():
    loader = SceneLoader(GOLDEN / "navsim_logs" / "golden_a", GOLDEN / "sensor_blobs" / "golden_a", SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    scene = loader.get_scene_from_token(loader.tokens[0])
    return scene, build_metric_cache(scene, load_map(GOLDEN / "maps", scene.scene_metadata.map_name))


def test_constant_velocity_closed_equals_open(scene_a):
    scene, cache = scene_a
    result = rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cache, LidarWorldObserver(scene))
    assert result.open_loop["score"] == pytest.approx(0.5833333, abs=1e-6)  # navsim run_pdm_score's number
    assert result.closed_loop == pytest.approx(result.open_loop, abs=1e-6)
    assert result.states.shape == (41, 11) and len(result.steps) == 8
    progress = [s.progress_m for s in result.steps]
    assert progress[0] == 0 and all(b > a for a, b in itertools.pairwise(progress))
    assert all(s.in_drivable_area and not s.at_fault_collision for s in result.steps)


class _SwerveAfterFirstStep:
    """Straight ahead at the first step, then hard right every time it re-plans (the open-loop plan looks
    fine; only the closed loop sees what it does)."""

    name = "swerve"

    def __init__(self):
        self.calls = 0

    def propose(self, agent_input):
        v = float(np.hypot(*agent_input.ego_statuses[-1].ego_velocity))
        t = torch.arange(1, 9, dtype=torch.float64) * 0.5
        yaw_rate = 0.0 if self.calls == 0 else -0.6
        self.calls += 1
        heading = yaw_rate * t
        x = torch.cumsum(v * 0.5 * torch.cos(heading), 0)
        y = torch.cumsum(v * 0.5 * torch.sin(heading), 0)
        return Candidates(torch.stack([x, y, heading], -1)[None].float())


def test_closed_loop_catches_what_open_loop_misses(scene_a):
    scene, cache = scene_a
    observer = LidarWorldObserver(scene)
    assert observer.lidar_at(cache.initial_state).points.shape[0] == 6
    result = rollout(scene, PlanningPipeline(_SwerveAfterFirstStep()), cache, observer)
    assert result.open_loop["score"] == pytest.approx(0.5833333, abs=1e-6)
    assert result.closed_loop["score"] < result.open_loop["score"]
    assert result.steps[-1].heading < result.steps[0].heading - 0.3  # it really turned right
    assert driving_command(cache.initial_state, cache).tolist() == [1, 0, 0, 0]  # the route turns left here


def test_bad_step_count(scene_a):
    scene, cache = scene_a
    with pytest.raises(ValueError, match="steps must be"):
        rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cache, LidarWorldObserver(scene), steps=9)


def test_counterfactual_round_trip(scene_a, tmp_path):
    from inspatio_drive.closed_loop.counterfactual import (
        Perturbation,
        counterfactual_scene,
        export_counterfactuals,
        read_synthetic_scene,
    )

    scene, _ = scene_a
    left = Perturbation("left1m", lateral_m=1.0, heading_deg=5.0)

    def render(sc, i, pose):  # stands in for the renderer: a constant image per frame
        return {"CAM_F0": np.full((9, 16, 3), 10 * i, np.uint8)}

    cf = counterfactual_scene(scene, left, render)
    cur = scene.current_index
    rel = cf.frames[cur].ego_status.ego_pose - scene.frames[cur].ego_status.ego_pose
    h = scene.frames[cur].ego_status.ego_pose[2]
    assert rel[:2] == pytest.approx([-np.sin(h) * 1.0, np.cos(h) * 1.0], abs=1e-9)  # 1 m to the left
    assert rel[2] == pytest.approx(np.deg2rad(5.0))
    # a box keeps its global position: global(old ego ∘ box) == global(new ego ∘ box')
    f_old, f_new = scene.frames[cur], cf.frames[cur]
    if f_old.annotations is not None and len(f_old.annotations.boxes):
        def to_global(pose, xy):
            c, s = np.cos(pose[2]), np.sin(pose[2])
            return pose[:2] + np.array([[c, -s], [s, c]]) @ xy
        g_old = to_global(f_old.ego_status.ego_pose, f_old.annotations.boxes[0, :2])
        g_new = to_global(f_new.ego_status.ego_pose, f_new.annotations.boxes[0, :2])
        assert g_new == pytest.approx(g_old, abs=1e-6)
    paths = export_counterfactuals([scene], [left, Perturbation("slow", speed_factor=0.5)], tmp_path, render,
                                   progress=False)
    assert len(paths) == 2
    back = read_synthetic_scene(paths[0])
    assert back.scene_metadata.initial_token == cf.scene_metadata.initial_token != scene.scene_metadata.initial_token
    assert back.frames[cur].ego_status.ego_pose == pytest.approx(cf.frames[cur].ego_status.ego_pose)
    assert back.frames[5].cameras["CAM_F0"].image.mean() == pytest.approx(50, abs=2)
    slow = read_synthetic_scene(paths[1], load_images=False)
    moved = np.linalg.norm(slow.frames[-1].ego_status.ego_pose[:2] - slow.frames[cur].ego_status.ego_pose[:2])
    logged = np.linalg.norm(scene.frames[-1].ego_status.ego_pose[:2] - scene.frames[cur].ego_status.ego_pose[:2])
    assert moved < 0.6 * logged


def test_geometric_observer_on_golden_scene(scene_a):
    """The geometric observer on a NAVSIM-layout scene (no oracle: coverage only; the golden logs carry 16 × 9
    placeholder images and 8 LiDAR points, so the imagined views are empty — image content is tested on the
    sandbox), navsim's open-loop number unchanged."""
    from inspatio_drive.closed_loop.geometric import GeometricObserver

    scene, cache = scene_a
    obs = GeometricObserver(scene, ("CAM_F0", "CAM_B0"), (64, 36))
    result = rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cache, obs, steps=3, keep_observations=True)
    assert result.open_loop["score"] == pytest.approx(0.5833333, abs=1e-6)
    assert all(s.psnr_db is None for s in result.steps)
    assert result.steps[0].coverage == 1.0 and all(0 <= s.coverage < 1 for s in result.steps[1:])
    cam = result.observations[2].cameras[-1]["CAM_F0"]
    src = scene.frames[scene.current_index].cameras["CAM_F0"]
    w, h = src.image.shape[1], src.image.shape[0]
    assert cam.image.shape == (36, 64, 3)
    np.testing.assert_allclose(cam.intrinsics[0, 0], src.intrinsics[0, 0] * 64 / w)
    np.testing.assert_allclose(cam.intrinsics[1, 1], src.intrinsics[1, 1] * 36 / h)
