"""Traffic-agent policies of NAVSIM v2: the observation the EPDMS scorer checks the simulated ego against.

* ``log_replay`` (navsim ``LogReplayTrafficAgents``, "non_reactive"): the cached 41-step observation minus every
  object whose box intersects the ego box at t = 0 — removed in all steps.
* ``reactive`` (navsim ``NavsimIDMTrafficAgents``): vehicles re-simulated with IDM against the simulated ego,
  parked vehicles open loop, every other object log-replayed (:mod:`inspatio_drive.pdm.v2.idm`); one observation
  per simulated ego.

Every call builds a new :class:`~inspatio_drive.pdm.types.Observation`; the cache is never mutated, so one
in-memory cache can be scored with several policies (navsim's ``pdm_score`` mutates its cache, see the
reference §3).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.types import Observation
from inspatio_drive.pdm.v2.cache import EPDMSCache
from inspatio_drive.pdm.v2.idm import IDMTrafficConfig, reactive_observation

__all__ = ["TRAFFIC_POLICIES", "log_replay_observation", "traffic_observation"]

TRAFFIC_POLICIES = ("log_replay", "reactive")
_IDM = IDMTrafficConfig()


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


def traffic_observation(
    policy: str,
    cache: EPDMSCache,
    ego_states: NDArray[np.float64],
    map_api: MapAPI | None = None,
    idm: IDMTrafficConfig = _IDM,
    vehicle: VehicleParameters = PACIFICA,
) -> Observation:
    """The observation ``policy`` produces for one simulated ego ``[41, 11]`` (global; log replay ignores it).

    ``reactive`` needs the scene's ``map_api``."""
    if policy == "log_replay":
        return log_replay_observation(cache)
    if policy == "reactive":
        if map_api is None:
            raise ValueError("traffic=reactive needs the scene's map (map_api=...)")
        return reactive_observation(cache, np.asarray(ego_states, dtype=np.float64), map_api, idm, vehicle)
    raise ValueError(f"traffic: expected one of {TRAFFIC_POLICIES}, got {policy!r}")
