"""Closed-loop rollout: plan → track one step with navsim's LQR + kinematic bicycle → observe at the pose
where the car actually is → re-plan.

Frames and units: ego states are global ``[11]`` arrays (:class:`~inspatio_drive.pdm.types.StateIndex`;
x, y in the map's UTM metres, heading rad, velocities / accelerations in the rear-axle frame); the planner
sees poses relative to its current rear axle (x forward, y left), as in navsim. Other agents replay their
logged tracks (the metric cache's observation), so the rollout is scored with the same PDM rules as the
open-loop plan: the executed 4 s (8 re-planning steps of 0.5 s) are 40 simulated 0.1 s states, scored against
PDM-Closed exactly like one candidate. With ``metric=epdms``, :func:`epdms_of_rollout` scores the executed path
and the first plan with NAVSIM v2.2's EPDMS and adds the per-step two-frame extended comfort between consecutive
re-planned plans.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from inspatio_drive.data.types import AgentInput, EgoStatus, Scene
from inspatio_drive.geometry.se2 import absolute_to_relative_se2
from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.comfort import _derivative, _smooth, _unwrap
from inspatio_drive.pdm.scorer import PDMResults, PDMScorerConfig, _aggregate, score_states
from inspatio_drive.pdm.simulation import candidate_states, reference_states, simulate
from inspatio_drive.pdm.types import MetricCache, StateIndex
from inspatio_drive.pdm.v2 import SUBMETRICS as V2_SUBMETRICS
from inspatio_drive.pdm.v2 import EPDMSCache, EPDMSConfig, score_epdms
from inspatio_drive.pdm.v2.comfort import extended_comfort
from planners.pipeline import PlanningPipeline

S = StateIndex
SUBSCORES = PDMResults.SUBSCORES


class Observer(Protocol):
    """Builds what the planner sees at a simulated pose."""

    def observe(self, ego_statuses: list[EgoStatus], current_state: NDArray[np.float64], step: int,
                t_us: int) -> AgentInput:
        """``ego_statuses``: history relative to the current rear axle (oldest first, last = (0, 0, 0));
        ``current_state``: global ``[11]``; returns the agent input with the sensors filled in.

        An observer may also expose ``last_metrics`` (``{"psnr_db": ..., "coverage": ...}`` of the latest
        observation); the rollout copies it into the step's :class:`StepRecord`."""
        ...


def relative_pose(origin: NDArray[np.float64], pose: NDArray[np.float64]) -> NDArray[np.float64]:
    """Global ``(x, y, heading)`` → frame of global ``origin`` (x forward, y left)."""
    return absolute_to_relative_se2(origin, pose)


def driving_command(state: NDArray[np.float64], cache: MetricCache, lookahead_m: float = 20.0,
                    threshold_m: float = 2.0) -> NDArray[np.int64]:
    """OpenScene's rule (reference §1.2): the route centerline point ``lookahead_m`` ahead of the ego's
    projection, lateral offset ≥ +2 m → left, ≤ −2 m → right, else straight; one-hot (left, straight, right,
    unknown)."""
    line = cache.centerline
    s = float(line.project(state[None, :2])[0]) + lookahead_m
    if s > line.length:
        return np.array([0, 0, 0, 1], dtype=np.int64)
    target = np.array([np.interp(s, line.progress, line.path[:, 0]), np.interp(s, line.progress, line.path[:, 1]), 0.0])
    lateral = relative_pose(state[:3], target)[1]
    out = np.zeros(4, dtype=np.int64)
    out[0 if lateral >= threshold_m else 2 if lateral <= -threshold_m else 1] = 1
    return out


def ego_statuses(states: list[NDArray[np.float64]], commands: list[NDArray[np.int64]]) -> list[EgoStatus]:
    """Global states (oldest first) → navsim ego statuses relative to the last one."""
    origin = states[-1][:3]
    return [EgoStatus(relative_pose(origin, st[:3]),
                      np.asarray(st[[S.VELOCITY_X, S.VELOCITY_Y]], np.float32),
                      np.asarray(st[[S.ACCELERATION_X, S.ACCELERATION_Y]], np.float32), cmd)
            for st, cmd in zip(states, commands, strict=True)]


def scene_history_states(scene: Scene) -> list[NDArray[np.float64]]:
    """Logged global ego states of the history frames (velocities / accelerations ego-local)."""
    out = []
    for frame in scene.frames[: scene.current_index + 1]:
        st = np.zeros(11)
        st[: 3] = frame.ego_status.ego_pose
        st[[S.VELOCITY_X, S.VELOCITY_Y]] = frame.ego_status.ego_velocity
        st[[S.ACCELERATION_X, S.ACCELERATION_Y]] = frame.ego_status.ego_acceleration
        out.append(st)
    return out


@dataclass
class StepRecord:
    """One re-planning step: where the ego was, what it chose, how long it took, and (when an oracle is
    available) how far the observation drifted from the truth."""

    step: int
    t_s: float
    x: float
    y: float
    heading: float
    speed: float
    command: int
    chosen: int
    num_candidates: int
    plan_s: float
    observe_s: float
    in_drivable_area: bool = True
    at_fault_collision: bool = False
    progress_m: float = 0.0
    comfortable: bool = True
    psnr_db: float | None = None
    coverage: float | None = None


@dataclass
class RolloutResult:
    """``states``: ``[1 + steps·substeps, 11]`` executed global states (0.1 s apart); ``closed_loop``:
    PDM sub-scores of the executed path; ``open_loop``: those of the first plan alone; ``steps``: per step."""

    token: str
    states: NDArray[np.float64]
    closed_loop: dict[str, float]
    open_loop: dict[str, float]
    steps: list[StepRecord]
    plans: list[NDArray[np.float64]] = field(default_factory=list)
    observations: list[AgentInput] = field(default_factory=list)


def _scores(cache: MetricCache, executed: NDArray[np.float64], cfg: PDMScorerConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """PDM-score simulated states ``[B, 41, 11]`` against the simulated PDM-Closed reference."""
    ref = reference_states(cache.trajectory_time_us, cache.trajectory_states, cache.initial_time_us,
                           cfg.num_steps, cfg.step_s)
    ref_sim = simulate(ref[None], cache.initial_state, vehicle=cfg.vehicle, lqr=cfg.lqr, bicycle=cfg.bicycle,
                       step_us=round(cfg.step_s * 1e6))
    m = score_states(np.concatenate([ref_sim, executed]), cache, cfg)
    agg = _aggregate(m, cfg)
    names = {"no_at_fault_collisions": m["nc"][1:], "drivable_area_compliance": m["dac"][1:],
             "ego_progress": agg["ep"], "time_to_collision_within_bound": m["ttc"][1:],
             "comfort": m["comfort"][1:], "driving_direction_compliance": m["ddc"][1:], "score": agg["score"]}
    return m, {k: float(v[0]) for k, v in names.items()}


def comfort_per_state(states: NDArray[np.float64], cfg: PDMScorerConfig) -> NDArray[np.bool_]:
    """``[T]`` whether each executed state ``[T, 11]`` is within all six PDM comfort bounds: the same
    Savitzky-Golay signals as the PDM comfort score of the whole run (its ``comfort`` is ``all`` of these),
    attributed to the 0.1 s state where they occur."""
    s = np.asarray(states, np.float64)
    signals = _comfort_signals(s, cfg.step_s)
    limits = cfg.comfort
    bounds = [(limits.min_lon_accel, limits.max_lon_accel), (-limits.max_abs_lat_accel, limits.max_abs_lat_accel),
              (-limits.max_abs_mag_jerk, limits.max_abs_mag_jerk), (-limits.max_abs_lon_jerk, limits.max_abs_lon_jerk),
              (-limits.max_abs_yaw_accel, limits.max_abs_yaw_accel), (-limits.max_abs_yaw_rate, limits.max_abs_yaw_rate)]
    ok = np.stack([(v > lo) & (v < hi) for v, (lo, hi) in zip(signals, bounds, strict=True)], -1)
    return ok.all(-1)


def _comfort_signals(s: NDArray[np.float64], dt: float) -> list[NDArray[np.float64]]:
    """The six comfort signals ``[T]`` of :func:`inspatio_drive.pdm.comfort.comfort_checks` (same order)."""

    n = len(s)
    ax, ay = s[None, :, S.ACCELERATION_X], s[None, :, S.ACCELERATION_Y]  # [1, T]: the helpers work on [B, T]
    heading = _unwrap(s[None, :, S.HEADING])
    signals = [_smooth(ax, n, 2), _smooth(ay, n, 2), _derivative(_smooth(np.hypot(ax, ay), 8, 2), dt, n, 2, 1),
               _derivative(_smooth(ax, 8, 2), dt, n, 2, 1), _derivative(heading, dt, 5, 3, 2),
               _derivative(heading, dt, 5, 2, 1)]
    return [x[0] for x in signals]


def track_plan(state: NDArray[np.float64], t_us: int, plan_local: NDArray[np.float64],
               cfg: PDMScorerConfig) -> NDArray[np.float64]:
    """Track a plan ``[8, 3]`` (current rear-axle frame) from ``state`` → simulated ``[41, 11]`` states."""
    ref = candidate_states(state, t_us, plan_local[None], cfg.pose_interval_s, cfg.num_steps, cfg.step_s)
    return simulate(ref, state, vehicle=cfg.vehicle, lqr=cfg.lqr, bicycle=cfg.bicycle,
                    step_us=round(cfg.step_s * 1e6))[0]


def rollout(scene: Scene, pipeline: PlanningPipeline, cache: MetricCache, observer: Observer,
            steps: int = 8, use_fc: bool = True, cfg: PDMScorerConfig | None = None,
            keep_observations: bool = False, on_step: Callable[[int], None] | None = None) -> RolloutResult:
    """Run ``steps`` re-planning steps of ``cfg.pose_interval_s`` from the scene's current frame.

    Args:
        use_fc: follow the selection with the FC term (``fc_index``) or without it (``base_index``).
        on_step: called with the step index after every re-planning step (progress bars count steps).
    Raises:
        ValueError: if ``steps · pose_interval_s`` exceeds the scored horizon (``num_steps · step_s``).
    """
    cfg = cfg or PDMScorerConfig()
    sub = round(cfg.pose_interval_s / cfg.step_s)
    if steps < 1 or steps * sub > cfg.num_steps:
        raise ValueError(f"closed loop: steps must be in 1..{cfg.num_steps // sub} (the scored horizon), got {steps}")
    history = scene_history_states(scene)
    commands = [f.ego_status.driving_command for f in scene.frames[: scene.current_index + 1]]
    state = cache.initial_state.copy()
    t_us = cache.initial_time_us
    history[-1] = state.copy()  # the simulator's initial state (same pose, cache velocities)
    executed = [state.copy()]
    records: list[StepRecord] = []
    plans: list[NDArray[np.float64]] = []
    observations: list[AgentInput] = []
    for step in range(steps):
        t0 = time.perf_counter()
        statuses = ego_statuses(history, commands)
        agent_input = observer.observe(statuses, state, step, t_us)
        observe_s = time.perf_counter() - t0
        metrics = dict(getattr(observer, "last_metrics", None) or {})
        t0 = time.perf_counter()
        plan = pipeline.plan(agent_input)
        plan_s = time.perf_counter() - t0
        index = plan.fc_index if use_fc else plan.base_index
        local = plan.candidates.poses[index].detach().cpu().numpy().astype(np.float64)
        plans.append(local)
        if keep_observations:
            observations.append(agent_input)
        records.append(StepRecord(step, step * cfg.pose_interval_s, *map(float, state[:3]),
                                  float(np.hypot(state[S.VELOCITY_X], state[S.VELOCITY_Y])),
                                  int(np.argmax(commands[-1])), index, plan.candidates.num_candidates,
                                  plan_s, observe_s, psnr_db=metrics.get("psnr_db"),
                                  coverage=metrics.get("coverage")))
        sim = track_plan(state, t_us, local, cfg)
        executed.extend(sim[1: sub + 1])
        state = sim[sub].copy()
        t_us += sub * round(cfg.step_s * 1e6)
        history = [*history[1:], state.copy()]
        commands = [*commands[1:], driving_command(state, cache)]
        if on_step is not None:
            on_step(step)
    # pad to the scored horizon by tracking the last plan (only when steps < the horizon)
    if len(executed) < cfg.num_steps + 1:
        sim = track_plan(state, t_us, plans[-1], cfg)
        executed.extend(sim[1: cfg.num_steps + 2 - len(executed)])
    states = np.stack(executed)
    m, closed = _scores(cache, states[None], cfg)
    _, opened = _scores(cache, track_plan(cache.initial_state, cache.initial_time_us, plans[0], cfg)[None], cfg)
    drivable = ~m["ego_areas"][1][:, 1]  # column 1 = non-drivable (scorer's ego_areas)
    collision_step = int(m["collision_step"][1])
    progress = cache.centerline.project(states[:, :2])
    comfy = comfort_per_state(states, cfg)
    for r in records:
        i = r.step * sub
        r.in_drivable_area = bool(drivable[: i + 1].all())
        r.at_fault_collision = 0 <= collision_step <= i
        r.progress_m = float(progress[i] - progress[0])
        r.comfortable = bool(comfy[i: i + sub + 1].all())
    return RolloutResult(scene.scene_metadata.initial_token, states, closed, opened, records, plans, observations)


@dataclass
class EPDMSRollout:
    """NAVSIM v2.2 EPDMS of a rollout (``closed-loop metric=epdms``).

    Attributes:
        closed_loop: the 8 sub-metrics and ``score`` (EPDMS without EC) of the executed path: its poses at
            t = 0.5 … 4 s (every 0.5 s step of ``RolloutResult.states``, in the initial rear-axle frame), scored as
            one candidate (re-tracked from t = 0 by the PDM simulator, like any navsim plan).
        open_loop: the same columns of the first plan alone (exactly navsim's open-loop EPDMS of that plan).
        step_ec: ``[steps]`` two-frame extended comfort between the plan chosen at each re-planning step and the
            plan of the step before (0.5 s earlier; each simulated from where the car was); NaN at step 0.
        traffic, human_filter: the rules used.
    """

    closed_loop: dict[str, float]
    open_loop: dict[str, float]
    step_ec: list[float]
    traffic: str
    human_filter: str


def epdms_of_rollout(result: RolloutResult, cache: EPDMSCache, config: EPDMSConfig | None = None,
                     traffic: str = "log_replay", map_api: MapAPI | None = None,
                     cfg: PDMScorerConfig | None = None) -> EPDMSRollout:
    """Score a finished rollout with EPDMS (see :class:`EPDMSRollout`).

    Args:
        cache: the scene's EPDMS cache (its current frame = the rollout's start).
        traffic / map_api: the traffic policy (``reactive`` needs the scene's map).
    """
    config = config or EPDMSConfig()
    cfg = cfg or PDMScorerConfig()
    sub = round(cfg.pose_interval_s / cfg.step_s)
    origin = result.states[0, :3]
    executed = np.stack([relative_pose(origin, result.states[i * sub, :3]) for i in range(1, 9)])
    res = score_epdms(cache, np.stack([executed, result.plans[0]]), config, traffic=traffic, map_api=map_api)
    cols = (*V2_SUBMETRICS, "score")
    closed = {k: float(res[k][0]) for k in cols}
    opened = {k: float(res[k][1]) for k in cols}
    step_us = round(cfg.step_s * 1e6)
    t0 = int(cache.base.initial_time_us)
    sims = [track_plan(result.states[i * sub], t0 + i * sub * step_us, plan, cfg) for i, plan in enumerate(result.plans)]
    ec = [float("nan")]
    for prev, cur in itertools.pairwise(sims):
        value, _ = extended_comfort(cur[None], prev[None], cfg.pose_interval_s, cfg.step_s, config.extended_comfort)
        ec.append(float(value[0]))
    return EPDMSRollout(closed, opened, ec, traffic, config.human_filter)
