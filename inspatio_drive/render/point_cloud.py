"""Coloured point cloud of the scene around the ego car, from what a NAVSIM agent sees.

Recipe (``build_point_cloud``):

1. the last ``sweeps`` history LiDAR sweeps, each taken from its own rear-axle frame to the current
   one (ego0) with the history ego poses (planar SE(2), as NAVSIM); points on the ego car removed;
2. with object tracks, points inside a tracked box at the sweep's time are moved with the box to its
   current pose (motion compensation of moving objects) and labelled with the track;
3. colour: each point is projected into the history camera images, newest frame first; it takes the
   colour of the first image where it is *visible* — its depth is within a tolerance of a reduced-resolution
   z-buffer of the whole cloud in that camera (no colour bleeds onto hidden points);
4. optional dense depth (:mod:`inspatio_drive.render.depth_backend`) adds image points, scale-aligned to LiDAR;
5. voxel downsampling: points (per instance) in the same voxel are averaged (position and colour).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from inspatio_drive.geometry.se3 import as_float64, se2_to_se3
from inspatio_drive.render.depth_backend import DepthBackend, align_depth, depth_to_points
from inspatio_drive.render.dynamic import _sample, points_in_boxes, tracks_from_scene
from inspatio_drive.render.splat import project, unpack_keys, zbuffer_keys
from inspatio_drive.render.types import STATIC, ColoredPoints, ObjectTracks

# nominal ego-car footprint around the rear axle (x from, x to, half width, z up to), metres
EGO_BOX = (-1.3, 4.2, 1.2, 2.5)


def _agent_input_and_tracks(source: Any, use_annotations: bool) -> tuple[Any, ObjectTracks | None]:
    if hasattr(source, "frames") and hasattr(source, "get_agent_input"):  # a Scene

        tracks = tracks_from_scene(source) if use_annotations else None
        return source.get_agent_input(), tracks
    if hasattr(source, "lidars") and hasattr(source, "ego_statuses"):
        return source, None
    raise TypeError(f"build_point_cloud expects an AgentInput or a Scene, got {type(source).__name__}")


def voxel_downsample(
    xyz: torch.Tensor, rgb: torch.Tensor, instance: torch.Tensor, voxel_size: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Average points (``[N, 3]``), colours (``[N, 3]``) per ``voxel_size`` cube and instance."""
    if voxel_size <= 0 or len(xyz) == 0:
        return xyz, rgb, instance
    cell = torch.floor(xyz.to(torch.float64) / voxel_size).to(torch.int64)
    cell = cell - cell.min(0).values
    dims = cell.max(0).values + 1
    key = ((instance + 1) * dims[0] + cell[:, 0]) * dims[1] + cell[:, 1]
    key = key * dims[2] + cell[:, 2]
    uniq, inv = torch.unique(key, return_inverse=True)
    m = len(uniq)
    count = torch.zeros(m, dtype=torch.float64).index_add_(0, inv, torch.ones(len(xyz), dtype=torch.float64))
    mean_xyz = (
        torch.zeros(m, 3, dtype=torch.float64).index_add_(0, inv, xyz.to(torch.float64)) / count[:, None]
    )
    mean_rgb = (
        torch.zeros(m, 3, dtype=torch.float64).index_add_(0, inv, rgb.to(torch.float64)) / count[:, None]
    )
    inst = torch.full((m,), STATIC, dtype=torch.int64).scatter_(0, inv, instance)
    return mean_xyz.to(torch.float32), mean_rgb.round().clamp(0, 255).to(torch.uint8), inst


def _sample_image(image: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Nearest-pixel colours ``[M, 3]`` uint8 of ``image`` ``[H, W, 3]`` at float pixel coordinates."""
    h, w = image.shape[:2]
    ui = torch.round(u).long().clamp(0, w - 1)
    vi = torch.round(v).long().clamp(0, h - 1)
    return image[vi, ui]


def colorize(
    xyz: torch.Tensor,
    views: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    visibility_width: int = 480,
    visibility_splat: int = 2,
    abs_tolerance: float = 0.5,
    rel_tolerance: float = 0.05,
    near: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Colour points from images with a visibility check.

    Args:
        xyz: float32 ``[N, 3]`` points (ego0).
        views: ``(image [H, W, 3] uint8, K [3, 3] for that image, T_ego0_cam [4, 4])`` in priority order.
        visibility_width: width (pixels) of the visibility z-buffer (images are reduced to it, never enlarged):
            coarse enough that LiDAR points cover it densely, fine enough for grazing surfaces.
        visibility_splat: splat size (pixels) in that z-buffer (closes gaps between LiDAR points).
        abs_tolerance, rel_tolerance: a point is visible if ``z <= z_buffer + abs + rel · z``.

    Returns:
        ``(rgb [N, 3] uint8, coloured [N] bool, view_id [N] int64 (−1 if none))``.
    """
    n = len(xyz)
    rgb = torch.zeros(n, 3, dtype=torch.uint8)
    view_id = torch.full((n,), -1, dtype=torch.int64)
    for i, (image, k, t_ego_cam) in enumerate(views):
        todo = view_id < 0
        if not bool(todo.any()):
            break
        h, w = image.shape[:2]
        t_cam_ego = torch.linalg.inv(as_float64(t_ego_cam))
        cam = (xyz.to(torch.float64) @ t_cam_ego[:3, :3].T + t_cam_ego[:3, 3]).to(torch.float32)
        kk = as_float64(k)
        u, v, z = project(cam, kk.to(torch.float32), near=near)
        in_img = torch.isfinite(z) & (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
        # visibility z-buffer at low resolution (pixel-centre aligned scaling)
        scale = min(1.0, visibility_width / w)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        ks = kk.clone()
        ks[0] *= sw / w
        ks[1] *= sh / h
        ks[0, 2] += 0.5 * sw / w - 0.5
        ks[1, 2] += 0.5 * sh / h - 0.5
        keys = zbuffer_keys(cam[None], ks[None].to(torch.float32), (sw, sh), visibility_splat, near=near)[0]
        zbuf, _, _ = unpack_keys(keys)
        us, vs, _ = project(cam, ks.to(torch.float32), near=near)
        ui = torch.round(us).long().clamp(0, sw - 1)
        vi = torch.round(vs).long().clamp(0, sh - 1)
        visible = in_img & (z <= zbuf[vi, ui] + abs_tolerance + rel_tolerance * z)
        sel = todo & visible
        img = torch.as_tensor(image)
        rgb[sel] = _sample_image(img, u[sel], v[sel])
        view_id[sel] = i
    return rgb, view_id >= 0, view_id


def build_point_cloud(
    source: Any,
    *,
    sweeps: int = 4,
    voxel_size: float = 0.1,
    cameras: Sequence[str] | None = None,
    tracks: ObjectTracks | None = None,
    use_annotations: bool = True,
    remove_ego: bool = True,
    keep_uncolored: bool = False,
    max_range: float = 100.0,
    visibility_width: int = 480,
    visibility_splat: int = 2,
    dense_depth: DepthBackend | None = None,
    dense_stride: int = 4,
    device: torch.device | str | None = None,
) -> ColoredPoints:
    """Coloured point cloud in the current ego frame (see the module docstring for the recipe).

    Args:
        source: an ``AgentInput`` (honest: LiDAR, images, ego poses) or a ``Scene`` (its agent input;
            with ``use_annotations`` its logged boxes become the object tracks — privileged data).
        sweeps: number of most recent history sweeps merged.
        voxel_size: voxel edge (m); 0 disables downsampling.
        cameras: camera names used for colouring (default: every loaded camera).
        tracks: object tracks (ego0) for motion compensation and dynamic rendering; overrides the scene's.
        keep_uncolored: keep points no image sees (grey) instead of dropping them.
        dense_depth: optional monocular depth backend; its depth of the current images is scale-aligned
            to LiDAR and unprojected every ``dense_stride`` pixels.

    Returns:
        :class:`ColoredPoints` (CPU unless ``device``), ``meta`` with counts and provenance.
    """
    agent_input, scene_tracks = _agent_input_and_tracks(source, use_annotations)
    tracks = tracks if tracks is not None else scene_tracks
    n_hist = len(agent_input.lidars)
    if n_hist == 0:
        raise ValueError("agent input has no history frames")
    first = max(0, n_hist - sweeps)
    xyz_all, inst_all = [], []
    used = 0
    for i in range(first, n_hist):
        pts = agent_input.lidars[i].points
        if pts is None:
            continue
        pts = np.asarray(pts)
        if pts.ndim != 2 or pts.shape[0] < 3:
            raise ValueError(
                f"history sweep {i}: LiDAR points must be [>=3, N] (x, y, z, ...), got {pts.shape}"
            )
        local = torch.as_tensor(pts[:3].T, dtype=torch.float64)
        rng = local.norm(dim=-1)
        keep = (rng <= max_range) & torch.isfinite(rng)
        if remove_ego:
            x0, x1, hw, zt = EGO_BOX
            on_ego = (
                (local[:, 0] >= x0) & (local[:, 0] <= x1) & (local[:, 1].abs() <= hw) & (local[:, 2] <= zt)
            )
            keep &= ~on_ego
        local = local[keep]
        pose = se2_to_se3(as_float64(agent_input.ego_statuses[i].ego_pose))
        p0 = local @ pose[:3, :3].T + pose[:3, 3]
        inst = torch.full((len(p0),), STATIC, dtype=torch.int64)
        if tracks is not None and len(tracks):
            t_i = (i - (n_hist - 1)) * 0.5
            box_then, seen = _sample(tracks, t_i)
            inst = points_in_boxes(p0, box_then, tracks.sizes, tracks.z)
            inst[(inst >= 0) & ~seen[inst.clamp(min=0)]] = STATIC
            dyn = inst >= 0
            if bool(dyn.any()):
                box_now, _ = _sample(tracks, 0.0)
                motion = se2_to_se3(box_now) @ torch.linalg.inv(se2_to_se3(box_then))  # [M, 4, 4]
                m = motion[inst[dyn]]
                p0[dyn] = (m[:, :3, :3] @ p0[dyn, :, None])[..., 0] + m[:, :3, 3]
        xyz_all.append(p0.to(torch.float32))
        inst_all.append(inst)
        used += 1
    if not xyz_all:
        raise ValueError("no LiDAR sweep loaded in the agent input (load the 'lidar_pc' sensor)")
    xyz = torch.cat(xyz_all)
    instance = torch.cat(inst_all)

    # colouring views, newest frame first
    views = []
    for i in range(n_hist - 1, -1, -1):
        pose = se2_to_se3(as_float64(agent_input.ego_statuses[i].ego_pose))
        for name, cam in agent_input.cameras[i].items():
            if (cameras is not None and name not in cameras) or cam.image is None:
                continue
            views.append(
                (
                    torch.as_tensor(np.asarray(cam.image)),
                    as_float64(cam.intrinsics),
                    pose @ as_float64(cam.T_ego_cam),
                )
            )
    rgb, coloured, _ = colorize(xyz, views, visibility_width, visibility_splat)
    n_lidar = len(xyz)
    if not keep_uncolored:
        xyz, rgb, instance = xyz[coloured], rgb[coloured], instance[coloured]
    else:
        rgb[~coloured] = 128

    n_dense = 0
    if dense_depth is not None:
        extra = _dense_points(dense_depth, agent_input, torch.cat(xyz_all), cameras, dense_stride)
        if extra is not None:
            xyz = torch.cat([xyz, extra[0]])
            rgb = torch.cat([rgb, extra[1]])
            instance = torch.cat([instance, torch.full((len(extra[0]),), STATIC, dtype=torch.int64)])
            n_dense = len(extra[0])
    xyz, rgb, instance = voxel_downsample(xyz, rgb, instance, voxel_size)
    meta = {
        "sweeps_used": used,
        "lidar_points": n_lidar,
        "colored_fraction": float(coloured.float().mean()) if n_lidar else 0.0,
        "dense_points": n_dense,
        "voxel_size": voxel_size,
        "tracks_source": tracks.source if tracks is not None else None,
    }
    out = ColoredPoints(xyz, rgb, instance, tracks, meta)
    return out.to(device) if device is not None else out


def _dense_points(
    backend: DepthBackend,
    agent_input: Any,
    lidar_xyz: torch.Tensor,
    cameras: Sequence[str] | None,
    stride: int,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Scale-aligned dense points from the current frame's images (``None`` if no image is loaded)."""
    affine = getattr(backend, "invariance", "scale") == "affine"
    xyz_out, rgb_out = [], []
    for name, cam in agent_input.cameras[-1].items():
        if (cameras is not None and name not in cameras) or cam.image is None:
            continue
        image = np.asarray(cam.image)
        pred = torch.as_tensor(np.asarray(backend.predict(image), dtype=np.float32))
        if pred.shape != image.shape[:2]:
            raise ValueError(
                f"depth backend returned {tuple(pred.shape)} for a {image.shape[:2]} image ({name})"
            )
        t_ego_cam = as_float64(cam.T_ego_cam)
        t_cam_ego = torch.linalg.inv(t_ego_cam)
        cam_pts = (lidar_xyz.to(torch.float64) @ t_cam_ego[:3, :3].T + t_cam_ego[:3, 3]).to(torch.float32)
        k = as_float64(cam.intrinsics)
        u, v, z = project(cam_pts, k.to(torch.float32), near=1.0)
        h, w = pred.shape
        ok = torch.isfinite(z) & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
        if int(ok.sum()) < 2:
            continue
        samples = pred[torch.round(v[ok]).long(), torch.round(u[ok]).long()]
        scale, shift = align_depth(samples.numpy(), z[ok].numpy(), affine=affine)
        metric = scale * pred + shift
        pts, pix = depth_to_points(metric, k, t_ego_cam, stride)
        xyz_out.append(pts)
        rgb_out.append(torch.as_tensor(image)[pix[:, 1], pix[:, 0]])
    if not xyz_out:
        return None
    return torch.cat(xyz_out), torch.cat(rgb_out)
