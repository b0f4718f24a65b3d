"""NAVSIM v2 extended PDM score (EPDMS) of candidate trajectories, all candidates of a scene in one call.

``score_epdms(cache, trajectories[K, 8, 3], traffic=..., previous=...)`` reproduces navsim v2.2's
``pdm_score`` (+ the human penalty filter) for every candidate, and the one-stage final ``score``:

    EPDMS = NC · DAC · DDC · TLC · (5·EP + 5·TTC + 2·LK + 2·HC [+ 2·EC]) / (14 [+ 2])

The PDM-Closed reference, the logged human (for the filter) and the K candidates are simulated together
(LQR + kinematic bicycle, :func:`~inspatio_drive.pdm.simulation.simulate`) and scored with the v1.1 kernels
(ego areas, at-fault collisions, TTC projections, comfort) plus the v2 rules: DDC without intersection steps,
TLC, TTC on steps 0…31 only, LK, HC with the human past, EP normalised over the un-masked raw progress.
Semantics: ``shared/reference/navsim_v2_epdms.md`` (navsim v2.2, file:line references); code written from
scratch.

Conventions: candidate poses (x [m], y [m], heading [rad]) at t = 0.5 … 4.0 s in the current rear-axle frame
(x forward, y left); simulated states ``[K, 41, 11]`` global (UTM m / rad, :class:`StateIndex`), t = 0 … 4 s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.comfort import COMFORT_CHECKS
from inspatio_drive.pdm.scorer import (
    CENTER,
    NON_DRIVABLE,
    ONCOMING,
    PDMScorerConfig,
    _no_at_fault_collisions,
    _progress,
    _ring,
    _time_to_collision,
    ego_areas,
    ego_box_coords,
)
from inspatio_drive.pdm.simulation import candidate_states, reference_states, simulate
from inspatio_drive.pdm.types import MetricCache, Observation
from inspatio_drive.pdm.v2.cache import ORIGINAL, EPDMSCache, as_epdms_cache, poses_array
from inspatio_drive.pdm.v2.comfort import (
    ExtendedComfortThresholds,
    extended_comfort,
    history_comfort_checks,
    history_states,
)
from inspatio_drive.pdm.v2.idm import IDMTrafficConfig, reactive_observations
from inspatio_drive.pdm.v2.traffic import TRAFFIC_POLICIES, traffic_observation

__all__ = [
    "EPDMS_COLUMNS",
    "HUMAN_FILTERS",
    "SUBMETRICS",
    "EPDMSConfig",
    "EPDMSResults",
    "PreviousFrame",
    "final_scores",
    "score_epdms",
    "simulate_plans",
]

SUBMETRICS = (
    "no_at_fault_collisions",
    "drivable_area_compliance",
    "driving_direction_compliance",
    "traffic_light_compliance",
    "ego_progress",
    "time_to_collision_within_bound",
    "lane_keeping",
    "history_comfort",
)
"""navsim v2 ``PDMResults`` sub-metric columns, in navsim's CSV order."""
MULTIPLICATIVE = SUBMETRICS[:4]
STATIC_SUBMETRICS = ("drivable_area_compliance", "driving_direction_compliance", "traffic_light_compliance",
                     "lane_keeping", "history_comfort")
"""Sub-metrics that do not depend on the traffic policy."""
_IDM = IDMTrafficConfig()
EC_COLUMN = "two_frame_extended_comfort"
EPDMS_COLUMNS = (*SUBMETRICS, EC_COLUMN, "score")
FILTERABLE = ("no_at_fault_collisions", "drivable_area_compliance", "driving_direction_compliance",
              "traffic_light_compliance", "time_to_collision_within_bound", "lane_keeping")
"""Columns the human filter can change (the human's EP and HC are always 1, see the reference §3)."""
HUMAN_FILTERS = ("v2.2", "pre_151", "off")
"""``v2.2``: navsim v2.2 (filtered columns reach the score); ``pre_151``: navsim before the fix of issue #151
(filtered columns are shown, the score uses the unfiltered values); ``off``: no filter."""


@dataclass(frozen=True)
class EPDMSConfig:
    """Weights and thresholds of navsim v2.2's ``PDMScorerConfig`` (+ the v1.1 kernels' settings in ``base``)."""

    progress_weight: float = 5.0
    ttc_weight: float = 5.0
    lane_keeping_weight: float = 2.0
    history_comfort_weight: float = 2.0
    two_frame_extended_comfort_weight: float = 2.0
    lane_keeping_deviation_limit: float = 0.5  # m
    lane_keeping_horizon_window: float = 2.0  # s
    human_filter: str = "v2.2"
    base: PDMScorerConfig = field(default_factory=PDMScorerConfig)
    extended_comfort: ExtendedComfortThresholds = field(default_factory=ExtendedComfortThresholds)

    def __post_init__(self) -> None:
        if self.human_filter not in HUMAN_FILTERS:
            raise ValueError(f"epdms.human_filter: expected one of {HUMAN_FILTERS}, got {self.human_filter!r}")

    @property
    def weights(self) -> NDArray[np.float64]:
        """``[5]`` weights of (EP, TTC, LK, HC, EC)."""
        return np.array(
            [
                self.progress_weight,
                self.ttc_weight,
                self.lane_keeping_weight,
                self.history_comfort_weight,
                self.two_frame_extended_comfort_weight,
            ]
        )


@dataclass
class PreviousFrame:
    """The plans of the frame before (for EC).

    Attributes:
        cache: the previous frame's EPDMS cache (its ``timepoint_us`` must be 0 < Δt < 0.55 s earlier).
        trajectories: ``[K, 8, 3]`` (or one ``[8, 3]`` plan for all candidates) poses in the *previous* frame's
            rear-axle frame; alternatively give ``states``.
        states: ``[K, 41, 11]`` / ``[41, 11]`` already simulated previous plans (global).
    """

    cache: EPDMSCache
    trajectories: ArrayLike | None = None
    states: ArrayLike | None = None


@dataclass
class EPDMSResults:
    """Per-candidate EPDMS table (``[K]`` arrays named as navsim's v2 columns) and diagnostics.

    ``two_frame_extended_comfort`` is NaN where no previous frame was given (its weight then dropped from
    ``score``). ``raw`` holds the unfiltered sub-metrics; ``human`` the human's sub-metrics (None if the filter
    did not run); ``filtered`` the columns the filter set to 1 per candidate. ``human_filter`` is the variant
    asked for (:data:`HUMAN_FILTERS`), ``human_filter_applied`` whether it ran (navsim never filters synthetic
    scenes).
    """

    metrics: dict[str, NDArray[np.float64]]
    raw: dict[str, NDArray[np.float64]]
    progress_raw_m: NDArray[np.float64]
    at_fault_collision_step: NDArray[np.int64]
    ttc_infraction_step: NDArray[np.int64]
    history_comfort_checks: NDArray[np.bool_]
    ec_rms: NDArray[np.float64]
    states: NDArray[np.float64]
    reference: dict[str, Any]
    human: dict[str, float] | None
    filtered: list[list[str]]
    traffic: str
    human_filter: str
    human_filter_applied: bool
    valid: NDArray[np.bool_]
    reason: list[str]
    token: str = ""
    names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.metrics["score"])

    def __getitem__(self, column: str) -> NDArray[np.float64]:
        return self.metrics[column]

    @property
    def score(self) -> NDArray[np.float64]:
        return self.metrics["score"]

    def to_rows(self, with_ec: bool | None = None) -> list[dict[str, Any]]:
        """One dict per candidate: navsim v2 columns (``two_frame_extended_comfort`` only when a previous
        frame was scored, or when ``with_ec``), ``score``, validity, traffic policy and human-filter variant."""
        ec_present = bool(np.isfinite(self.metrics[EC_COLUMN]).any()) if with_ec is None else with_ec
        rows = []
        for k in range(len(self)):
            row: dict[str, Any] = {"index": k}
            if self.names is not None:
                row["name"] = self.names[k]
            row["token"] = self.token
            row["valid"] = bool(self.valid[k])
            for col in SUBMETRICS:
                row[col] = float(self.metrics[col][k])
            if ec_present:
                ec = float(self.metrics[EC_COLUMN][k])
                row[EC_COLUMN] = None if math.isnan(ec) else ec
            row["score"] = float(self.metrics["score"][k])
            row["traffic"] = self.traffic
            row["human_filter"] = self.human_filter
            row["human_filter_applied"] = self.human_filter_applied
            row["human_filter_changed"] = self.filtered[k]
            if self.reason[k]:
                row["reason"] = self.reason[k]
            rows.append(row)
        return rows


# --------------------------------------------------------------------------------------------------------------
# metrics that differ from v1.1
# --------------------------------------------------------------------------------------------------------------


def _in_intersection(points: NDArray[np.float64], cache: MetricCache) -> NDArray[np.bool_]:
    """``[..., 2]`` → ``[...]`` point inside an INTERSECTION polygon (navsim ``is_in_layer``)."""
    dam = cache.drivable_area_map
    idx = dam.indices_of(["INTERSECTION"])
    if not len(idx):
        return np.zeros(points.shape[:-1], dtype=bool)
    return dam.points_in_polygons(points)[idx].any(axis=0)


def _driving_direction(
    coords: NDArray[np.float64], areas: NDArray[np.bool_], in_xing: NDArray[np.bool_], cfg: PDMScorerConfig
) -> NDArray[np.float64]:
    """DDC ``[B]``: worst 1 s window of centre progress while in oncoming traffic, intersection steps excluded."""
    center = coords[:, :, CENTER]
    progress = np.zeros(center.shape[:2], dtype=np.float64)
    progress[:, 1:] = np.linalg.norm(center[:, 1:] - center[:, :-1], axis=-1)
    progress[~areas[..., ONCOMING] | in_xing] = 0.0
    horizon = int(cfg.driving_direction_horizon / cfg.step_s)
    windows = np.stack(
        [progress[:, max(0, t - horizon) : t + 1].sum(axis=-1) for t in range(progress.shape[1])], axis=-1
    )
    worst = windows.max(axis=-1)
    return np.where(
        worst < cfg.driving_direction_compliance_threshold,
        1.0,
        np.where(worst < cfg.driving_direction_violation_threshold, 0.5, 0.0),
    )


def _traffic_light(coords: NDArray[np.float64], cache: EPDMSCache) -> NDArray[np.float64]:
    """TLC ``[B]``: 0 if the ego box intersects a red on-route connector at a step where it is red."""
    b, t = coords.shape[:2]
    tlc = np.ones(b, dtype=np.float64)
    rl = cache.red_lights
    if not len(rl):
        return tlc
    corners = coords[..., :4, :]
    lo, hi = corners.min(axis=-2), corners.max(axis=-2)  # [B, T, 2]
    for poly, active in zip(rl.polygons, rl.active, strict=True):
        x0, y0, x1, y1 = shapely.bounds(poly)
        near = (
            active[None, :t]
            & (hi[..., 0] >= x0)
            & (lo[..., 0] <= x1)
            & (hi[..., 1] >= y0)
            & (lo[..., 1] <= y1)
        )
        rows, steps = np.nonzero(near)
        if len(rows):
            hit = shapely.intersects(shapely.polygons(_ring(corners[rows, steps])), poly)
            tlc[np.unique(rows[hit])] = 0.0
    return tlc


def _lane_keeping(
    coords: NDArray[np.float64], in_xing: NDArray[np.bool_], cache: MetricCache, cfg: EPDMSConfig
) -> NDArray[np.float64]:
    """LK ``[B]``: 0 once the box centre is > limit from the centerline for ``ceil(2 s / 0.1 s)`` consecutive
    non-intersection steps (intersection steps neither count nor reset)."""
    center = coords[:, :, CENTER]
    dist = shapely.distance(shapely.points(center), cache.centerline.linestring)  # [B, T]
    exceed = dist > cfg.lane_keeping_deviation_limit
    need = int(np.ceil(cfg.lane_keeping_horizon_window / cfg.base.step_s))
    run = np.zeros(len(center), dtype=np.int64)
    failed = np.zeros(len(center), dtype=bool)
    for t in range(center.shape[1]):
        skip = in_xing[:, t]
        run = np.where(skip, run, np.where(exceed[:, t], run + 1, 0))
        failed |= run >= need
    return np.where(failed, 0.0, 1.0)


def _static_metrics(
    states: NDArray[np.float64], cache: EPDMSCache, cfg: EPDMSConfig, history: NDArray[np.float64] | None
) -> dict[str, Any]:
    """The v2 metrics of simulated rows ``[B, 41, 11]`` that do not depend on the traffic (all but NC and TTC)."""
    bcfg = cfg.base
    base = cache.base
    coords = ego_box_coords(states, bcfg.vehicle)
    areas = ego_areas(coords, base)
    in_xing = _in_intersection(coords[:, :, CENTER], base)
    if history is not None and len(history):
        padded = np.concatenate([np.broadcast_to(history[None], (len(states), *history.shape)), states], axis=1)
        checks = history_comfort_checks(padded, bcfg.step_s, bcfg.comfort, bcfg.vehicle)
    else:
        checks = np.ones((len(states), len(COMFORT_CHECKS)), dtype=bool)
    return {
        "coords": coords,
        "areas": areas,
        "drivable_area_compliance": np.where(areas[..., NON_DRIVABLE].any(axis=-1), 0.0, 1.0),
        "driving_direction_compliance": _driving_direction(coords, areas, in_xing, bcfg),
        "traffic_light_compliance": _traffic_light(coords, cache),
        "lane_keeping": _lane_keeping(coords, in_xing, base, cfg),
        "history_comfort": checks.all(axis=-1).astype(np.float64),
        "progress_raw": _progress(coords, base),
        "checks": checks,
    }


def _collision_metrics(
    states: NDArray[np.float64],
    static: dict[str, Any],
    rows: NDArray[np.int64],
    cache: EPDMSCache,
    observation: Observation,
    cfg: EPDMSConfig,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """NC, first collision step, TTC (steps 0 … 31), first TTC step of ``rows`` against ``observation``."""
    base = dataclasses.replace(cache.base, observation=observation)
    bcfg = cfg.base
    st, coords, areas = states[rows], static["coords"][rows], static["areas"][rows]
    nc, collision_step = _no_at_fault_collisions(st, coords, areas, base, bcfg)
    n_ttc = states.shape[1] - max(bcfg.ttc_future_steps)  # navsim SC:536-538
    ttc, ttc_step = _time_to_collision(st[:, :n_ttc], coords[:, :n_ttc], areas[:, :n_ttc], base, bcfg)
    return nc, collision_step, ttc, ttc_step


def _uniform(values: NDArray[Any], step: bool = False) -> Any:
    """A per-candidate reference value: one number when equal for all candidates (always with log replay), else
    the list (reactive traffic: PDM-Closed is scored against each candidate's traffic); steps: -1 → None."""
    vals = [None if step and int(v) < 0 else (int(v) if step else float(v)) for v in np.asarray(values)]
    return vals[0] if len(set(vals)) == 1 else vals


def _multiplier(m: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
    return m["no_at_fault_collisions"] * m["drivable_area_compliance"] * m["driving_direction_compliance"] * m[
        "traffic_light_compliance"
    ]


def final_scores(
    metrics: dict[str, ArrayLike], ec: ArrayLike | None, weights: ArrayLike = (5.0, 5.0, 2.0, 2.0, 2.0)
) -> NDArray[np.float64]:
    """navsim ``compute_final_scores``: multiplier × weighted mean of (EP, TTC, LK, HC, EC); where EC is NaN
    (or not given) its weight is dropped (denominator 14 instead of 16)."""
    w = np.asarray(weights, dtype=np.float64)
    m = {k: np.asarray(metrics[k], dtype=np.float64) for k in SUBMETRICS}
    n = len(m["ego_progress"])
    ec_arr = np.full(n, np.nan) if ec is None else np.asarray(ec, dtype=np.float64).reshape(n)
    has = ~np.isnan(ec_arr)
    weighted = (
        w[0] * m["ego_progress"]
        + w[1] * m["time_to_collision_within_bound"]
        + w[2] * m["lane_keeping"]
        + w[3] * m["history_comfort"]
        + np.where(has, w[4] * np.nan_to_num(ec_arr), 0.0)
    )
    total = w[:4].sum() + np.where(has, w[4], 0.0)
    return _multiplier(m) * (weighted / total)


def simulate_plans(
    cache: EPDMSCache, trajectories: ArrayLike, config: EPDMSConfig = EPDMSConfig(), with_reference: bool = False
) -> NDArray[np.float64]:
    """LQR + bicycle simulation of ``[K, 8, 3]`` local plans from the cache's ego state → ``[K, 41, 11]``
    global states (with ``with_reference``: row 0 = PDM-Closed)."""
    c = config.base
    base = cache.base
    traj = poses_array(trajectories, "trajectories")
    refs = candidate_states(base.initial_state, base.initial_time_us, traj, c.pose_interval_s, c.num_steps, c.step_s)
    if with_reference:
        pdm = reference_states(base.trajectory_time_us, base.trajectory_states, base.initial_time_us, c.num_steps,
                               c.step_s)
        refs = np.concatenate([pdm[None], refs])
    return simulate(refs, base.initial_state, vehicle=c.vehicle, lqr=c.lqr, bicycle=c.bicycle,
                    step_us=round(c.step_s * 1e6), backend=c.simulation_backend)


def _previous_states(previous: PreviousFrame, cache: EPDMSCache, k: int, config: EPDMSConfig) -> tuple[
    NDArray[np.float64], float
]:
    prev_cache = as_epdms_cache(previous.cache, "previous frame")
    if prev_cache.log_name != cache.log_name:
        raise ValueError(
            f"previous frame {prev_cache.token} is from log {prev_cache.log_name!r}, scene {cache.token} from "
            f"{cache.log_name!r}"
        )
    interval = cache.time_s - prev_cache.time_s
    if previous.states is not None:
        states = np.asarray(previous.states, dtype=np.float64)
    elif previous.trajectories is not None:
        states = simulate_plans(prev_cache, previous.trajectories, config)
    else:
        raise ValueError("PreviousFrame: give trajectories or states")
    if states.ndim == 2:
        states = states[None]
    if states.shape[0] == 1 and k > 1:
        states = np.broadcast_to(states, (k, *states.shape[1:]))
    if states.shape[0] != k:
        raise ValueError(f"PreviousFrame: {states.shape[0]} previous plans for {k} candidates")
    return states, interval


def score_epdms(
    cache: EPDMSCache,
    trajectories: ArrayLike,
    config: EPDMSConfig = EPDMSConfig(),
    traffic: str = "log_replay",
    previous: PreviousFrame | None = None,
    names: list[str] | None = None,
    map_api: MapAPI | None = None,
    idm: IDMTrafficConfig = _IDM,
) -> EPDMSResults:
    """Score K candidate trajectories of one scene with NAVSIM v2.2's EPDMS.

    Args:
        cache: the scene's EPDMS cache (a v1.1 :class:`MetricCache` is refused).
        trajectories: ``[K, 8, 3]`` poses (x, y, heading) at t = 0.5 … 4.0 s in the current rear-axle frame.
        config: weights, thresholds, human-filter variant (:data:`HUMAN_FILTERS`).
        traffic: traffic-agent policy, one of :data:`~inspatio_drive.pdm.v2.traffic.TRAFFIC_POLICIES`.
        previous: the plans at the frame 0.5 s earlier, for EC; ``None`` = EC NaN and its weight dropped.
        names: optional candidate names.
        map_api: the scene's map; needed by ``traffic="reactive"`` (IDM agents on the lanes).
        idm: parameters of the reactive policy (navsim ``navsim_IDM_traffic_agents.yaml``).

    Returns:
        :class:`EPDMSResults` (one row per candidate). A candidate is never silently scored with the wrong
        rule: where the human filter cannot run (original scene without a human trajectory) every row is
        ``valid=False`` with the reason, and its numbers are the unfiltered ones.
    """
    cache = as_epdms_cache(cache)
    if traffic not in TRAFFIC_POLICIES:
        raise ValueError(f"traffic: expected one of {TRAFFIC_POLICIES}, got {traffic!r}")
    traj = poses_array(trajectories, "trajectories")
    k = len(traj)
    if names is not None and len(names) != k:
        raise ValueError(f"names: {len(names)} names for {k} candidates")
    reason = ""
    run_filter = config.human_filter != "off" and cache.scene_type == ORIGINAL
    if run_filter and cache.human_trajectory is None:
        run_filter = False
        reason = (
            f"scene {cache.token} is ORIGINAL but its cache has no human trajectory: human filter "
            f"({config.human_filter}) could not run"
        )
    plans = np.concatenate([cache.human_trajectory[None], traj]) if run_filter else traj
    states = simulate_plans(cache, plans, config, with_reference=True)  # [ref, (human), candidates]
    first = 2 if run_filter else 1
    history = history_states(cache.past_time_us, cache.past_states) if len(cache.past_time_us) > 1 else None
    vehicle = config.base.vehicle

    # candidate calls: [PDM-Closed, candidate k] with the history, against the policy's observation for candidate k
    rows = np.concatenate([states[:1], states[first:]])
    m = _static_metrics(rows, cache, config, history)
    nc_ref, nc, col_ref, col = np.ones(k), np.ones(k), np.full(k, -1), np.full(k, -1)
    ttc_ref, ttc, ttc_step_ref, ttc_step = np.ones(k), np.ones(k), np.full(k, -1), np.full(k, -1)
    human_obs = None
    if traffic == "log_replay":  # one observation for every row
        obs = traffic_observation(traffic, cache, states[first])
        a, b, c, d = _collision_metrics(rows, m, np.arange(k + 1), cache, obs, config)
        nc_ref[:], col_ref[:], ttc_ref[:], ttc_step_ref[:] = a[0], b[0], c[0], d[0]
        nc, col, ttc, ttc_step = a[1:], b[1:], c[1:], d[1:]
    else:
        if map_api is None:
            raise ValueError("traffic=reactive needs the scene's map (score_epdms(..., map_api=...))")
        # one batch: the candidates (and the human of the filter call) share the ego-free IDM rollout
        egos = np.concatenate([states[1:2], rows[1:]]) if run_filter else rows[1:]
        observations = reactive_observations(cache, egos, map_api, idm, vehicle)
        human_obs = observations[0] if run_filter else None
        for i, obs in enumerate(observations[1:] if run_filter else observations):
            a, b, c, d = _collision_metrics(rows, m, np.array([0, 1 + i]), cache, obs, config)
            nc_ref[i], col_ref[i], ttc_ref[i], ttc_step_ref[i] = a[0], b[0], c[0], d[0]
            nc[i], col[i], ttc[i], ttc_step[i] = a[1], b[1], c[1], d[1]
    cand = {key: np.asarray(m[key][1:], dtype=np.float64) for key in STATIC_SUBMETRICS}
    ref = {key: np.full(k, float(m[key][0])) for key in STATIC_SUBMETRICS}
    cand.update(no_at_fault_collisions=nc, time_to_collision_within_bound=ttc)
    ref.update(no_at_fault_collisions=nc_ref, time_to_collision_within_bound=ttc_ref)
    masked_ref = m["progress_raw"][0] * _multiplier(ref)
    masked = m["progress_raw"][1:] * _multiplier(cand)
    norm = np.maximum(masked_ref, masked)  # pairwise {PDM-Closed, candidate}
    with np.errstate(invalid="ignore", divide="ignore"):
        ep = np.where(
            norm > config.base.progress_distance_threshold, np.clip(m["progress_raw"][1:] / norm, 0.0, 1.0), 1.0
        )
    cand["ego_progress"] = ep
    raw = {key: cand[key] for key in SUBMETRICS}

    # human call: the human alone, no history (HC = 1, EP = 1), same policy
    human = None
    filtered_cols: list[list[str]] = [[] for _ in range(k)]
    metrics = {key: v.copy() for key, v in raw.items()}
    if run_filter:
        hm = _static_metrics(states[1:2], cache, config, None)
        h_obs = human_obs if human_obs is not None else traffic_observation(traffic, cache, states[1], map_api, idm, vehicle)
        h_nc, _, h_ttc, _ = _collision_metrics(states[1:2], hm, np.array([0]), cache, h_obs, config)
        human = {key: float(hm[key][0]) for key in STATIC_SUBMETRICS}
        human.update(no_at_fault_collisions=float(h_nc[0]), time_to_collision_within_bound=float(h_ttc[0]),
                     history_comfort=1.0, ego_progress=1.0)
        for key in FILTERABLE:
            if human[key] == 0.0:
                changed = metrics[key] != 1.0
                metrics[key][:] = 1.0
                for i in np.flatnonzero(changed):
                    filtered_cols[i].append(key)
    score_source = raw if config.human_filter == "pre_151" else metrics

    ec = np.full(k, np.nan)
    rms = np.full((k, 4), np.nan)
    if previous is not None:
        prev_states, interval = _previous_states(previous, cache, k, config)
        ec, rms = extended_comfort(states[first:], prev_states, interval, config.base.step_s, config.extended_comfort)
    metrics[EC_COLUMN] = ec
    metrics["score"] = final_scores(score_source, ec, config.weights)
    return EPDMSResults(
        metrics=metrics,
        raw=raw,
        progress_raw_m=m["progress_raw"][1:],
        at_fault_collision_step=col,
        ttc_infraction_step=ttc_step,
        history_comfort_checks=m["checks"][1:],
        ec_rms=rms,
        states=states[first:],
        reference={
            "states": states[0],
            "progress_raw_m": float(m["progress_raw"][0]),
            **{key: _uniform(ref[key]) for key in SUBMETRICS if key != "ego_progress"},
            "at_fault_collision_step": _uniform(col_ref, step=True),
            "ttc_infraction_step": _uniform(ttc_step_ref, step=True),
        },
        human=human,
        filtered=filtered_cols,
        traffic=traffic,
        human_filter=config.human_filter,
        human_filter_applied=run_filter,
        valid=np.full(k, not reason),
        reason=[reason] * k,
        token=cache.token,
        names=names,
    )
