"""How the other agents move during a closed-loop rollout: ``log_replay`` (their logged tracks, NAVSIM's
non-reactive choice) or ``constant_velocity`` (each agent keeps its first-appearance velocity and heading).

Both act on the metric cache's :class:`~inspatio_drive.pdm.types.Observation` (global box corners per 0.1 s),
so the closed-loop and the open-loop scores of a rollout use the same agents.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from inspatio_drive.pdm.types import MetricCache, Observation

AGENT_MODES = ("log_replay", "constant_velocity")


def constant_velocity_observation(obs: Observation) -> Observation:
    """Agents (``is_agent``) translated rigidly at their first-appearance global velocity from the step they first
    appear on (absent before it, present until the end); static objects unchanged."""
    corners = obs.corners.copy()
    present = obs.present
    t = np.arange(obs.num_steps, dtype=np.float64) * obs.step_s
    for k in np.flatnonzero(obs.is_agent):
        seen = np.flatnonzero(present[k])
        if len(seen) == 0:
            continue
        f = seen[0]
        shift = (t[f:] - t[f])[:, None] * obs.velocities[k][None, :]  # [T - f, 2]
        corners[k, f:] = obs.corners[k, f][None] + shift[:, None, :]
    return replace(obs, corners=corners, _polygons=None)


def with_agents(cache: MetricCache, mode: str) -> MetricCache:
    """``cache`` with its agents moved by ``mode`` (:data:`AGENT_MODES`); ``log_replay`` returns it unchanged."""
    if mode == "log_replay":
        return cache
    if mode != "constant_velocity":
        raise ValueError(f"agents must be one of {AGENT_MODES}, got {mode!r}")
    return replace(cache, observation=constant_velocity_observation(cache.observation))
