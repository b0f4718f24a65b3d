"""The pipeline plans on navsim's agent-input dtypes and reports what its planner and FC term read."""

from __future__ import annotations

import numpy as np
import torch

from inspatio_drive.contracts import FCOutput
from inspatio_drive.data.types import AgentInput, EgoStatus, Lidar
from planners.constant_velocity import ConstantVelocityPlanner
from planners.pipeline import PlanningPipeline, navsim_agent_input


def _input(dtype):
    statuses = [EgoStatus(ego_pose=np.array([-1.0 / 3.0 * (3 - i), 1e-9, 0.0], dtype=dtype),
                          ego_velocity=np.array([5.0, 0.0], np.float32), ego_acceleration=np.zeros(2, np.float32),
                          driving_command=np.array([0, 1, 0, 0])) for i in range(4)]
    return AgentInput(statuses, [{} for _ in range(4)], [Lidar(points=None) for _ in range(4)])


class _PoseEcho:
    """FC whose logit is the second history pose's x (-2/3, not a float32 number): it sees exactly the poses the pipeline planned on."""

    def __call__(self, agent_input, candidates):
        return FCOutput(logit=torch.full((candidates.num_candidates,), float(agent_input.ego_statuses[1].ego_pose[0]),
                                         dtype=torch.float64))


def test_float64_and_float32_agent_inputs_plan_alike():
    ai64, ai32 = _input(np.float64), _input(np.float32)
    assert navsim_agent_input(ai32) is ai32
    cast = navsim_agent_input(ai64)
    assert all(s.ego_pose.dtype == np.float32 for s in cast.ego_statuses)
    assert ai64.ego_statuses[0].ego_pose.dtype == np.float64  # the caller's input is not changed
    pipe = PlanningPipeline(ConstantVelocityPlanner(), fc=_PoseEcho())
    a, b = pipe.plan(ai64), pipe.plan(ai32)
    assert a.fc.logit.tolist() == b.fc.logit.tolist() and (a.base_index, a.fc_index) == (b.base_index, b.fc_index)


def test_sensor_config_of_the_pipeline():
    pipe = PlanningPipeline(ConstantVelocityPlanner())
    assert not pipe.sensor_config().any_sensor
    unknown = PlanningPipeline(ConstantVelocityPlanner(), fc=_PoseEcho())  # an FC that does not declare its needs
    assert unknown.sensor_needs() is None and unknown.sensor_config().cam_l2 is True
