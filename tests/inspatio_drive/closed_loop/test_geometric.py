"""The geometric observer on a sandbox scene: real history before t0, imagined frames after it, views that
follow the simulated pose, and observation drift against the oracle in the step records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspatio_drive.closed_loop import rollout
from inspatio_drive.closed_loop.geometric import GeometricObserver, psnr_valid, resize_image
from inspatio_drive.closed_loop.rollout import comfort_per_state, ego_statuses, scene_history_states
from inspatio_drive.pdm.scorer import PDMScorerConfig
from inspatio_drive.pdm.types import StateIndex
from planners.constant_velocity import ConstantVelocityPlanner
from planners.pipeline import PlanningPipeline

SIZE = (96, 54)
CAMS = ("CAM_F0", "CAM_B0")


def _statuses(scene):
    states = scene_history_states(scene)
    return ego_statuses(states, [f.ego_status.driving_command for f in scene.frames[: scene.current_index + 1]])


def test_psnr_valid():
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    valid = np.ones((2, 3), bool)
    assert psnr_valid(a, b, valid) == pytest.approx(10 * np.log10(255**2 / (255**2 / 6)))
    valid[0, 0] = False
    assert psnr_valid(a, b, valid) == float("inf")
    assert np.isnan(psnr_valid(a, b, np.zeros((2, 3), bool)))
    with pytest.raises(ValueError, match="shapes"):
        psnr_valid(a, b[:1], valid)


def test_first_step_is_the_real_frame(sandbox_scene):
    scene, cache, _ = sandbox_scene
    obs = GeometricObserver(scene, CAMS, SIZE)
    agent_input = obs.observe(_statuses(scene), cache.initial_state, 0, cache.initial_time_us)
    assert len(agent_input.cameras) == len(agent_input.lidars) == scene.current_index + 1
    for i, frame in enumerate(scene.frames[: scene.current_index + 1]):
        cam = agent_input.cameras[i]["CAM_F0"]
        assert cam.image.shape == (SIZE[1], SIZE[0], 3) and cam.image.dtype == np.uint8
        np.testing.assert_array_equal(cam.image, resize_image(frame.cameras["CAM_F0"].image, SIZE))
        # intrinsics follow the image: 480x270 logged → 96x54 (÷5)
        np.testing.assert_allclose(cam.intrinsics[:2], frame.cameras["CAM_F0"].intrinsics[:2] / 5)
        assert agent_input.lidars[i] is frame.lidar
    assert set(agent_input.cameras[-1]) == set(CAMS)
    assert obs.last_metrics == {"psnr_db": None, "coverage": 1.0}


def test_render_follows_the_pose(sandbox_scene):
    """Views imagined 2.5 m to the left match the oracle there better than the views from the start pose."""
    scene, cache, oracle = sandbox_scene
    cams = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")
    obs = GeometricObserver(scene, cams, SIZE, oracle=oracle)
    moved = cache.initial_state.copy()
    h = moved[StateIndex.HEADING]
    moved[:2] += 2.5 * np.array([-np.sin(h), np.cos(h)])
    t = cache.initial_time_us
    here, there = obs.imagine(cache.initial_state, t), obs.imagine(moved, t)
    truth = obs.oracle_views(moved, t)
    valid = np.stack([here.valid[c] & there.valid[c] for c in cams])
    assert valid.mean() > 0.3
    good = psnr_valid(np.stack([there.cameras[c].image for c in cams]), np.stack([truth[c] for c in cams]), valid)
    bad = psnr_valid(np.stack([here.cameras[c].image for c in cams]), np.stack([truth[c] for c in cams]), valid)
    assert good > bad + 1.0
    assert good > 15.0
    # the imagined LiDAR is the history sweeps re-expressed in the moved frame: 2.5 m further right
    shift = there.lidar.points[:2].mean(1) - here.lidar.points[:2].mean(1)
    np.testing.assert_allclose(shift, [0.0, -2.5], atol=1e-3)


def test_rollout_records_drift(sandbox_scene):
    scene, cache, oracle = sandbox_scene
    obs = GeometricObserver(scene, CAMS, SIZE, oracle=oracle)
    result = rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cache, obs, steps=3, keep_observations=True)
    s = result.steps
    assert s[0].coverage == 1.0 and s[0].psnr_db > 20  # the real frame vs the oracle: JPEG loss only
    assert all(r.psnr_db is not None and 10 < r.psnr_db < s[0].psnr_db for r in s[1:])
    assert all(0.05 < r.coverage < 1.0 for r in s[1:])
    assert s[2].coverage < s[1].coverage  # the history point cloud covers less and less of the view ahead
    # history: step 2 sees real frames before t0, then the imagined frames of steps 1 and 2
    last = result.observations[2]
    n = scene.current_index + 1
    real = resize_image(scene.frames[scene.current_index].cameras["CAM_F0"].image, SIZE)
    np.testing.assert_array_equal(last.cameras[n - 3]["CAM_F0"].image, real)
    np.testing.assert_array_equal(last.cameras[-1]["CAM_F0"].image, obs.views[2].images["CAM_F0"])
    assert len(obs.views) == 3 and obs.views[1].oracle is not None
    assert result.closed_loop == pytest.approx(result.open_loop, abs=1e-6)  # constant velocity: same path
    assert all(r.comfortable for r in s) and result.closed_loop["comfort"] == 1.0


def test_comfort_per_state_finds_the_swerve(sandbox_scene):
    _, cache, _ = sandbox_scene
    cfg = PDMScorerConfig()
    states = np.repeat(cache.initial_state[None], cfg.num_steps + 1, 0)
    states[:, StateIndex.ACCELERATION_X] = 0.0
    states[:, StateIndex.ACCELERATION_Y] = 0.0
    states[21:, StateIndex.HEADING] += 0.3  # a 0.3 rad heading jerk at t = 2.1 s
    ok = comfort_per_state(states, cfg)
    assert ok.shape == (cfg.num_steps + 1,)
    assert not ok[20:22].any() and ok[:15].all() and ok[28:].all()
    from inspatio_drive.pdm.comfort import comfort_checks

    assert bool(ok.all()) == bool(comfort_checks(states[None]).all()) is False


class _RecordingGenerator:
    """Stands in for InSpatio-World: records its inputs, returns mid-grey videos."""

    def __init__(self):
        self.calls = []

    def generate(self, source, render, mask, seed=0):
        from inspatio_drive.world_model.generator import GeneratedBlock

        self.calls.append((source, render, mask, seed))
        yield GeneratedBlock(0, range(render.shape[1]), torch.full_like(render, 0.5))


def test_world_model_observer_plumbing(sandbox_scene):
    from inspatio_drive.closed_loop.geometric import WorldModelObserver

    scene, cache, _ = sandbox_scene
    gen = _RecordingGenerator()
    with pytest.raises(ValueError, match="multiples of 16"):
        WorldModelObserver(scene, gen, cameras=CAMS, image_size=(96, 54))
    obs = WorldModelObserver(scene, gen, cameras=CAMS, image_size=(64, 32))
    result = rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cache, obs, steps=2, keep_observations=True)
    assert len(gen.calls) == len(CAMS)  # step 0 is real; step 1 imagines each camera once
    source, render, mask, _ = gen.calls[0]
    assert source.shape == (1, 3, 32, 64) and render.shape == (1, 9, 3, 32, 64) and mask.shape == (1, 9, 32, 64)
    # the source is the previous (real) frame; the condition's first frame is rendered at the previous pose
    real = resize_image(scene.frames[scene.current_index].cameras["CAM_F0"].image, (64, 32))
    np.testing.assert_allclose(source[0].permute(1, 2, 0).numpy() * 255, real, atol=1e-3)
    rgb0, _ = obs.render(obs.pose_ego0(cache.initial_state)[None])
    np.testing.assert_allclose(render[0, 0].numpy() * 255, rgb0[0, 0].numpy(), atol=1e-3)
    image = result.observations[1].cameras[-1]["CAM_F0"].image
    assert image.shape == (32, 64, 3) and (image == 128).all()  # the generated frame is what the planner saw
    assert result.steps[1].coverage == 1.0


def test_dynamic_modes_move_the_agents(sandbox_scene):
    scene, cache, _ = sandbox_scene
    with pytest.raises(ValueError, match="dynamic must be"):
        GeometricObserver(scene, CAMS, SIZE, dynamic="forecast")
    static = GeometricObserver(scene, ("CAM_F0",), SIZE)
    moving = GeometricObserver(scene, ("CAM_F0",), SIZE, dynamic="privileged")
    dyn = moving.points.instance >= 0
    assert bool(dyn.any()), "the pedestrian-crossing history sees moving agents"
    t0 = cache.initial_time_us
    later = t0 + 2_000_000
    a0, b0 = static.imagine(cache.initial_state, t0), moving.imagine(cache.initial_state, t0)
    a2, b2 = static.imagine(cache.initial_state, later), moving.imagine(cache.initial_state, later)
    np.testing.assert_array_equal(a2.cameras["CAM_F0"].image, a0.cameras["CAM_F0"].image)  # static: time-free
    assert (b2.cameras["CAM_F0"].image != b0.cameras["CAM_F0"].image).any(-1).mean() > 0.001
    # LiDAR = the moved point cloud: static points fixed, agent points displaced along their logged tracks
    l0, l2 = moving.lidar_at(cache.initial_state, t0).points, moving.lidar_at(cache.initial_state, later).points
    keep = ~dyn.numpy()
    np.testing.assert_allclose(l0[:3, keep], l2[:3, keep], atol=1e-4)
    np.testing.assert_allclose(l0[:3].T, moving.points.xyz.numpy(), atol=1e-3)  # at t0 in ego0 = the cloud
    shift = np.linalg.norm(l2[:2, ~keep] - l0[:2, ~keep], axis=0)
    assert shift.max() > 1.0
