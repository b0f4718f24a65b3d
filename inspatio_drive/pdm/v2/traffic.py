"""Traffic-agent policies of NAVSIM v2: the observation the EPDMS scorer checks the simulated ego against.

* ``log_replay`` (navsim ``LogReplayTrafficAgents``, "non_reactive"): the cached 41-step observation minus every
  object whose box intersects the ego box at t = 0 — removed in all steps.
* ``reactive`` (navsim ``NavsimIDMTrafficAgents``): vehicles re-simulated with IDM against the simulated ego —
  **not implemented yet**; asking for it raises a clear error instead of scoring with another policy.

Every call builds a new :class:`~inspatio_drive.pdm.types.Observation`; the cache is never mutated, so one
in-memory cache can be scored with several policies (navsim's ``pdm_score`` mutates its cache, see the
reference §3).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.contracts import PACIFICA
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.types import Observation
from inspatio_drive.pdm.v2.cache import EPDMSCache

__all__ = ["TRAFFIC_POLICIES", "log_replay_observation", "traffic_observation"]

TRAFFIC_POLICIES = ("log_replay", "reactive")


def log_replay_observation(cache: EPDMSCache) -> Observation:
    """The cached observation without the objects overlapping the ego box at t = 0 (shapely ``intersects``)."""
    obs = cache.base.observation
    if obs.num_objects == 0:
        return obs
    ego = shapely.Polygon(ego_corners(cache.base.initial_state[:3], PACIFICA))
    present = obs.present[:, 0]
    polys = obs.polygons[:, 0]
    drop = np.zeros(obs.num_objects, dtype=bool)
    idx = np.flatnonzero(present)
    if len(idx):
        drop[idx] = shapely.intersects(np.asarray(list(polys[idx]), dtype=object), ego)
    if not drop.any():
        return obs
    keep = np.flatnonzero(~drop)
    return Observation(
        tokens=[obs.tokens[i] for i in keep],
        types=[obs.types[i] for i in keep],
        corners=obs.corners[keep],
        headings=obs.headings[keep],
        velocities=obs.velocities[keep],
        is_agent=obs.is_agent[keep],
        step_s=obs.step_s,
    )


def traffic_observation(policy: str, cache: EPDMSCache, ego_states: NDArray[np.float64]) -> Observation:
    """The observation ``policy`` produces for simulated ego states ``[B, 41, 11]`` (global)."""
    if policy == "log_replay":
        return log_replay_observation(cache)
    if policy == "reactive":
        raise NotImplementedError(
            "traffic=reactive (navsim NavsimIDMTrafficAgents) is not implemented yet in inspatio_drive; "
            "use traffic=log_replay"
        )
    raise ValueError(f"traffic: expected one of {TRAFFIC_POLICIES}, got {policy!r}")
