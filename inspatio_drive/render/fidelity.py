"""Fidelity of the geometric renderer against the sandbox oracle (true views from any pose).

For a sandbox world and a current time, the agent input (4 history frames of camera images and LiDAR
from the oracle, at the logged ego poses) is turned into a coloured point cloud; the logged future
trajectory and perturbed ones are rendered and compared with the oracle's true views at 0.5 … 4 s:
PSNR and SSIM on valid pixels, valid-pixel coverage, depth AbsRel. Dynamic objects use the logged
tracks (``privileged``) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2
from inspatio_drive.render.metrics import coverage, masked_psnr, masked_ssim
from inspatio_drive.render.mono_depth import depth_from_config
from inspatio_drive.render.point_cloud import build_point_cloud
from inspatio_drive.render.renderer import render_candidates
from inspatio_drive.render.types import ColoredPoints, ObjectTracks, RenderCameras

FOUR_CAMERAS = ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")

#: name → (lateral offset at the last pose [m], speed factor, heading offset at the last pose [rad])
PERTURBATIONS: dict[str, tuple[float, float, float]] = {
    "logged": (0.0, 1.0, 0.0),
    "left_1.5m": (1.5, 1.0, 0.0),
    "right_1.5m": (-1.5, 1.0, 0.0),
    "slower_30%": (0.0, 0.7, 0.0),
    "yaw_left_10deg": (0.0, 1.0, np.deg2rad(10.0)),
}


def perturb(trajectory: np.ndarray, lateral: float, speed: float, yaw: float) -> np.ndarray:
    """Perturb a ``[T, 3]`` trajectory: positions scaled by ``speed`` along the path (time-rescaled by
    interpolation), a lateral offset (in the current frame, +left) and a heading offset both growing
    linearly to their value at the last pose."""
    t = np.arange(1, len(trajectory) + 1, dtype=np.float64)
    keys = np.concatenate([np.zeros((1, 3)), trajectory])
    kt = np.arange(len(keys), dtype=np.float64)
    q = t * speed
    out = np.stack(
        [np.interp(q, kt, keys[:, 0]), np.interp(q, kt, keys[:, 1]), np.interp(q, kt, np.unwrap(keys[:, 2]))],
        -1,
    )
    ramp = t / t[-1]
    out[:, 1] += lateral * ramp
    out[:, 2] += yaw * ramp
    return out


def camera_exposures(cameras: Sequence[str], spread: float, seed: int = 0) -> dict[str, tuple[float, float]]:
    """A per-camera exposure ``(gain, offset)`` for the sandbox (its cameras otherwise share one exposure):
    ``gain = exp(spread · z)``, ``offset = 20 · spread · z'`` colour levels, ``z, z'`` standard normal per
    camera (deterministic in ``seed``); ``spread = 0`` → none. Real rigs differ by this much: on nuScenes
    colours taken from one camera into another lose 7 dB to exposure (issue 22)."""
    if spread <= 0:
        return {}
    rng = np.random.default_rng(seed)
    return {name: (float(np.exp(spread * rng.normal())), float(20.0 * spread * rng.normal())) for name in cameras}


def apply_exposure(rgb: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """``clip(gain · rgb + offset)`` as uint8 (a camera's exposure, see :func:`camera_exposures`)."""
    return np.clip(np.asarray(rgb, dtype=np.float64) * gain + offset + 0.5, 0, 255).astype(np.uint8)


def sandbox_agent_input(
    oracle: Any,
    t_now: float,
    num_history: int = 4,
    cameras: Sequence[str] = FOUR_CAMERAS,
    with_depth: bool = False,
    exposure: dict[str, tuple[float, float]] | None = None,
) -> tuple[AgentInput, ObjectTracks, np.ndarray] | tuple[AgentInput, ObjectTracks, np.ndarray, dict]:
    """What an agent sees at ``t_now`` in a sandbox world, rendered by the oracle at the logged poses.

    Args:
        with_depth: also return the oracle's true depth of every image, ``{(frame, camera): [H, W] metres}``
            (``frame`` = history index, the last = current; privileged: a perfect monocular depth model).
        exposure: per-camera ``(gain, offset)`` applied to the images (:func:`camera_exposures`).

    Returns:
        ``(agent_input, tracks, ego0_local[, depths])``: tracks of the moving actors in ego0 at times −1.5 … 4 s
        (privileged ground truth), and the current ego pose in world-local coordinates.
    """
    world = oracle.world
    ego0 = world.ego.at(t_now)["pose"]
    statuses, cams, lidars = [], [], []
    depths: dict[tuple[int, str], np.ndarray] = {}
    for i in range(num_history):
        t = t_now - 0.5 * (num_history - 1 - i)
        pose = world.ego.at(t)["pose"]
        views = oracle.render_many(list(cameras), None, t)
        frame = {}
        for name, view in zip(cameras, views):
            model = oracle.rig[name]
            rgb = view.rgb if not exposure or name not in exposure else apply_exposure(view.rgb, *exposure[name])
            frame[name] = Camera(name, rgb, model.K, model.T_ego_cam[:3, :3], model.T_ego_cam[:3, 3])
            if with_depth:
                depths[(i, name)] = view.depth
        state = world.ego_dynamic_state(t)
        statuses.append(
            EgoStatus(
                absolute_to_relative_se2(ego0, pose),
                state[:2].astype(np.float32),
                state[2:].astype(np.float32),
                world.driving_command(t),
            )
        )
        cams.append(frame)
        lidars.append(Lidar(oracle.lidar(None, t)))
    times = np.arange(-3, 9) * 0.5
    moving = [a for a in world.actors if not a.is_static]
    poses = np.zeros((len(moving), len(times), 3))
    for k, a in enumerate(moving):
        poses[k] = absolute_to_relative_se2(ego0, a.track.at(t_now + times)["pose"])
    sizes = np.array([a.size for a in moving], dtype=np.float64).reshape(-1, 3)
    tracks = ObjectTracks(
        [a.token for a in moving],
        torch.as_tensor(times),
        torch.as_tensor(poses),
        torch.ones(len(moving), len(times), dtype=torch.bool),
        torch.as_tensor(sizes),
        torch.as_tensor(sizes[:, 2] / 2.0),
        "sandbox_tracks",
    )
    if with_depth:
        return AgentInput(statuses, cams, lidars), tracks, ego0, depths
    return AgentInput(statuses, cams, lidars), tracks, ego0


@dataclass
class FidelityResult:
    """Per trajectory × time × camera metrics, float64 ``[P, T, C]``."""

    names: list[str]
    times: list[float]
    cameras: tuple[str, ...]
    psnr: torch.Tensor
    ssim: torch.Tensor
    coverage: torch.Tensor
    depth_absrel: torch.Tensor
    meta: dict

    def table(self, times: Sequence[float] = (0.5, 1.0, 2.0, 4.0)) -> list[dict]:
        """Rows ``{trajectory, t, psnr, ssim, coverage, depth_absrel}`` averaged over cameras (nan-aware)."""
        rows = []
        for p, name in enumerate(self.names):
            for t in times:
                j = self.times.index(t)
                rows.append(
                    {
                        "trajectory": name,
                        "t": t,
                        "psnr": float(np.nanmean(self.psnr[p, j].numpy())),
                        "ssim": float(np.nanmean(self.ssim[p, j].numpy())),
                        "coverage": float(self.coverage[p, j].mean()),
                        "depth_absrel": float(np.nanmean(self.depth_absrel[p, j].numpy())),
                    }
                )
        return rows


def sandbox_fidelity(
    oracle: Any,
    t_now: float,
    perturbations: Sequence[str] = tuple(PERTURBATIONS),
    cameras: Sequence[str] = FOUR_CAMERAS,
    splat: int = 2,
    hole_fill: int = 1,
    voxel_size: float = 0.1,
    dynamic_mode: str = "privileged",
    num_poses: int = 8,
    depth: str = "lidar",
    mono: dict[str, Any] | None = None,
    exposure_spread: float = 0.0,
    exposure_match: bool = False,
    drop_lidar: bool = False,
) -> FidelityResult:
    """Render logged / perturbed futures from the agent input at ``t_now`` and compare with the oracle.

    Args:
        depth, mono: the ``depth`` knob and ``mono`` node (:func:`~inspatio_drive.render.mono_depth.depth_from_config`;
            ``oracle`` = the oracle's true depth of the history images).
        exposure_spread: per-camera exposures (:func:`camera_exposures`) of the history images *and* of the true
            views compared with (each camera keeps its own exposure); ``exposure_match`` matches them in the cloud.
        drop_lidar: remove the LiDAR sweeps from the agent input (a camera-only scene).
    """
    world = oracle.world
    exposure = camera_exposures(cameras, exposure_spread)
    agent_input, tracks, ego0, depths = sandbox_agent_input(
        oracle, t_now, cameras=cameras, with_depth=True, exposure=exposure
    )
    if drop_lidar:
        agent_input = AgentInput(agent_input.ego_statuses, agent_input.cameras,
                                 [Lidar(None) for _ in agent_input.lidars])
    pc = build_point_cloud(agent_input, voxel_size=voxel_size, tracks=tracks, exposure_match=exposure_match,
                           **depth_from_config(depth, mono, depths))
    future = np.stack([world.ego.at(t_now + 0.5 * k)["pose"] for k in range(1, num_poses + 1)])
    logged = absolute_to_relative_se2(ego0, future)
    trajs = np.stack([perturb(logged, *PERTURBATIONS[n]) for n in perturbations])
    rig = RenderCameras.from_rig(
        {n: (oracle.rig[n].K, oracle.rig[n].T_ego_cam) for n in cameras},
        (oracle.config.width, oracle.config.height),
    )
    rb = render_candidates(pc, trajs, rig, splat=splat, hole_fill=hole_fill, dynamic_mode=dynamic_mode)
    p_count, t_count, c_count = len(perturbations), num_poses, len(cameras)
    ref_rgb = torch.zeros(
        (p_count, t_count, c_count, rig.image_size[1], rig.image_size[0], 3), dtype=torch.uint8
    )
    ref_depth = torch.zeros(ref_rgb.shape[:-1], dtype=torch.float32)
    for p in range(p_count):
        poses_local = relative_to_absolute_se2(ego0, trajs[p])
        for t in range(t_count):
            views = oracle.render_many(list(cameras), poses_local[t], t_now + 0.5 * (t + 1), frame="local")
            for c, view in enumerate(views):
                name = cameras[c]
                rgb = view.rgb if name not in exposure else apply_exposure(view.rgb, *exposure[name])
                ref_rgb[p, t, c] = torch.as_tensor(rgb)
                ref_depth[p, t, c] = torch.as_tensor(view.depth)
    pred = rb.rgb.permute(0, 1, 2, 4, 5, 3)
    valid = rb.valid
    rel = ((rb.depth - ref_depth).abs() / ref_depth).where(valid & torch.isfinite(ref_depth), torch.nan)
    absrel = torch.nanmean(rel.reshape(*rel.shape[:3], -1).double(), dim=-1)
    return FidelityResult(
        list(perturbations),
        [0.5 * (t + 1) for t in range(t_count)],
        tuple(cameras),
        masked_psnr(pred, ref_rgb, valid),
        masked_ssim(pred, ref_rgb, valid),
        coverage(valid),
        absrel,
        {
            "points": len(pc),
            "splat": splat,
            "hole_fill": hole_fill,
            "voxel_size": voxel_size,
            "dynamic_mode": dynamic_mode,
            "depth": depth,
            "mono": dict(mono or {}),
            "exposure_spread": exposure_spread,
            "exposure_match": exposure_match,
            "t_now": t_now,
            "world": world.name,
            "scenario": world.scenario,
            "image_size": rig.image_size,
            "point_cloud": pc.meta,
        },
    )


def area_downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """uint8 ``[..., H, W, 3]`` → ``[..., H/f, W/f, 3]`` by averaging ``f × f`` blocks (a resampled camera image)."""
    *lead, h, w, c = images.shape
    if h % factor or w % factor:
        raise ValueError(f"image {w}x{h} is not divisible by the factor {factor}")
    x = images.double().reshape(*lead, h // factor, factor, w // factor, factor, c).mean((-4, -2))
    return (x + 0.5).floor().clamp(0, 255).to(torch.uint8)


def _oracle_depth_cloud(views: Sequence[Any], rig: RenderCameras) -> ColoredPoints:
    """Every finite-depth pixel of the oracle's current views unprojected into ego0 (true depth along the
    optical axis, pixel centres at integer coordinates as the oracle casts them)."""
    xyz, rgb = [], []
    for c, view in enumerate(views):
        h, w = view.depth.shape
        v, u = np.mgrid[0:h, 0:w].astype(np.float64)
        z = view.depth.astype(np.float64)
        ok = np.isfinite(z)
        rays = np.stack([u[ok], v[ok], np.ones(ok.sum())]) * z[ok]
        cam = np.linalg.inv(rig.intrinsics[c].numpy()) @ rays
        t = rig.T_ego_cam[c].numpy()
        xyz.append((t[:3, :3] @ cam + t[:3, 3:]).T)
        rgb.append(view.rgb[ok])
    pts = torch.as_tensor(np.concatenate(xyz), dtype=torch.float32)
    return ColoredPoints(pts, torch.as_tensor(np.concatenate(rgb)), torch.full((len(pts),), -1, dtype=torch.int64))


def intrinsics_rule_fidelity(
    source_oracle: Any,
    target_oracle: Any,
    t_now: float = 1.5,
    cameras: Sequence[str] = FOUR_CAMERAS,
    splat: int = 2,
    hole_fill: int = 1,
    voxel_size: float = 0.1,
    dynamic_mode: str = "privileged",
    num_poses: int = 8,
    cloud: str = "lidar",
) -> dict[str, dict[str, float]]:
    """Render PSNR at the target oracle's size when the source rig is an integer factor larger, per resize rule.

    Two oracles of one world: ``source_oracle`` at ``f ×`` the size of ``target_oracle``. The agent input
    (images, LiDAR, intrinsics) comes from the source oracle; the logged future is rendered at the target size
    with the rig resized by ``plain`` or ``pixel_centre`` and compared (masked PSNR over valid pixels, mean over
    cameras and times) with two references at the target size: ``native`` — the target oracle's own views (the
    sandbox's convention: every size rendered with plainly scaled intrinsics), and ``resampled`` — the source
    oracle's views averaged over ``f × f`` blocks (what a resized real camera image is).

    ``cloud="lidar"`` is the agent's pipeline (history LiDAR coloured by the history images; futures at
    0.5 … ``num_poses``·0.5 s). ``cloud="oracle_depth"`` isolates the intrinsics: every source pixel of the
    current frame unprojected with the oracle's true depth, views from the current pose on (0 … s), static.

    Returns:
        ``{rule: {"native": dB, "resampled": dB}}``.
    """
    if cloud not in ("lidar", "oracle_depth"):
        raise ValueError(f"cloud must be 'lidar' or 'oracle_depth', got {cloud!r}")
    world = source_oracle.world
    big = (source_oracle.config.width, source_oracle.config.height)
    target_size = (target_oracle.config.width, target_oracle.config.height)
    factor = big[0] // target_size[0]
    if big != (factor * target_size[0], factor * target_size[1]):
        raise ValueError(f"source size {big} must be an integer multiple of the target size {target_size}")
    rig = RenderCameras.from_rig(
        {n: (source_oracle.rig[n].K, source_oracle.rig[n].T_ego_cam) for n in cameras}, big
    )
    first = 1
    if cloud == "lidar":
        agent_input, tracks, ego0 = sandbox_agent_input(source_oracle, t_now, cameras=cameras)
        pc = build_point_cloud(agent_input, voxel_size=voxel_size, tracks=tracks)
    else:
        first, dynamic_mode = 0, "static"
        ego0 = world.ego.at(t_now)["pose"]
        pc = _oracle_depth_cloud(source_oracle.render_many(list(cameras), None, t_now), rig)
    keys = range(first, first + num_poses)
    future = np.stack([world.ego.at(t_now + 0.5 * k)["pose"] for k in keys])
    logged = absolute_to_relative_se2(ego0, future)
    poses_local = relative_to_absolute_se2(ego0, logged)
    refs: dict[str, list] = {"native": [], "resampled": []}
    for t, k in enumerate(keys):
        time = t_now + 0.5 * k
        small = target_oracle.render_many(list(cameras), poses_local[t], time, frame="local")
        refs["native"].append([torch.as_tensor(v.rgb) for v in small])
        views = source_oracle.render_many(list(cameras), poses_local[t], time, frame="local")
        refs["resampled"].append([area_downsample(torch.as_tensor(v.rgb), factor) for v in views])
    ref = {k: torch.stack([torch.stack(row) for row in v])[None] for k, v in refs.items()}  # [1, T, C, H, W, 3]
    out: dict[str, dict[str, float]] = {}
    for rule in ("plain", "pixel_centre"):
        rb = render_candidates(
            pc, logged[None], rig.with_resize_rule(rule), target_size, splat=splat, hole_fill=hole_fill,
            dynamic_mode=dynamic_mode, outputs=("rgb",),
        )  # fmt: skip
        pred = rb.rgb.permute(0, 1, 2, 4, 5, 3)
        out[rule] = {k: float(np.nanmean(masked_psnr(pred, r, rb.valid).numpy())) for k, r in ref.items()}
    return out
