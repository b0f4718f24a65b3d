"""PDM-Closed reference planner of the metric cache (navsim v1.1 ``PDMClosedPlanner``, first iteration only).

1. Paths: the centerline and its parallel copies at ``lateral_offsets`` (m, + = left).
2. Proposals = paths × IDM policies (target speed = fraction × speed limit of the starting lane), unrolled
   for ``proposal_steps`` steps: every ``leading_agent_update_rate`` steps the nearest forecast object or red
   light in the path's driving corridor and ahead of the ego progress becomes the IDM leader.
3. LQR + kinematic-bicycle simulation of all proposals from the logged initial state, PDM scoring with the
   forecast as observation and EP normalised over *all* proposals (one scorer call in navsim).
4. The best proposal is unrolled to ``trajectory_steps`` steps: its poses (zero velocities) are the stored
   PDM-Closed trajectory.

Quirk kept on purpose: navsim fills the leading-agent record of a path batch proposal by proposal in one
shared buffer, so a proposal with a leader inherits the rear length (and, behind a red light, the speed)
written by the previous proposal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from time import thread_time

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.pdm.cache.config import IDMConfig, MetricCacheConfig
from inspatio_drive.pdm.cache.forecast import RED_LIGHT_TOKEN, Forecast
from inspatio_drive.pdm.cache.geometry import ego_corners
from inspatio_drive.pdm.cache.path import PathBundle, ProposalPath, parallel_path
from inspatio_drive.pdm.cache.pdm_closed_numba import unroll_compiled
from inspatio_drive.pdm.scorer import PDMScorerConfig, score_states
from inspatio_drive.pdm.simulation import simulate
from inspatio_drive.pdm.types import Centerline, DrivableAreaMap, MetricCache, StateIndex

__all__ = ["PDMClosedResult", "generate_proposals", "idm_step", "run_pdm_closed", "select_proposal"]

PROGRESS, VELOCITY, LENGTH_REAR = 0, 1, 2


@dataclass
class PDMClosedResult:
    """Output of :func:`run_pdm_closed`.

    Attributes:
        trajectory_states: ``[T + 1, 11]`` selected proposal (x, y, heading; other columns 0), t = 0…T·step.
        trajectory_time_us: ``[T + 1]`` int64 time stamps.
        proposals: ``[P, T + 1, 11]`` all unrolled proposals (only the selected one beyond the proposal horizon).
        simulated: ``[P, N + 1, 11]`` simulated proposals. scores: ``[P]`` PDM scores. best: selected index.
    """

    trajectory_states: NDArray[np.float64]
    trajectory_time_us: NDArray[np.int64]
    proposals: NDArray[np.float64]
    simulated: NDArray[np.float64]
    scores: NDArray[np.float64]
    best: int


def idm_step(
    state: NDArray[np.float64],
    leader: NDArray[np.float64],
    target_velocity: NDArray[np.float64],
    cfg: IDMConfig,
    dt: float,
) -> NDArray[np.float64]:
    """One explicit-Euler IDM step. ``state [B, 2]`` (progress, velocity), ``leader [B, 3]`` (progress,
    velocity, rear length), ``target_velocity [B]`` → next ``[B, 2]`` (navsim ``BatchIDMPolicy.propagate``)."""
    x, v = state[:, PROGRESS], state[:, VELOCITY]
    x_lead, v_lead, l_rear = leader[:, PROGRESS], leader[:, VELOCITY], leader[:, LENGTH_REAR]
    s0, th, a, b = cfg.min_gap_to_lead_agent, cfg.headway_time, cfg.accel_max, cfg.decel_max
    s_star = s0 + v * th + (v * (v - v_lead)) / (2 * math.sqrt(a * b))  # sqrt is exact-rounded in both
    s_alpha = np.maximum(x_lead - x - l_rear, s0)
    accel = a * (1 - (v / target_velocity) ** cfg.acceleration_exponent - (s_star / s_alpha) ** 2)
    accel = np.minimum(np.maximum(accel, -b), a)  # np.clip without its wrapper overhead
    return np.stack([x + dt * v, v + dt * accel], axis=1)


def _leader_velocity(ego_heading: float, obj: tuple[str, float, NDArray[np.float64], bool]) -> float:
    """Leader speed projected on the ego heading (0 for static objects)."""
    _, heading, velocity, is_agent = obj
    if not is_agent:
        return 0.0
    d = heading - ego_heading
    rel = math.atan2(math.sin(d), math.cos(d))
    return math.hypot(float(velocity[0]), float(velocity[1])) * math.cos(rel)


class _Generator:
    """Unrolls IDM proposals along their paths (navsim ``PDMGenerator``)."""

    def __init__(
        self,
        paths: list[ProposalPath],
        targets: NDArray[np.float64],
        forecast: Forecast,
        initial_state: NDArray[np.float64],
        config: MetricCacheConfig,
        vehicle: VehicleParameters,
    ) -> None:
        self.paths, self.targets, self.fc, self.cfg, self.vehicle = paths, targets, forecast, config, vehicle
        self.n_long = len(targets)
        n = len(paths) * self.n_long
        t = config.trajectory_steps + 1
        self.states = np.zeros((n, t, 11), dtype=np.float64)
        self.idm = np.zeros((n, t, 2), dtype=np.float64)
        self.lead = np.zeros((n, t, 3), dtype=np.float64)
        self.corridors: dict[int, shapely.Geometry] = {}
        self.progress_tables: dict[int, NDArray[np.float64]] = {}
        self.path_lengths = [float(p.linestring.length) for p in paths]
        self.collided_mask = forecast.collided_mask
        self.initial = initial_state
        self.max_target = float(np.max(targets))
        self.bundle = PathBundle(paths)

    def unroll_compiled(self, rows: list[int], t_from: int, t_to: int) -> bool:
        """Steps ``t_from … t_to`` of proposals ``rows`` through the numba kernel
        (:mod:`~inspatio_drive.pdm.cache.pdm_closed_numba`); False when the reference path must run
        (``config.backend == "numpy"``, numba missing, or an input the kernel does not take)."""
        if self.cfg.backend == "numpy":
            return False
        if not rows or t_to < t_from:
            return True  # nothing to unroll

        done = unroll_compiled(self, rows, t_from, t_to)
        if not done and self.cfg.backend == "numba":
            raise RuntimeError("PDM-Closed: backend 'numba' needs the `numba` package and plain polygons")
        return done

    def batch(self, lat: int) -> list[int]:
        return list(range(lat * self.n_long, (lat + 1) * self.n_long))

    def init_states(self, lat: int) -> None:
        idcs, path = self.batch(lat), self.paths[lat]
        progress = float(path.project(self.initial[:2]))
        self.idm[idcs, 0, PROGRESS] = progress
        self.idm[idcs, 0, VELOCITY] = self.initial[StateIndex.VELOCITY_X]
        self.states[idcs, 0, :3] = path.interpolate([progress])[0]

    def corridor(self, lat: int) -> shapely.Geometry:
        if lat not in self.corridors:
            start = float(self.idm[self.batch(lat)[0], 0, PROGRESS])
            end = start + abs(self.max_target) * self.cfg.trajectory_steps * self.cfg.step_s
            line = self.paths[lat].substring(start, end)
            self.corridors[lat] = line.buffer(self.vehicle.width / 2, cap_style="square")
        return self.corridors[lat]

    def progress_table(self, lat: int) -> NDArray[np.float64]:
        """``[S, M]`` arc length along path ``lat`` of every forecast polygon's centroid (computed once)."""
        if lat not in self.progress_tables:
            # only polygons that touch the corridor at some sample can become leaders: project just those
            corridor = self.corridor(lat)
            shapely.prepare(corridor)
            polys = self.fc.polygons
            hit = shapely.intersects(corridor, polys) if polys.size else np.zeros(polys.shape, dtype=bool)
            table = np.full(polys.shape, np.nan)
            # static objects repeat their centroid at every sample: project each distinct point once
            # (GEOS projects every point independently, so the numbers are the same)
            unique_xy, inverse = np.unique(
                shapely.get_coordinates(self.fc.centroids[hit]), axis=0, return_inverse=True
            )
            located = shapely.line_locate_point(self.paths[lat].linestring, shapely.points(unique_xy))
            table[hit] = located[inverse.reshape(-1)]
            self.progress_tables[lat] = table
        return self.progress_tables[lat]

    def update_leaders(self, lat: int, idcs: list[int], t: int) -> None:
        """Leading agents of path ``lat`` at step ``t`` for the proposals ``idcs``."""
        self.update_leaders_many([lat], [idcs], t)

    def update_leaders_many(self, lats: list[int], batches: list[list[int]], t: int) -> None:
        """Leading agents at step ``t`` of several path batches (one shapely distance call for all)."""
        if t % self.cfg.leading_agent_update_rate != 0:
            for idcs in batches:
                self.lead[idcs, t] = self.lead[idcs, t - 1]
            return
        fc = self.fc
        sample = int(fc.step_to_sample[t])
        found = []
        for lat, idcs in zip(lats, batches):
            hits = fc.query(t, self.corridor(lat))  # STRtree order, like navsim
            hits = hits[~self.collided_mask[hits]]
            ego_progress = self.idm[idcs, t - 1, PROGRESS]
            ahead = self.progress_table(lat)[sample, hits][None, :] > ego_progress[:, None]  # [n, H]
            found.append((hits, ego_progress, ahead))
        need = [p for (hits, _, ahead), idcs in zip(found, batches) if ahead.any() for p in idcs]
        dist = np.zeros((0, 0))
        union = np.zeros(0, dtype=np.int64)
        if need:
            # ego boxes at t-1 vs every object in the corridors: one vectorised shapely distance call
            union = np.unique(np.concatenate([h for h, _, a in found if a.any()]))
            ego_polys = shapely.polygons(ego_corners(self.states[need, t - 1, :3], self.vehicle))
            dist = shapely.distance(ego_polys[:, None], fc.polygons[sample, union][None, :])
        k = 0
        rows = self.lead[:, t]
        for lat, idcs, (hits, ego_progress, ahead) in zip(lats, batches, found):
            has = ahead.any(axis=1)
            if has.any():
                masked = np.where(ahead, dist[k : k + len(idcs)][:, np.searchsorted(union, hits)], np.inf)
                leader = np.argmin(masked, axis=1)  # the nearest object ahead; first in STRtree order on ties
                gap = masked[np.arange(len(idcs)), leader]
                k += len(idcs)
            # navsim fills one buffer proposal by proposal: fields not written keep the previous proposal's value
            buf_progress, buf_velocity, buf_rear = 0.0, 0.0, 0.0
            for row, p in enumerate(idcs):
                if has[row]:
                    buf_progress = float(ego_progress[row] + gap[row])
                    token = fc.tokens[int(hits[leader[row]])]
                    if RED_LIGHT_TOKEN not in token:
                        buf_velocity = _leader_velocity(float(self.states[p, t - 1, 2]), fc.objects[token])
                else:
                    buf_progress = self.path_lengths[lat]
                    buf_rear = self.vehicle.length / 2
                rows[p] = (buf_progress, buf_velocity, buf_rear)

    def step(self, lat: int, idcs: list[int], t: int) -> None:
        self.update_leaders(lat, idcs, t)
        long_idx = np.array([p % self.n_long for p in idcs])
        self.idm[idcs, t] = idm_step(
            self.idm[idcs, t - 1], self.lead[idcs, t], self.targets[long_idx], self.cfg.idm, self.cfg.step_s
        )
        self.states[idcs, t, :3] = self.paths[lat].interpolate(self.idm[idcs, t, PROGRESS])


def generate_proposals(
    paths: list[ProposalPath],
    speed_limit_mps: float | None,
    forecast: Forecast,
    initial_state: NDArray[np.float64],
    config: MetricCacheConfig,
    vehicle: VehicleParameters = PACIFICA,
) -> _Generator:
    """Unroll all proposals for ``config.proposal_steps`` steps; returns the generator (``.states``)."""
    limit = config.idm.fallback_target_velocity if speed_limit_mps is None else speed_limit_mps
    targets = np.asarray(config.idm.speed_limit_fractions, dtype=np.float64) * limit
    gen = _Generator(paths, targets, forecast, np.asarray(initial_state, dtype=np.float64), config, vehicle)
    # path batches never interact: step all of them together (one IDM update for every proposal)
    for lat in range(len(paths)):
        gen.init_states(lat)
    batches = [gen.batch(lat) for lat in range(len(paths))]
    everything = [p for b in batches for p in b]
    if gen.unroll_compiled(everything, 1, config.proposal_steps):
        return gen
    long_idx = np.array([p % gen.n_long for p in everything])
    lats = list(range(len(paths)))
    bundle = gen.bundle  # all paths interpolated in one call per step
    path_of = np.array([p // gen.n_long for p in everything], dtype=np.intp)
    for t in range(1, config.proposal_steps + 1):
        gen.update_leaders_many(lats, batches, t)
        gen.idm[everything, t] = idm_step(
            gen.idm[everything, t - 1],
            gen.lead[everything, t],
            gen.targets[long_idx],
            config.idm,
            config.step_s,
        )
        gen.states[everything, t, :3] = bundle.interpolate(path_of, gen.idm[everything, t, PROGRESS])
    return gen


def select_proposal(
    simulated: NDArray[np.float64],
    cache_like: MetricCache,
    progress_distance_threshold: float = 5.0,
) -> NDArray[np.float64]:
    """PDM scores ``[P]`` of simulated proposals, EP normalised over all of them (navsim ``PDMScorer``)."""

    cfg = PDMScorerConfig(progress_distance_threshold=progress_distance_threshold)
    m = score_states(simulated, cache_like, cfg)
    multiplier = m["nc"] * m["dac"]
    raw = m["progress_raw"] * multiplier
    max_raw = float(np.max(raw))
    if max_raw > cfg.progress_distance_threshold:
        ep = raw / max_raw
    else:
        ep = np.where(multiplier == 0.0, 0.0, 1.0)
    w = cfg.weights
    weighted = (w[0] * ep + w[1] * m["ttc"] + w[2] * m["comfort"] + w[3] * m["ddc"]) / w.sum()
    return multiplier * weighted


def run_pdm_closed(
    centerline_path: NDArray[np.float64],
    speed_limit_mps: float | None,
    forecast: Forecast,
    initial_state: NDArray[np.float64],
    initial_time_us: int,
    route_lane_ids: list[str],
    drivable: DrivableAreaMap,
    config: MetricCacheConfig,
    vehicle: VehicleParameters = PACIFICA,
    timings: dict[str, float] | None = None,
) -> PDMClosedResult:
    """Run PDM-Closed once at t0 and return the selected trajectory (``timings``: CPU seconds per stage)."""

    tm = timings if timings is not None else {}
    t0 = thread_time()

    paths = [ProposalPath(centerline_path)]
    paths += [ProposalPath(parallel_path(centerline_path, offset)) for offset in config.lateral_offsets]
    gen = generate_proposals(paths, speed_limit_mps, forecast, initial_state, config, vehicle)
    n = config.proposal_steps
    t1 = thread_time()
    tm["pdm_closed_proposals"] = tm.get("pdm_closed_proposals", 0.0) + t1 - t0
    simulated = simulate(
        gen.states[:, : n + 1],
        initial_state,
        vehicle=vehicle,
        step_us=round(config.step_s * 1e6),
        backend=config.backend,
    )
    t2 = thread_time()
    tm["pdm_closed_simulation"] = tm.get("pdm_closed_simulation", 0.0) + t2 - t1
    centerline = Centerline(paths[0].states)
    scorer_cache = MetricCache(
        token="pdm_closed",
        log_name="",
        initial_state=initial_state,
        initial_time_us=initial_time_us,
        trajectory_states=np.zeros((1, 11)),
        trajectory_time_us=np.zeros(1, dtype=np.int64),
        route_lane_ids=route_lane_ids,
        centerline=centerline,
        drivable_area_map=drivable,
        observation=forecast.scorer_observation(config.step_s),
    )
    scores = select_proposal(simulated, scorer_cache)
    t3 = thread_time()
    tm["pdm_closed_scoring"] = tm.get("pdm_closed_scoring", 0.0) + t3 - t2
    best = int(np.argmax(scores))
    lat = best // gen.n_long
    if not gen.unroll_compiled([best], n + 1, config.trajectory_steps):
        for t in range(n + 1, config.trajectory_steps + 1):
            gen.step(lat, [best], t)
    step_us = int(config.step_s * 1e6)
    times = int(initial_time_us) + step_us * np.arange(config.trajectory_steps + 1, dtype=np.int64)
    traj = np.zeros((config.trajectory_steps + 1, 11), dtype=np.float64)
    traj[:, :3] = gen.states[best, :, :3]
    tm["pdm_closed_proposals"] += thread_time() - t3
    return PDMClosedResult(traj, times, gen.states, simulated, scores, best)
