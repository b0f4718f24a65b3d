"""NAVSIM v1.1 PDM score of candidate trajectories, all candidates of a scene in one vectorised call.

``score_candidates(cache, trajectories[K, 8, 3])`` interpolates the candidates (t = 0…4 s at 0.1 s),
simulates them together with the PDM-Closed reference of the metric cache (LQR + kinematic bicycle), and
scores every simulated proposal:

* ego areas per step (multiple lanes, non-drivable, oncoming) from the box corners / centre;
* NC (at-fault collisions, nuPlan collision typing), DAC, DDC, EP (centerline progress), TTC, comfort;
* ``PDMS = NC · DAC · (5·TTC + 5·EP + 2·C) / 12`` with EP normalised over the pair
  {PDM-Closed, candidate}, exactly as navsim scores each candidate in its own call.

Every row is independent of the others, so the K candidates share one simulation and one set of geometric
tests; box-box intersection tests run on the pairs that pass a bounding-circle pre-filter only.

Semantics follow navsim v1.1 ``PDMScorer`` / ``pdm_score`` and nuplan-devkit; the code is written from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts import NAVSIM_PDM_COLUMNS, PACIFICA, VehicleParameters
from inspatio_drive.pdm import pairs_numba
from inspatio_drive.pdm.comfort import COMFORT_CHECKS, ComfortThresholds, comfort_checks
from inspatio_drive.pdm.simulation import (
    BicycleConfig,
    LQRConfig,
    candidate_states,
    reference_states,
    simulate,
)
from inspatio_drive.pdm.types import MetricCache, StateIndex

__all__ = ["PDMResults", "PDMScorerConfig", "ego_box_coords", "score_candidates", "score_states"]

S = StateIndex
MULTIPLE_LANES, NON_DRIVABLE, ONCOMING = 0, 1, 2
FL, RL, RR, FR, CENTER = 0, 1, 2, 3, 4
_NO_STEP = -1


@dataclass(frozen=True)
class PDMScorerConfig:
    """Weights and thresholds of navsim v1.1's ``PDMScorerConfig`` (+ sampling, vehicle, controllers)."""

    progress_weight: float = 5.0
    ttc_weight: float = 5.0
    comfortable_weight: float = 2.0
    driving_direction_weight: float = 0.0
    driving_direction_horizon: float = 1.0  # s
    driving_direction_compliance_threshold: float = 2.0  # m
    driving_direction_violation_threshold: float = 6.0  # m
    stopped_speed_threshold: float = 5e-3  # m/s, ego speed below which TTC is not checked
    progress_distance_threshold: float = 5.0  # m
    collision_stopped_speed: float = 5e-2  # m/s, nuplan "stopped ego / stopped track"
    ahead_angle_deg: float = 30.0
    behind_angle_deg: float = 150.0
    ttc_future_steps: tuple[int, ...] = (0, 3, 6, 9)
    num_steps: int = 40
    step_s: float = 0.1
    pose_interval_s: float = 0.5
    vehicle: VehicleParameters = PACIFICA
    lqr: LQRConfig = field(default_factory=LQRConfig)
    bicycle: BicycleConfig = field(default_factory=BicycleConfig)
    comfort: ComfortThresholds = field(default_factory=ComfortThresholds)
    # LQR + bicycle loop: auto | numba | numpy (simulation.SIMULATION_BACKENDS)
    simulation_backend: str = "auto"

    @property
    def weights(self) -> NDArray[np.float64]:
        """``[4]`` weights of (EP, TTC, C, DDC)."""
        return np.array(
            [self.progress_weight, self.ttc_weight, self.comfortable_weight, self.driving_direction_weight]
        )


@dataclass
class PDMResults:
    """Per-candidate PDM sub-scores (arrays over the K candidates, navsim ``PDMResults`` field names).

    Attributes:
        no_at_fault_collisions, drivable_area_compliance, ego_progress, time_to_collision_within_bound,
        comfort, driving_direction_compliance, score: ``[K]`` float64.
        progress_raw_m: ``[K]`` un-normalised centerline progress (m), before multiplying by NC·DAC.
        at_fault_collision_step, ttc_infraction_step: ``[K]`` int64 first step (t = 0.1·step s), -1 = none.
        comfort_checks: ``[K, 6]`` bool, columns :data:`~inspatio_drive.pdm.comfort.COMFORT_CHECKS`.
        ego_areas: ``[K, T, 3]`` bool (multiple lanes, non-drivable, oncoming) per simulated step.
        states: ``[K, T, 11]`` simulated global states (:class:`StateIndex`).
        reference: the same quantities for the PDM-Closed reference trajectory (scalars).
        names: optional candidate names (row labels of :meth:`to_rows`).
    """

    no_at_fault_collisions: NDArray[np.float64]
    drivable_area_compliance: NDArray[np.float64]
    ego_progress: NDArray[np.float64]
    time_to_collision_within_bound: NDArray[np.float64]
    comfort: NDArray[np.float64]
    driving_direction_compliance: NDArray[np.float64]
    score: NDArray[np.float64]
    progress_raw_m: NDArray[np.float64]
    at_fault_collision_step: NDArray[np.int64]
    ttc_infraction_step: NDArray[np.int64]
    comfort_checks: NDArray[np.bool_]
    ego_areas: NDArray[np.bool_]
    states: NDArray[np.float64]
    reference: dict[str, Any] = field(default_factory=dict)
    names: list[str] | None = None

    SUBSCORES = NAVSIM_PDM_COLUMNS

    def __len__(self) -> int:
        return len(self.score)

    def to_rows(self) -> list[dict[str, Any]]:
        """One JSON-serialisable dict per candidate: sub-scores, score and diagnostics."""
        rows = []
        for k in range(len(self)):
            row: dict[str, Any] = {"index": k}
            if self.names is not None:
                row["name"] = self.names[k]
            row.update({key: float(getattr(self, key)[k]) for key in self.SUBSCORES})
            row["progress_raw_m"] = float(self.progress_raw_m[k])
            row["at_fault_collision_step"] = _step_or_none(self.at_fault_collision_step[k])
            row["ttc_infraction_step"] = _step_or_none(self.ttc_infraction_step[k])
            row["comfort_checks"] = dict(zip(COMFORT_CHECKS, map(bool, self.comfort_checks[k]), strict=True))
            rows.append(row)
        return rows


def _step_or_none(step: int) -> int | None:
    return None if int(step) < 0 else int(step)


# --------------------------------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------------------------------


def ego_box_coords(states: ArrayLike, vehicle: VehicleParameters = PACIFICA) -> NDArray[np.float64]:
    """Ego box corners and centre from rear-axle states.

    Args:
        states: ``[..., 11]`` (or ``[..., 3]``) global rear-axle poses.

    Returns:
        ``[..., 5, 2]`` points front-left, rear-left, rear-right, front-right, centre (navsim ``BBCoordsIndex``).
    """
    s = np.asarray(states, dtype=np.float64)
    h = s[..., S.HEADING]
    cos, sin = np.cos(h), np.sin(h)
    center = s[..., :2] + np.stack([vehicle.rear_axle_to_center * cos, vehicle.rear_axle_to_center * sin], -1)
    half_pi = np.pi / 2.0
    cos_l, sin_l = np.cos(h + half_pi), np.sin(h + half_pi)

    def corner(lon: float, lat: float) -> NDArray[np.float64]:
        return center + np.stack([lat * cos_l + lon * cos, lat * sin_l + lon * sin], axis=-1)

    hl, hw = vehicle.half_length, vehicle.half_width
    return np.stack([corner(hl, hw), corner(-hl, hw), corner(-hl, -hw), corner(hl, -hw), center], axis=-2)


def _relative_angle(ego_pose: NDArray[np.float64], target_xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """``[N]`` angle (rad) between the ego heading and the direction ego→target (nuplan; NaN if coincident)."""
    vec = target_xy - ego_pose[:, :2]
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vec / np.linalg.norm(vec, axis=-1, keepdims=True)
        dot = np.cos(ego_pose[:, 2]) * unit[:, 0] + np.sin(ego_pose[:, 2]) * unit[:, 1]
        return np.arccos(dot)


def _ring(corners: NDArray[np.float64]) -> NDArray[np.float64]:
    """``[N, 4, 2]`` corners → ``[N, 5, 2]`` closed rings."""
    return np.concatenate([corners, corners[:, :1]], axis=1)


def _parallelograms(corners: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """``[..., 4, 2]`` boxes → centre ``[..., 2]``, half edge vectors ``p, q [..., 2]``, ``ok [...]``.

    ``ok`` is False where the quad is not a parallelogram (or has NaN corners): such pairs always go to shapely.
    """
    center = corners.mean(axis=-2)
    p = 0.5 * (corners[..., 0, :] - corners[..., 1, :])  # front-left - rear-left: half length
    q = 0.5 * (corners[..., 0, :] - corners[..., 3, :])  # front-left - front-right: half width
    skew = (corners[..., 0, :] - corners[..., 1, :]) - (corners[..., 3, :] - corners[..., 2, :])
    scale = 1.0 + np.abs(center[..., 0]) + np.abs(center[..., 1])
    with np.errstate(invalid="ignore"):
        ok = (np.abs(skew[..., 0]) + np.abs(skew[..., 1])) <= 1e-9 * scale
    return center, p, q, ok


def _axis_gap(
    ca: NDArray[np.float64],
    pa: NDArray[np.float64],
    qa: NDArray[np.float64],
    cb: NDArray[np.float64],
    pb: NDArray[np.float64],
    qb: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``[P]`` largest gap (m) between two parallelograms over their 4 edge normals (separating-axis theorem).

    Positive: separated by that much; negative: they overlap on every axis, i.e. intersect. NaN for degenerate
    or missing boxes (callers then fall back to shapely).
    """
    d = cb - ca
    best = np.full(len(ca), -np.inf)
    for edge in (pa, qa, pb, qb):
        norm = np.sqrt(edge[:, 0] ** 2 + edge[:, 1] ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            nx, ny = -edge[:, 1] / norm, edge[:, 0] / norm
            r = (
                np.abs(pa[:, 0] * nx + pa[:, 1] * ny)
                + np.abs(qa[:, 0] * nx + qa[:, 1] * ny)
                + np.abs(pb[:, 0] * nx + pb[:, 1] * ny)
                + np.abs(qb[:, 0] * nx + qb[:, 1] * ny)
            )
            gap = np.abs(d[:, 0] * nx + d[:, 1] * ny) - r
        best = np.maximum(best, gap)  # NaN propagates
    return best


def _intersecting_pairs(
    ego_corners: NDArray[np.float64],
    obj_corners: NDArray[np.float64],
    obj_time: NDArray[np.int64],
    margin: float = 1e-6,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs (ego row, object) whose boxes intersect (shapely ``intersects`` semantics, boundaries included).

    Bounding circles discard far pairs; parallelogram pairs are then decided by the separating-axis theorem
    when the gap / overlap exceeds ``margin`` metres; near-touching pairs and other shapes go to shapely.

    Args:
        ego_corners: ``[N, 4, 2]`` ego boxes.
        obj_corners: ``[M, T_obs, 4, 2]`` object boxes per observation step (NaN = absent).
        obj_time: ``[N]`` observation step each ego row is compared at.
        margin: metres of gap / overlap below which shapely decides.

    Returns:
        ``(ego_idx [P], obj_idx [P])`` sorted by ego row then object.
    """

    if not pairs_numba.HAVE_NUMBA:
        return _intersecting_pairs_reference(ego_corners, obj_corners, obj_time, margin)
    oc, op, oq, o_ok = _parallelograms(obj_corners)  # [M, T_obs, ...]
    present = np.isfinite(obj_corners).all(axis=(-1, -2))  # [M, T_obs]
    o_r = np.hypot(op[..., 0], op[..., 1]) + np.hypot(oq[..., 0], oq[..., 1])
    ni, mi, ask = pairs_numba.candidate_pairs(ego_corners, obj_time, (oc, op, oq, o_ok, o_r, present), margin)
    hit = ~ask
    if ask.any():
        ti = obj_time[ni[ask]]
        ego_polys = shapely.polygons(_ring(ego_corners[ni[ask]]))
        obj_polys = shapely.polygons(_ring(obj_corners[mi[ask], ti]))
        hit[ask] = shapely.intersects(ego_polys, obj_polys)
    return ni[hit], mi[hit]  # the kernel emits pairs in (ego row, object) order


def _intersecting_pairs_reference(
    ego_corners: NDArray[np.float64],
    obj_corners: NDArray[np.float64],
    obj_time: NDArray[np.int64],
    margin: float = 1e-6,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:func:`_intersecting_pairs` in numpy (reference of the compiled broad / narrow phase)."""
    ec, ep, eq, e_ok = _parallelograms(ego_corners)  # [N, ...]
    oc, op, oq, o_ok = _parallelograms(obj_corners)  # [M, T_obs, ...]
    present = np.isfinite(obj_corners).all(axis=(-1, -2))  # [M, T_obs]
    e_r = np.hypot(ep[:, 0], ep[:, 1]) + np.hypot(eq[:, 0], eq[:, 1])
    o_r = np.hypot(op[..., 0], op[..., 1]) + np.hypot(oq[..., 0], oq[..., 1])
    diff = oc[:, obj_time] - ec[None]  # [M, N, 2]
    reach = o_r[:, obj_time] + e_r[None] + margin
    with np.errstate(invalid="ignore"):
        near = present[:, obj_time] & (diff[..., 0] ** 2 + diff[..., 1] ** 2 <= reach**2)
    mi, ni = np.nonzero(near)
    ti = obj_time[ni]
    gap = _axis_gap(ec[ni], ep[ni], eq[ni], oc[mi, ti], op[mi, ti], oq[mi, ti])
    sat_ok = e_ok[ni] & o_ok[mi, ti] & np.isfinite(gap)
    hit = sat_ok & (gap < -margin)
    ask = ~sat_ok | (np.abs(np.nan_to_num(gap)) <= margin)
    if ask.any():
        ego_polys = shapely.polygons(_ring(ego_corners[ni[ask]]))
        obj_polys = shapely.polygons(_ring(obj_corners[mi[ask], ti[ask]]))
        hit[ask] = shapely.intersects(ego_polys, obj_polys)
    order = np.lexsort((mi[hit], ni[hit]))
    return ni[hit][order].astype(np.int64), mi[hit][order].astype(np.int64)


def _first_ignored_key(
    rows: NDArray[np.int64],
    objs: NDArray[np.int64],
    keys: NDArray[np.int64],
    relevant: NDArray[np.bool_],
    shape,
) -> NDArray[np.float64]:
    """Per (row, object): smallest event key among ``relevant`` events (inf if none)."""
    first = np.full(shape, np.inf)
    if relevant.any():
        np.minimum.at(first, (rows[relevant], objs[relevant]), keys[relevant].astype(np.float64))
    return first


# --------------------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------------------


def ego_areas(coords: NDArray[np.float64], cache: MetricCache) -> NDArray[np.bool_]:
    """``[B, T, 5, 2]`` ego points → ``[B, T, 3]`` (multiple lanes, non-drivable area, oncoming traffic)."""
    dam = cache.drivable_area_map
    b, t = coords.shape[:2]
    areas = np.zeros((b, t, 3), dtype=bool)
    if len(dam) == 0:
        areas[..., NON_DRIVABLE] = True
        areas[..., ONCOMING] = True
        return areas
    inside = dam.points_in_polygons(coords).transpose(1, 2, 0, 3)  # [B, T, P, 5]
    lanes = dam.indices_of(["LANE", "LANE_CONNECTOR"])
    drivable = dam.indices_of(["ROADBLOCK", "INTERSECTION", "DRIVABLE_AREA", "CARPARK_AREA"])
    route = set(cache.route_lane_ids)
    on_route = np.array([i for i in lanes if dam.tokens[i] in route], dtype=np.int64)
    corners, center = inside[..., :4], inside[..., 4]

    corners_per_lane = corners[:, :, lanes].sum(axis=-1)  # [B, T, L]
    areas[..., MULTIPLE_LANES] = ((corners_per_lane > 0).sum(axis=-1) > 1) & np.all(
        corners_per_lane != 4, axis=-1
    )
    areas[..., NON_DRIVABLE] = (corners[:, :, drivable].sum(axis=-2) > 0).sum(axis=-1) < 4
    areas[..., ONCOMING] = center[:, :, on_route].sum(axis=-1) == 0
    return areas


def _no_at_fault_collisions(
    states: NDArray[np.float64],
    coords: NDArray[np.float64],
    areas: NDArray[np.bool_],
    cache: MetricCache,
    cfg: PDMScorerConfig,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """NC ``[B]`` and first at-fault collision step ``[B]`` (-1 = none)."""
    b, t = states.shape[:2]
    obs = cache.observation
    nc = np.ones(b, dtype=np.float64)
    step = np.full(b, _NO_STEP, dtype=np.int64)
    if obs.num_objects == 0:
        return nc, step
    ego = coords[..., :4, :].reshape(b * t, 4, 2)
    flat, m = _intersecting_pairs(ego, obs.corners, np.tile(np.arange(t), b))
    if len(flat) == 0:
        return nc, step
    r, ti = np.divmod(flat, t)
    st = states[r, ti]
    ego_speed = np.hypot(st[:, S.VELOCITY_X], st[:, S.VELOCITY_Y])
    ego_stopped = ego_speed <= cfg.collision_stopped_speed
    track_stopped = ~obs.is_agent | (obs.speeds <= cfg.collision_stopped_speed)
    obj_polys = shapely.polygons(_ring(obs.corners[m, ti]))
    centroid = obs.centroids_at(m, ti)  # shapely centroids, each box once per observation
    behind = _relative_angle(st[:, :3], centroid) > np.deg2rad(cfg.behind_angle_deg)
    bumper = shapely.linestrings(np.stack([coords[r, ti, FL], coords[r, ti, FR]], axis=1))
    front = shapely.intersects(bumper, obj_polys)
    lateral_at_fault = areas[r, ti, MULTIPLE_LANES] | areas[r, ti, NON_DRIVABLE]
    # nuplan collision types in priority order: stopped ego, stopped track, rear, front bumper, lateral
    at_fault = ~ego_stopped & (track_stopped[m] | (~behind & (front | lateral_at_fault)))
    # an object hit without fault is ignored from then on
    first_ignored = _first_ignored_key(r, m, ti, ~at_fault, (b, obs.num_objects))
    counted = at_fault & (ti < first_ignored[r, m])
    value = np.where(obs.is_agent_type[m], 0.0, 0.5)
    np.minimum.at(nc, r[counted], value[counted])
    first = np.full(b, np.iinfo(np.int64).max)
    np.minimum.at(first, r[counted], ti[counted])
    step = np.where(first == np.iinfo(np.int64).max, _NO_STEP, first)
    return nc, step


def _time_to_collision(
    states: NDArray[np.float64],
    coords: NDArray[np.float64],
    areas: NDArray[np.bool_],
    cache: MetricCache,
    cfg: PDMScorerConfig,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """TTC ``[B]`` and first infraction step ``[B]`` (-1 = none)."""
    b, t = states.shape[:2]
    obs = cache.observation
    ttc = np.ones(b, dtype=np.float64)
    step = np.full(b, _NO_STEP, dtype=np.int64)
    futures = np.asarray(cfg.ttc_future_steps, dtype=np.int64)
    nf = len(futures)
    if obs.num_objects == 0:
        return ttc, step
    if t - 1 + futures.max() >= obs.num_steps:
        raise ValueError(
            f"observation: {obs.num_steps} steps, TTC needs {t + futures.max()} (simulation + 1 s look-ahead)"
        )
    speed = np.hypot(states[..., S.VELOCITY_X], states[..., S.VELOCITY_Y])  # [B, T]
    heading = states[..., S.HEADING]
    dxy = np.stack([np.cos(heading) * speed, np.sin(heading) * speed], axis=-1)  # [B, T, 2]
    delta_t = futures.astype(np.float64) * cfg.step_s  # [F]
    ego = (
        coords[:, :, None, :4, :] + dxy[:, :, None, None, :] * delta_t[None, None, :, None, None]
    )  # [B,T,F,4,2]
    obs_t = np.arange(t)[:, None] + futures[None, :]  # [T, F]
    flat, m = _intersecting_pairs(ego.reshape(-1, 4, 2), obs.corners, np.tile(obs_t.reshape(-1), b))
    if len(flat) == 0:
        return ttc, step
    r, rest = np.divmod(flat, t * nf)
    ti, fi = np.divmod(rest, nf)
    moving = speed[r, ti] >= cfg.stopped_speed_threshold
    r, ti, fi, m, rest = r[moving], ti[moving], fi[moving], m[moving], rest[moving]
    pose = states[r, ti, :3]
    centroid = obs.centroids_at(m, obs_t[ti, fi]).reshape(-1, 2)  # shapely centroids, each box once
    angle = _relative_angle(pose, centroid)
    ahead = angle < np.deg2rad(cfg.ahead_angle_deg)
    behind = angle > np.deg2rad(cfg.behind_angle_deg)
    in_intersection = cache.drivable_area_map.is_in_layer(pose[:, :2], "INTERSECTION") if len(pose) else ahead
    risky = areas[r, ti, MULTIPLE_LANES] | areas[r, ti, NON_DRIVABLE] | in_intersection
    infraction = ahead | (risky & ~behind)
    first_ignored = _first_ignored_key(r, m, rest, ~infraction, (b, obs.num_objects))
    counted = infraction & (rest < first_ignored[r, m])
    ttc[np.unique(r[counted])] = 0.0
    first = np.full(b, np.iinfo(np.int64).max)
    np.minimum.at(first, r[counted], ti[counted])
    step = np.where(first == np.iinfo(np.int64).max, _NO_STEP, first)
    return ttc, step


def _driving_direction(
    coords: NDArray[np.float64], areas: NDArray[np.bool_], cfg: PDMScorerConfig
) -> NDArray:
    """DDC ``[B]``: worst 1 s window of centre progress while in oncoming traffic."""
    center = coords[:, :, CENTER]
    progress = np.zeros(center.shape[:2], dtype=np.float64)
    progress[:, 1:] = np.linalg.norm(center[:, 1:] - center[:, :-1], axis=-1)
    progress[~areas[..., ONCOMING]] = 0.0
    horizon = int(cfg.driving_direction_horizon / cfg.step_s)
    padded = np.concatenate([np.zeros((len(progress), horizon)), progress], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, horizon + 1, axis=1).sum(axis=-1)
    worst = windows.max(axis=-1)
    return np.where(
        worst < cfg.driving_direction_compliance_threshold,
        1.0,
        np.where(worst < cfg.driving_direction_violation_threshold, 0.5, 0.0),
    )


def _progress(coords: NDArray[np.float64], cache: MetricCache) -> NDArray[np.float64]:
    """Raw progress ``[B]`` (m) of the box centre along the centerline between the first and last step, ≥ 0."""
    start = cache.centerline.project(coords[:, 0, CENTER])
    end = cache.centerline.project(coords[:, -1, CENTER])
    return np.clip(end - start, 0.0, None)


def score_states(
    states: ArrayLike, cache: MetricCache, cfg: PDMScorerConfig = PDMScorerConfig()
) -> dict[str, Any]:
    """All un-normalised metrics of simulated proposals.

    Args:
        states: ``[B, T, 11]`` simulated states (T = num_steps + 1).

    Returns:
        dict of ``[B]`` arrays ``nc, dac, ddc, ttc, comfort, progress_raw, collision_step, ttc_step``, plus
        ``comfort_checks [B, 6]``, ``ego_areas [B, T, 3]``, ``coords [B, T, 5, 2]``.
    """
    s = np.asarray(states, dtype=np.float64)
    if s.ndim != 3 or s.shape[1] != cfg.num_steps + 1 or s.shape[2] != 11:
        raise ValueError(f"states: expected [B, {cfg.num_steps + 1}, 11], got {s.shape}")
    coords = ego_box_coords(s, cfg.vehicle)
    areas = ego_areas(coords, cache)
    nc, collision_step = _no_at_fault_collisions(s, coords, areas, cache, cfg)
    ttc, ttc_step = _time_to_collision(s, coords, areas, cache, cfg)
    checks = comfort_checks(s, cfg.step_s, cfg.comfort)
    return {
        "nc": nc,
        "dac": np.where(areas[..., NON_DRIVABLE].any(axis=-1), 0.0, 1.0),
        "ddc": _driving_direction(coords, areas, cfg),
        "ttc": ttc,
        "comfort": checks.all(axis=-1).astype(np.float64),
        "progress_raw": _progress(coords, cache),
        "collision_step": collision_step,
        "ttc_step": ttc_step,
        "comfort_checks": checks,
        "ego_areas": areas,
        "coords": coords,
    }


def _aggregate(m: dict[str, Any], cfg: PDMScorerConfig) -> dict[str, NDArray[np.float64]]:
    """Row 0 = PDM-Closed, rows 1… = candidates → per-candidate EP (pairwise normalised) and score."""
    multiplier = m["nc"] * m["dac"]
    raw = m["progress_raw"] * multiplier
    ref_raw, cand_raw = raw[0], raw[1:]
    max_raw = np.maximum(ref_raw, cand_raw)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = cand_raw / max_raw
    fallback = np.where(multiplier[1:] == 0.0, 0.0, 1.0)
    ep = np.where(max_raw > cfg.progress_distance_threshold, normalised, fallback)
    w = cfg.weights
    weighted = (w[0] * ep + w[1] * m["ttc"][1:] + w[2] * m["comfort"][1:] + w[3] * m["ddc"][1:]) / w.sum()
    return {"ep": ep, "score": multiplier[1:] * weighted}


def score_candidates(
    cache: MetricCache,
    trajectories: ArrayLike,
    config: PDMScorerConfig = PDMScorerConfig(),
    names: list[str] | None = None,
) -> PDMResults:
    """Score K candidate trajectories of one scene with the NAVSIM v1.1 PDM score.

    Args:
        cache: the scene's metric cache.
        trajectories: ``[K, P, 3]`` candidate poses (x [m], y [m], heading [rad]) at t = 0.5…4.0 s
            (P = 8, ``config.pose_interval_s`` apart) in the current rear-axle frame (x forward, y left).
        config: weights, thresholds, sampling, vehicle and controller parameters.
        names: optional candidate names carried into :meth:`PDMResults.to_rows`.

    Returns:
        :class:`PDMResults` with ``[K]`` arrays.
    """
    traj = np.asarray(trajectories, dtype=np.float64)
    if traj.ndim == 2:
        traj = traj[None]
    if traj.ndim != 3 or traj.shape[-1] != 3 or traj.shape[0] == 0:
        raise ValueError(f"trajectories: expected [K, P, 3] (x, y, heading) with K >= 1, got {traj.shape}")
    if names is not None and len(names) != len(traj):
        raise ValueError(f"names: {len(names)} names for {len(traj)} candidates")
    cand = candidate_states(
        cache.initial_state,
        cache.initial_time_us,
        traj,
        config.pose_interval_s,
        config.num_steps,
        config.step_s,
    )
    ref = reference_states(
        cache.trajectory_time_us,
        cache.trajectory_states,
        cache.initial_time_us,
        config.num_steps,
        config.step_s,
    )
    states = simulate(
        np.concatenate([ref[None], cand]),
        cache.initial_state,
        vehicle=config.vehicle,
        lqr=config.lqr,
        bicycle=config.bicycle,
        step_us=round(config.step_s * 1e6),
        backend=config.simulation_backend,
    )
    m = score_states(states, cache, config)
    agg = _aggregate(m, config)
    return PDMResults(
        no_at_fault_collisions=m["nc"][1:],
        drivable_area_compliance=m["dac"][1:],
        ego_progress=agg["ep"],
        time_to_collision_within_bound=m["ttc"][1:],
        comfort=m["comfort"][1:],
        driving_direction_compliance=m["ddc"][1:],
        score=agg["score"],
        progress_raw_m=m["progress_raw"][1:],
        at_fault_collision_step=m["collision_step"][1:],
        ttc_infraction_step=m["ttc_step"][1:],
        comfort_checks=m["comfort_checks"][1:],
        ego_areas=m["ego_areas"][1:],
        states=states[1:],
        reference={
            "states": states[0],
            "no_at_fault_collisions": float(m["nc"][0]),
            "drivable_area_compliance": float(m["dac"][0]),
            "progress_raw_m": float(m["progress_raw"][0]),
            "time_to_collision_within_bound": float(m["ttc"][0]),
            "comfort": float(m["comfort"][0]),
            "driving_direction_compliance": float(m["ddc"][0]),
            "at_fault_collision_step": _step_or_none(m["collision_step"][0]),
            "ttc_infraction_step": _step_or_none(m["ttc_step"][0]),
        },
        names=names,
    )
