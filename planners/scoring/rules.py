"""Honest rule-based scorer: sub-score logits from what a NAVSIM agent may see.

Inputs: the candidates ``[K, T, 3]``, the current LiDAR sweep (ego / rear-axle frame, z up, road ≈ z 0),
the current ego status (velocity, acceleration) and the driving command. The LiDAR is treated as a static
snapshot (moving objects are where they are now). Per candidate it measures (``Candidates.features``,
columns :data:`RULE_FEATURES`):

====================  ===============================================================================
``min_clearance``     m (capped at ``clearance_cap``), smallest signed distance between the ego footprint (Pacifica box) at any future
                      pose and an obstacle point (``obstacle_z`` band); negative = overlap
``ttc_clearance``     m, the same with the footprint stretched forward by ``speed · ttc_horizon``
``ground_support``    share of future poses with ground returns (z below ``ground_z_max``) within
                      ``ground_radius`` of the footprint centre — observed road to drive on
``progress``          m, arc length of the candidate
``progress_ratio``    progress / best progress among the candidates that look safe (1 if that best is
                      < 5 m, like navsim's EP threshold)
``comfort_ratio``     largest value / bound over navsim's comfort limits (lon. accel −4.05 / +2.40,
                      lat. accel 4.89, jerk 8.37, lon. jerk 4.13, yaw rate 0.95, yaw accel 1.93), < 1 =
                      comfortable. ``comfort="simulated"`` (default): navsim's own comfort signals on the
                      candidate tracked by the LQR + bicycle from the current ego status
                      (:mod:`planners.scoring.comfort`; equal to navsim's comfort sub-score on every one of
                      3,840 sandbox candidates checked); ``comfort="kinematic"``: finite differences of the
                      poses at 0.5 s from the current velocity (a rough proxy: 36 % agreement)
``command_agreement`` ∈ [0, 1], final heading change vs the driving command (left / straight / right;
                      unknown = 0.5)
====================  ===============================================================================

Logits (``p`` → logit where a probability): NC ``(min_clearance − margin)/softness``,
TTC ``(ttc_clearance − margin)/softness``, DAC ``(ground_support − 0.5)·dac_gain``, EP
``logit(progress_ratio · (0.5 + 0.5·command_agreement))``, C ``(1 − comfort_ratio)/comfort_softness``,
DDC ``logit(command_agreement)``. These are proxies, not the PDM score: DAC in particular cannot see the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from inspatio_drive.contracts import Candidates
from inspatio_drive.data.types import AgentInput
from planners.scoring.comfort import simulated_comfort
from planners.scoring.oracle import probability_to_logit

RULE_FEATURES: tuple[str, ...] = (
    "min_clearance",
    "ttc_clearance",
    "ground_support",
    "progress",
    "progress_ratio",
    "comfort_ratio",
    "command_agreement",
)


@dataclass(frozen=True)
class RuleConfig:
    """Knobs of :class:`RuleBasedScorer` (metres, seconds, radians)."""

    # ego box (nuPlan Pacifica, rear-axle frame)
    front_length: float = 4.049
    rear_length: float = 1.127
    width: float = 2.297
    # LiDAR
    obstacle_z: tuple[float, float] = (0.3, 2.5)
    ground_z_max: float = 0.2
    max_range: float = 60.0
    clearance_cap: float = 5.0  # m; clearances are reported up to this value
    voxel_size: float = 0.2
    ground_radius: float = 2.0
    # logits
    margin: float = 0.3
    softness: float = 0.15
    ttc_horizon: float = 1.0
    dac_gain: float = 10.0
    comfort_softness: float = 0.1
    comfort: str = "simulated"  # simulated (navsim's checks on the LQR-tracked candidate) | kinematic (0.5 s diffs)
    progress_threshold: float = 5.0
    command_heading: float = 0.2
    command_softness: float = 0.1
    interval_length: float = 0.5
    require_lidar: bool = True

    def __post_init__(self) -> None:  # a hydra structured config (planners.factory.RuleConfigNode) gives lists
        object.__setattr__(self, "obstacle_z", tuple(self.obstacle_z))


# navsim v1.1 comfort limits
_MAX_LON_ACC, _MIN_LON_ACC = 2.40, -4.05
_MAX_LAT_ACC, _MAX_JERK, _MAX_LON_JERK = 4.89, 8.37, 4.13
_MAX_YAW_RATE, _MAX_YAW_ACC = 0.95, 1.93


def _voxel_xy(points: torch.Tensor, size: float) -> torch.Tensor:
    """Unique ``[M, 2]`` xy cells (cell centres, float64) of points ``[N, 2]``."""
    if len(points) == 0:
        return points.double()
    cells = np.floor(points.numpy() / size).astype(np.int64)
    key = (cells[:, 0] << 32) + (cells[:, 1] & 0xFFFFFFFF)
    _, first = np.unique(key, return_index=True)
    return (torch.from_numpy(cells[first]).double() + 0.5) * size


def box_clearance_capped(
    poses: torch.Tensor,
    points: torch.Tensor,
    front: torch.Tensor | float,
    rear: float,
    half_width: float,
    cap: float,
) -> torch.Tensor:
    """:func:`box_clearance` clamped at ``cap``, computed only for (pose, point) pairs that can be within
    ``cap``: a KD-tree gives each footprint the points within ``half-diagonal + cap`` of its centre, the exact
    box distance is evaluated on those pairs and reduced per pose (exact after the clamp).

    Returns:
        ``[K, T]`` float64 metres, at most ``cap``.
    """
    p = poses.double()
    k, t = p.shape[:2]
    out = torch.full((k * t,), float(cap), dtype=torch.float64)
    if len(points) == 0:
        return out.reshape(k, t)

    front_t = torch.as_tensor(front, dtype=torch.float64).expand(k, t).reshape(-1)
    flat = p.reshape(-1, 3)
    c, s = torch.cos(flat[:, 2]), torch.sin(flat[:, 2])
    cx = (front_t - rear) / 2  # box centre ahead of the rear axle
    hl = (front_t + rear) / 2
    centres = torch.stack([flat[:, 0] + cx * c, flat[:, 1] + cx * s], -1)
    radius = torch.sqrt(hl**2 + half_width**2) + cap
    hits = cKDTree(points.numpy()).query_ball_point(centres.numpy(), r=radius.numpy(), return_sorted=False)
    counts = torch.tensor([len(h) for h in hits], dtype=torch.long)
    if int(counts.sum()) == 0:
        return out.reshape(k, t)
    pose_idx = torch.repeat_interleave(torch.arange(k * t), counts)
    pt_idx = torch.from_numpy(np.concatenate([np.asarray(h, dtype=np.int64) for h in hits if len(h)]))
    q = points[pt_idx].double()
    dx, dy = q[:, 0] - flat[pose_idx, 0], q[:, 1] - flat[pose_idx, 1]
    ci, si = c[pose_idx], s[pose_idx]
    lx, ly = ci * dx + si * dy, -si * dx + ci * dy
    ex = (lx - cx[pose_idx]).abs() - hl[pose_idx]
    ey = ly.abs() - half_width
    d = torch.sqrt(ex.clamp(min=0) ** 2 + ey.clamp(min=0) ** 2) + torch.maximum(ex, ey).clamp(max=0)
    out = out.scatter_reduce(0, pose_idx, d, reduce="amin", include_self=True)
    return out.reshape(k, t)


def box_clearance(
    poses: torch.Tensor, points: torch.Tensor, front: torch.Tensor | float, rear: float, half_width: float,
    chunk: int = 4096,
) -> torch.Tensor:  # fmt: skip
    """Signed distance from each pose's footprint to the nearest point.

    Args:
        poses: ``[K, T, 3]`` rear-axle poses.
        points: ``[N, 2]`` xy obstacle points, same frame.
        front: rear axle → front bumper (m), scalar or ``[K, T]``.
        rear: rear axle → rear bumper (m).
        half_width: m.

    Returns:
        ``[K, T]`` float64 metres (negative inside the box; +inf without points).
    """
    p = poses.double()
    k, t = p.shape[:2]
    best = torch.full((k, t), math.inf, dtype=torch.float64)
    if len(points) == 0:
        return best
    front_t = torch.as_tensor(front, dtype=torch.float64).expand(k, t)
    cx = ((front_t - rear) / 2)[..., None]
    hl = ((front_t + rear) / 2)[..., None]
    c, s = torch.cos(p[..., 2])[..., None], torch.sin(p[..., 2])[..., None]
    for start in range(0, len(points), chunk):
        q = points[start : start + chunk].double()
        dx = q[:, 0][None, None] - p[..., 0:1]
        dy = q[:, 1][None, None] - p[..., 1:2]
        lx = c * dx + s * dy
        ly = -s * dx + c * dy
        ex = (lx - cx).abs() - hl
        ey = ly.abs() - half_width
        outside = torch.sqrt(ex.clamp(min=0) ** 2 + ey.clamp(min=0) ** 2)
        inside = torch.maximum(ex, ey).clamp(max=0)
        best = torch.minimum(best, (outside + inside).min(-1).values)
    return best


def kinematics(poses: torch.Tensor, v0: torch.Tensor, dt: float) -> dict[str, torch.Tensor]:
    """Finite-difference kinematics of candidates starting at the origin with velocity ``v0 [2]``.

    Returns ``speed [K, T]``, ``lon_acc``, ``lat_acc``, ``jerk``, ``lon_jerk``, ``yaw_rate``, ``yaw_acc``
    (each ``[K, T]``, the first step measured from the current state)."""
    p = poses.double()
    k = p.shape[0]
    origin = torch.zeros(k, 1, 3, dtype=torch.float64)
    full = torch.cat([origin, p], dim=1)  # [K, T+1, 3]
    vel = torch.diff(full[..., :2], dim=1) / dt  # [K, T, 2]
    v0 = v0.double().reshape(1, 1, 2).expand(k, 1, 2)
    vel_all = torch.cat([v0, vel], dim=1)  # [K, T+1, 2]
    speed_all = vel_all.norm(dim=-1)
    heading = full[..., 2]
    yaw_rate = torch.diff(heading, dim=1) / dt  # [K, T]
    yaw_rate_all = torch.cat([torch.zeros(k, 1, dtype=torch.float64), yaw_rate], dim=1)
    acc_vec = torch.diff(vel_all, dim=1) / dt  # [K, T, 2]
    lon_acc = torch.diff(speed_all, dim=1) / dt
    lat_acc = speed_all[:, 1:] * yaw_rate
    acc_all = torch.cat([torch.zeros(k, 1, 2, dtype=torch.float64), acc_vec], dim=1)
    jerk = (torch.diff(acc_all, dim=1) / dt).norm(dim=-1)
    lon_acc_all = torch.cat([torch.zeros(k, 1, dtype=torch.float64), lon_acc], dim=1)
    return {
        "speed": speed_all[:, 1:],
        "lon_acc": lon_acc,
        "lat_acc": lat_acc,
        "jerk": jerk,
        "lon_jerk": torch.diff(lon_acc_all, dim=1) / dt,
        "yaw_rate": yaw_rate,
        "yaw_acc": torch.diff(yaw_rate_all, dim=1) / dt,
    }


def comfort_ratio(kin: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[K]`` largest |value| / limit over navsim's comfort limits (≤ 1 = comfortable)."""
    lon = kin["lon_acc"]
    ratios = [
        torch.where(lon >= 0, lon / _MAX_LON_ACC, lon / _MIN_LON_ACC),
        kin["lat_acc"].abs() / _MAX_LAT_ACC,
        kin["jerk"] / _MAX_JERK,
        kin["lon_jerk"].abs() / _MAX_LON_JERK,
        kin["yaw_rate"].abs() / _MAX_YAW_RATE,
        kin["yaw_acc"].abs() / _MAX_YAW_ACC,
    ]
    return torch.stack([r.max(dim=-1).values for r in ratios]).max(dim=0).values


class RuleBasedScorer:
    """Honest scorer: ``scorer(candidates, agent_input) -> candidates`` with logits and rule features."""

    name = "rules"
    privileged = False

    def __init__(self, config: RuleConfig | None = None) -> None:
        self.cfg = config or RuleConfig()

    def sensor_needs(self, num_history_frames: int) -> dict[str, list[int]]:
        """The current LiDAR sweep (see :data:`planners.protocol.SensorNeeds`)."""
        return {"lidar_pc": [num_history_frames - 1]}

    def _points(self, agent_input: AgentInput) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        lidar = agent_input.lidars[-1] if agent_input.lidars else None
        if lidar is None or lidar.points is None:
            if cfg.require_lidar:
                raise ValueError(
                    "RuleBasedScorer: the current LiDAR sweep is not loaded (agent_input.lidars[-1].points is None); "
                    "load lidar_pc for the current frame or set require_lidar=False (obstacle and ground terms neutral)"
                )
            empty = torch.zeros(0, 2, dtype=torch.float64)
            return empty, empty
        pts = torch.as_tensor(np.asarray(lidar.points[:3], dtype=np.float64)).T  # [N, 3]
        near = pts[:, :2].norm(dim=-1) <= cfg.max_range
        pts = pts[near]
        obst = pts[(pts[:, 2] >= cfg.obstacle_z[0]) & (pts[:, 2] <= cfg.obstacle_z[1])]
        ground = pts[pts[:, 2] < cfg.ground_z_max]
        return _voxel_xy(obst[:, :2], cfg.voxel_size), _voxel_xy(ground[:, :2], cfg.voxel_size)

    def features(self, poses: torch.Tensor, agent_input: AgentInput) -> torch.Tensor:
        """``[K, 7]`` float32 rule features (columns :data:`RULE_FEATURES`) of one scene's ``poses [K, T, 3]``."""
        cfg = self.cfg
        if poses.ndim != 3 or poses.shape[-1] != 3:
            raise ValueError(
                f"RuleBasedScorer: expected the candidates of one scene [K, T, 3], got {tuple(poses.shape)}"
            )
        if not agent_input.ego_statuses:
            raise ValueError("RuleBasedScorer: the agent input has no ego status")
        status = agent_input.ego_statuses[-1]
        p = poses.detach().cpu().double()
        obstacles, ground = self._points(agent_input)
        have_lidar = agent_input.lidars and agent_input.lidars[-1].points is not None
        half_w = cfg.width / 2
        kin = kinematics(
            p, torch.as_tensor(np.asarray(status.ego_velocity, dtype=np.float64)), cfg.interval_length
        )
        stretched = cfg.front_length + kin["speed"] * cfg.ttc_horizon
        cap = cfg.clearance_cap
        clear = (
            box_clearance_capped(p, obstacles, cfg.front_length, cfg.rear_length, half_w, cap).min(-1).values
        )
        ttc = box_clearance_capped(p, obstacles, stretched, cfg.rear_length, half_w, cap).min(-1).values
        if have_lidar:
            centre_off = (cfg.front_length - cfg.rear_length) / 2
            cx = p[..., 0] + centre_off * torch.cos(p[..., 2])
            cy = p[..., 1] + centre_off * torch.sin(p[..., 2])
            if len(ground):
                d = torch.cdist(torch.stack([cx, cy], -1).reshape(-1, 2), ground).min(-1).values
                support = (d.reshape(cx.shape) <= cfg.ground_radius).double().mean(-1)
            else:
                support = torch.zeros(p.shape[0], dtype=torch.float64)
        else:
            support = torch.full((p.shape[0],), 0.5, dtype=torch.float64)
        full = torch.cat([torch.zeros(p.shape[0], 1, 2, dtype=torch.float64), p[..., :2]], dim=1)
        progress = torch.diff(full, dim=1).norm(dim=-1).sum(-1)
        safe = (clear > cfg.margin) & (support >= 0.5)
        best = progress[safe].max() if bool(safe.any()) else progress.max()
        ratio = (
            torch.ones_like(progress)
            if float(best) < cfg.progress_threshold
            else (progress / best).clamp(0, 1)
        )
        command = np.asarray(status.driving_command).reshape(-1)
        cmd = int(np.argmax(command)) if command.any() else 3
        dh = p[:, -1, 2]
        th, sh = cfg.command_heading, cfg.command_softness
        agree = {
            0: torch.sigmoid((dh - th) / sh),
            1: torch.sigmoid((th - dh.abs()) / sh),
            2: torch.sigmoid((-dh - th) / sh),
        }.get(cmd, torch.full_like(dh, 0.5))
        if cfg.comfort == "simulated":
            comfort = torch.as_tensor(
                simulated_comfort(p.numpy(), status.ego_velocity, status.ego_acceleration, cfg.interval_length).ratio
            )
        elif cfg.comfort == "kinematic":
            comfort = comfort_ratio(kin)
        else:
            raise ValueError(f"RuleConfig.comfort: expected 'simulated' or 'kinematic', got {cfg.comfort!r}")
        cols = [clear, ttc, support, progress, ratio, comfort, agree]
        return torch.stack(cols, dim=-1).float()

    def logits(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Sub-score logits ``{NC, DAC, DDC, TTC, EP, C}: [K]`` from rule features ``[K, 7]``."""
        cfg = self.cfg
        f = {name: features[:, i].double() for i, name in enumerate(RULE_FEATURES)}
        ep = f["progress_ratio"] * (0.5 + 0.5 * f["command_agreement"])
        return {
            "NC": ((f["min_clearance"] - cfg.margin) / cfg.softness).float(),
            "TTC": ((f["ttc_clearance"] - cfg.margin) / cfg.softness).float(),
            "DAC": ((f["ground_support"] - 0.5) * cfg.dac_gain).float(),
            "EP": probability_to_logit(ep),
            "C": ((1.0 - f["comfort_ratio"]) / cfg.comfort_softness).float(),
            "DDC": probability_to_logit(f["command_agreement"]),
        }

    def __call__(self, candidates: Candidates, agent_input: AgentInput) -> Candidates:
        feats = self.features(candidates.poses, agent_input)
        scored = candidates.with_logits(self.logits(feats))
        scored.features = feats if candidates.features is None else candidates.features
        scored.extras.update({"rule_features": feats, "scorer": self.name})
        return scored
