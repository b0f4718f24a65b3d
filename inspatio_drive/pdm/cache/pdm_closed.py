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

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.pdm.cache.config import IDMConfig, MetricCacheConfig
from inspatio_drive.pdm.cache.forecast import RED_LIGHT_TOKEN, Forecast
from inspatio_drive.pdm.cache.geometry import ego_corners, normalize_angle
from inspatio_drive.pdm.cache.path import ProposalPath
from inspatio_drive.pdm.types import (
    PACIFICA,
    Centerline,
    DrivableAreaMap,
    MetricCache,
    StateIndex,
    VehicleParameters,
)

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
    s_star = s0 + v * th + (v * (v - v_lead)) / (2 * np.sqrt(a * b))
    s_alpha = np.maximum(x_lead - x - l_rear, s0)
    accel = a * (1 - (v / target_velocity) ** cfg.acceleration_exponent - (s_star / s_alpha) ** 2)
    accel = np.clip(accel, -b, a)
    out = np.zeros_like(state)
    out[:, PROGRESS] = x + dt * v
    out[:, VELOCITY] = v + dt * accel
    return out


def _leader_velocity(ego_heading: float, obj: tuple[str, float, NDArray[np.float64], bool]) -> float:
    """Leader speed projected on the ego heading (0 for static objects)."""
    _, heading, velocity, is_agent = obj
    if not is_agent:
        return 0.0
    rel = float(normalize_angle(heading - ego_heading))
    return float(np.hypot(velocity[0], velocity[1])) * np.cos(rel)


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
        self.initial = initial_state
        self.max_target = float(np.max(targets))

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

    def update_leaders(self, lat: int, idcs: list[int], t: int) -> None:
        if t % self.cfg.leading_agent_update_rate != 0:
            self.lead[idcs, t] = self.lead[idcs, t - 1]
            return
        path, fc = self.paths[lat], self.fc
        buffer = np.zeros(3, dtype=np.float64)  # shared across the batch on purpose (navsim)
        progress: dict[str, float] = {}
        for tok in fc.intersects(t, self.corridor(lat)):
            if tok not in fc.collided:
                progress[tok] = float(path.linestring.project(fc.polygon(t, tok).centroid))
        for p in idcs:
            ego_progress = self.idm[p, t - 1, PROGRESS]
            ahead = [tok for tok, pr in progress.items() if pr > ego_progress]
            if ahead:
                pose = self.states[p, t - 1, :3]
                ring = ego_corners(pose, self.vehicle)
                ego_poly = shapely.Polygon(ring)
                dists = [ego_poly.distance(fc.polygon(t, tok)) for tok in ahead]
                j = int(np.argmin(dists))
                buffer[PROGRESS] = ego_progress + dists[j]
                if RED_LIGHT_TOKEN not in ahead[j]:
                    buffer[VELOCITY] = _leader_velocity(float(pose[2]), fc.objects[ahead[j]])
            else:
                buffer[PROGRESS] = float(self.paths[lat].linestring.length)
                buffer[LENGTH_REAR] = self.vehicle.length / 2
            self.lead[p, t] = buffer

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
    for lat in range(len(paths)):
        gen.init_states(lat)
        idcs = gen.batch(lat)
        for t in range(1, config.proposal_steps + 1):
            gen.step(lat, idcs, t)
    return gen


def select_proposal(
    simulated: NDArray[np.float64],
    cache_like: MetricCache,
    progress_distance_threshold: float = 5.0,
) -> NDArray[np.float64]:
    """PDM scores ``[P]`` of simulated proposals, EP normalised over all of them (navsim ``PDMScorer``)."""
    from inspatio_drive.pdm.scorer import PDMScorerConfig, score_states

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
) -> PDMClosedResult:
    """Run PDM-Closed once at t0 and return the selected trajectory."""
    from inspatio_drive.pdm.simulation import simulate

    paths = [ProposalPath(centerline_path)]
    for offset in config.lateral_offsets:
        from inspatio_drive.pdm.cache.path import parallel_path

        paths.append(ProposalPath(parallel_path(centerline_path, offset)))
    gen = generate_proposals(paths, speed_limit_mps, forecast, initial_state, config, vehicle)
    n = config.proposal_steps
    simulated = simulate(
        gen.states[:, : n + 1], initial_state, vehicle=vehicle, step_us=round(config.step_s * 1e6)
    )
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
    best = int(np.argmax(scores))
    lat = best // gen.n_long
    for t in range(n + 1, config.trajectory_steps + 1):
        gen.step(lat, [best], t)
    step_us = int(config.step_s * 1e6)
    times = int(initial_time_us) + step_us * np.arange(config.trajectory_steps + 1, dtype=np.int64)
    traj = np.zeros((config.trajectory_steps + 1, 11), dtype=np.float64)
    traj[:, :3] = gen.states[best, :, :3]
    return PDMClosedResult(traj, times, gen.states, simulated, scores, best)
