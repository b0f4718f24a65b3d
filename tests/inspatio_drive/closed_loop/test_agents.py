"""Other agents in the closed loop: log replay (unchanged cache) or constant velocity."""

from __future__ import annotations

import numpy as np
import pytest

from inspatio_drive.closed_loop import rollout
from inspatio_drive.closed_loop.agents import constant_velocity_observation, with_agents
from inspatio_drive.closed_loop.observers import LidarWorldObserver
from planners.constant_velocity import ConstantVelocityPlanner
from planners.pipeline import PlanningPipeline


def test_constant_velocity_agents(sandbox_scene):
    scene, cache, _ = sandbox_scene
    assert with_agents(cache, "log_replay") is cache
    with pytest.raises(ValueError, match="agents must be one of"):
        with_agents(cache, "reactive")
    obs = cache.observation
    moving = [k for k in range(obs.num_objects) if obs.is_agent[k] and obs.speeds[k] > 0.5
              and obs.present[k, : obs.num_steps - 10].any()]
    assert moving, "the pedestrian-crossing scene has moving agents"
    cv = constant_velocity_observation(obs)
    for k in moving:
        f = int(np.flatnonzero(obs.present[k])[0])
        assert not cv.present[k, :f].any() and cv.present[k, f:].all()
        np.testing.assert_allclose(cv.corners[k, f + 10], obs.corners[k, f] + obs.velocities[k] * 1.0, atol=1e-9)
    static = ~obs.is_agent
    np.testing.assert_array_equal(np.nan_to_num(cv.corners[static], nan=-1), np.nan_to_num(obs.corners[static], nan=-1))
    assert cv.polygons.shape == obs.corners.shape[:2]  # rebuilt from the new corners, not the cached ones
    cv_cache = with_agents(cache, "constant_velocity")
    assert cv_cache.observation is not obs and cache.observation is obs
    result = rollout(scene, PlanningPipeline(ConstantVelocityPlanner()), cv_cache, LidarWorldObserver(scene), steps=2)
    assert 0.0 <= result.closed_loop["score"] <= 1.0
