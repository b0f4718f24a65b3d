"""Coloured point cloud of the scene around the ego car, from what a NAVSIM agent sees.

Recipe (``build_point_cloud``):

1. the last ``sweeps`` history LiDAR sweeps, each taken from its own rear-axle frame to the current
   one (ego0) with the history ego poses (planar SE(2), as NAVSIM); points on the ego car removed;
2. with object tracks, points inside a tracked box at the sweep's time are moved with the box to its
   current pose (motion compensation of moving objects) and labelled with the track;
3. colour: each point is projected into the history camera images, newest frame first; it takes the
   colour of the first image where it is *visible* — its depth is within a tolerance of a reduced-resolution
   z-buffer of the whole cloud in that camera (no colour bleeds onto hidden points);
4. optional monocular depth (:mod:`inspatio_drive.render.depth_backend`): every camera's depth map of the
   last ``depth_frames`` frames, in metres (LiDAR scale when the frame has a sweep, else the ground plane),
   unprojected and carried to ego0 like a sweep; added to the LiDAR points (``depth="lidar+mono"``) or
   replacing them (``depth="mono"``, camera-only). They are coloured by step 3 with the LiDAR points (same
   visibility rules); optionally each camera's exposure is matched to the first's (:func:`fit_exposure`);
5. voxel downsampling: points (per instance) in the same voxel are averaged (position and colour).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspatio_drive.geometry.se3 import as_float64, se2_to_se3
from inspatio_drive.render.depth_backend import DepthBackend, depth_to_points, metric_depth, predict_view
from inspatio_drive.render.dynamic import _sample, points_in_boxes, tracks_from_scene
from inspatio_drive.render.ply import write_ply
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
    exposure_groups: Sequence[str] | None = None,
    exposure_samples: int = 20000,
    exposure_out: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Colour points from images with a visibility check.

    Args:
        xyz: float32 ``[N, 3]`` points (ego0).
        views: ``(image [H, W, 3] uint8, K [3, 3] for that image, T_ego0_cam [4, 4])`` in priority order.
        visibility_width: width (pixels) of the visibility z-buffer (images are reduced to it, never enlarged):
            coarse enough that LiDAR points cover it densely, fine enough for grazing surfaces.
        visibility_splat: splat size (pixels) in that z-buffer (closes gaps between LiDAR points).
        abs_tolerance, rel_tolerance: a point is visible if ``z <= z_buffer + abs + rel · z``.
        exposure_groups: one camera name per view: with it, each camera's colours are matched to the first
            view's camera by :func:`fit_exposure` (views of one camera share its exposure), fitted on up to
            ``exposure_samples`` points seen by several cameras; ``exposure_out`` (a dict) receives the fit,
            ``{camera: (gain [3], offset [3])}`` (reference colour = gain · raw + offset).

    Returns:
        ``(rgb [N, 3] uint8, coloured [N] bool, view_id [N] int64 (−1 if none))``.
    """
    n = len(xyz)
    raw = torch.zeros(n, 3, dtype=torch.uint8)
    view_id = torch.full((n,), -1, dtype=torch.int64)
    match = exposure_groups is not None and len(set(exposure_groups)) > 1
    if match:
        gen = torch.Generator().manual_seed(0)
        sample = torch.randperm(n, generator=gen)[:exposure_samples]
        seen = torch.full((len(views), len(sample), 3), float("nan"), dtype=torch.float64)
    for i, (image, k, t_ego_cam) in enumerate(views):
        todo = view_id < 0
        if not match and not bool(todo.any()):
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
        raw[sel] = _sample_image(img, u[sel], v[sel])
        view_id[sel] = i
        if match:
            vis = visible[sample]
            seen[i, vis] = _sample_image(img, u[sample][vis], v[sample][vis]).double()
    if not match:
        return raw, view_id >= 0, view_id
    assert exposure_groups is not None
    names = list(dict.fromkeys(exposure_groups))
    group = torch.tensor([names.index(g) for g in exposure_groups], dtype=torch.int64)
    gain, offset = fit_exposure(seen, group, len(names))
    vg = group[view_id.clamp(min=0)]
    rgb = (gain[vg] * raw.double() + offset[vg]).round().clamp(0, 255).to(torch.uint8)
    rgb[view_id < 0] = 0
    if exposure_out is not None:
        exposure_out.update({name: (gain[j].tolist(), offset[j].tolist()) for j, name in enumerate(names)})
    return rgb, view_id >= 0, view_id


def fit_exposure(
    seen: torch.Tensor, group: torch.Tensor, num_groups: int, ridge: float = 1e-3, robust: float = 12.0,
    iterations: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-camera affine exposure (gain, offset per channel) that makes the colours of the same points agree.

    Every point seen by views of two cameras ``a ≠ b`` gives ``g_a · c_a + o_a = g_b · c_b + o_b`` (each view
    paired with the point's first view); group 0 (the first view's camera) is the reference (``g = 1, o = 0``).
    Solved per channel by iteratively re-weighted least squares with Cauchy weights (scale ``robust`` colour
    levels; mis-registered or occluded pairs are outliers) and a ``ridge`` pull towards identity for cameras without overlaps.

    Args:
        seen: ``[V, M, 3]`` float colours (0–255) of ``M`` points in ``V`` views, nan where not visible.
        group: ``[V]`` camera index of each view (``0 … num_groups − 1``).

    Returns:
        ``(gain [G, 3], offset [G, 3])`` float64: reference colour = ``gain · raw + offset``.
    """
    v_count = seen.shape[0]
    vis = torch.isfinite(seen[..., 0])  # [V, M]
    first = torch.where(vis.any(0), vis.float().argmax(0), -1)  # first view of each point
    rows_a, rows_b, pts = [], [], []
    for b in range(v_count):
        sel = vis[b] & (first >= 0) & (group[first.clamp(min=0)] != group[b])
        idx = torch.nonzero(sel).reshape(-1)
        rows_a.append(first[idx])
        rows_b.append(torch.full_like(idx, b))
        pts.append(idx)
    a, b, p = torch.cat(rows_a), torch.cat(rows_b), torch.cat(pts)
    g = num_groups
    gain = torch.ones(g, 3, dtype=torch.float64)
    offset = torch.zeros(g, 3, dtype=torch.float64)
    if len(p) == 0 or g < 2:
        return gain, offset
    ga, gb = group[a], group[b]
    for ch in range(3):
        ca, cb = seen[a, p, ch], seen[b, p, ch]
        design = torch.zeros(len(p), 2 * g, dtype=torch.float64)
        r = torch.arange(len(p))
        design[r, ga] += ca
        design[r, g + ga] += 1.0
        design[r, gb] -= cb
        design[r, g + gb] -= 1.0
        # reference and ridge rows: g_0 = 1, o_0 = 0 (hard); g = 1, o = 0 (soft, scaled to the data)
        target = torch.cat([torch.ones(g), torch.zeros(g)]).double()
        soft = torch.full((2 * g,), ridge * len(p) ** 0.5, dtype=torch.float64)
        soft[g:] *= 1.0 / 128.0  # offsets are in colour levels: a weaker pull
        soft[[0, g]] = 1e4 * len(p) ** 0.5
        w = torch.ones(len(p), dtype=torch.float64)
        x = target.clone()
        for _ in range(iterations):
            lhs = design.T @ (w[:, None] * design) + torch.diag(soft**2)
            rhs = torch.diag(soft**2) @ target
            x = torch.linalg.solve(lhs, rhs)
            res = (design @ x).abs()
            w = 1.0 / (1.0 + (res / robust) ** 2)
        gain[:, ch], offset[:, ch] = x[:g], x[g:]
    return gain, offset

DEPTH_SOURCES = ("lidar", "mono", "lidar+mono")


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
    depth: str | None = None,
    depth_frames: int = 1,
    camera_height: float | None = None,
    max_depth: float = 80.0,
    mono_scale: str = "auto",
    exposure_match: bool = False,
    ply_dir: str | Path | None = None,
    device: torch.device | str | None = None,
) -> ColoredPoints:
    """Coloured point cloud in the current ego frame (see the module docstring for the recipe).

    Args:
        source: an ``AgentInput`` (honest: LiDAR, images, ego poses) or a ``Scene`` (its agent input;
            with ``use_annotations`` its logged boxes become the object tracks — privileged data).
        sweeps: number of most recent history sweeps merged.
        voxel_size: voxel edge (m); 0 disables downsampling.
        cameras: camera names used for colouring and monocular depth (default: every loaded camera).
        tracks: object tracks (ego0) for motion compensation and dynamic rendering; overrides the scene's.
        keep_uncolored: keep points no image sees (grey) instead of dropping them.
        dense_depth: monocular depth backend (:class:`~inspatio_drive.render.depth_backend.DepthBackend`).
        dense_stride: its depth maps are unprojected every ``dense_stride`` pixels (u and v).
        depth: where the geometry comes from: ``lidar`` (the sweeps), ``mono`` (camera-only: every camera's
            depth from ``dense_depth``, scaled by LiDAR when the frame has a sweep, else by the ground plane —
            :func:`~inspatio_drive.render.depth_backend.metric_depth`) or ``lidar+mono`` (both); default
            ``lidar+mono`` with a ``dense_depth``, else ``lidar``.
        depth_frames: how many of the most recent history frames' images are unprojected (1 = the current one).
        camera_height: metres over the road for the ground-plane scale (default: each camera's extrinsics).
        max_depth: monocular depths beyond this (m) are dropped.
        mono_scale: scale of relative monocular depth: ``auto`` (LiDAR of the frame when loaded, else the ground
            plane) or ``ground_plane`` (never LiDAR: what a camera-only scene gets).
        exposure_match: match every camera's colours to the first one's (:func:`fit_exposure`); the fit is in
            ``meta["exposure"]`` and the renderer maps each rendered camera back to its own exposure.
        ply_dir: write one PLY per history frame of monocular points (``frame_<i>.ply``, ego0, own pixel colours)
            and ``fused.ply`` (the returned cloud) there.

    Returns:
        :class:`ColoredPoints` (CPU unless ``device``), ``meta`` with counts and provenance.
    """
    depth = depth or ("lidar+mono" if dense_depth is not None else "lidar")
    if depth not in DEPTH_SOURCES:
        raise ValueError(f"depth must be one of {DEPTH_SOURCES}, got {depth!r}")
    if mono_scale not in ("auto", "ground_plane"):
        raise ValueError(f"mono_scale must be auto or ground_plane, got {mono_scale!r}")
    if depth != "lidar" and dense_depth is None:
        raise ValueError(f"depth={depth} needs a monocular depth backend (dense_depth)")
    agent_input, scene_tracks = _agent_input_and_tracks(source, use_annotations)
    tracks = tracks if tracks is not None else scene_tracks
    n_hist = len(agent_input.lidars)
    if n_hist == 0:
        raise ValueError("agent input has no history frames")
    first = max(0, n_hist - sweeps)
    xyz_all, inst_all = [], []
    used = 0
    sweeps_local: dict[int, torch.Tensor] = {}  # frame → LiDAR points [M, 3] of its ego frame (for mono scale)
    for i in range(first if depth != "mono" else 0, n_hist):
        pts = agent_input.lidars[i].points
        if pts is None:
            continue
        pts = np.asarray(pts)
        if pts.ndim != 2 or pts.shape[0] < 3:
            raise ValueError(
                f"history sweep {i}: LiDAR points must be [>=3, N] (x, y, z, ...), got {pts.shape}"
            )
        local = torch.as_tensor(pts[:3].T, dtype=torch.float64)
        if len(local):  # an empty sweep still counts as loaded (an empty cloud), but gives no scale
            sweeps_local[i] = local
        if depth == "mono" or i < first:
            continue
        p0, inst = _to_ego0(local, i, agent_input, tracks, remove_ego, max_range)
        xyz_all.append(p0)
        inst_all.append(inst)
        used += 1
    if depth != "mono" and not xyz_all:
        raise ValueError("no LiDAR sweep loaded in the agent input (load the 'lidar_pc' sensor)")
    n_lidar = sum(len(x) for x in xyz_all)

    n_dense = 0
    mono_info: dict[str, Any] = {}
    if dense_depth is not None:
        for i in range(max(0, n_hist - depth_frames), n_hist):
            frame_xyz, frame_rgb = [], []
            for name, cam in agent_input.cameras[i].items():
                if (cameras is not None and name not in cameras) or cam.image is None:
                    continue
                scale_lidar = sweeps_local.get(i) if mono_scale == "auto" else None
                got = _mono_points(dense_depth, cam, i, scale_lidar, dense_stride, camera_height, max_depth)
                if isinstance(got, str):
                    mono_info[f"{i}/{name}"] = {"skipped": got}
                    continue
                local, colours, info = got
                mono_info[f"{i}/{name}"] = info
                p0, inst = _to_ego0(local.to(torch.float64), i, agent_input, tracks, remove_ego, max_range,
                                    keep=frame_rgb, colours=colours)
                frame_xyz.append(p0)
                xyz_all.append(p0)
                inst_all.append(inst)
                n_dense += len(p0)
            if ply_dir is not None and frame_xyz:
                write_ply(Path(ply_dir) / f"frame_{i}.ply", torch.cat(frame_xyz), torch.cat(frame_rgb))
        if depth == "mono" and n_dense == 0:
            raise ValueError(
                "depth=mono: no monocular points (no camera image loaded, or no camera could be scaled: "
                f"{ {k: v.get('skipped') for k, v in mono_info.items()} })"
            )
    xyz = torch.cat(xyz_all)
    instance = torch.cat(inst_all)

    # colouring views, newest frame first
    views, groups = [], []
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
            groups.append(name)
    exposure: dict = {}
    rgb, coloured, _ = colorize(xyz, views, visibility_width, visibility_splat,
                                exposure_groups=groups if exposure_match else None, exposure_out=exposure)
    n_points = len(xyz)
    if not keep_uncolored:
        xyz, rgb, instance = xyz[coloured], rgb[coloured], instance[coloured]
    else:
        rgb[~coloured] = 128
    xyz, rgb, instance = voxel_downsample(xyz, rgb, instance, voxel_size)
    meta = {
        "depth": depth,
        "sweeps_used": used,
        "lidar_points": n_lidar,
        "colored_fraction": float(coloured.float().mean()) if n_points else 0.0,
        "dense_points": n_dense,
        "mono": mono_info,
        "voxel_size": voxel_size,
        "tracks_source": tracks.source if tracks is not None else None,
    }
    if exposure:
        meta["exposure"] = exposure
    out = ColoredPoints(xyz, rgb, instance, tracks, meta)
    if ply_dir is not None:
        write_ply(Path(ply_dir) / "fused.ply", out.xyz, out.rgb)
    return out.to(device) if device is not None else out


def _to_ego0(
    local: torch.Tensor,
    i: int,
    agent_input: Any,
    tracks: ObjectTracks | None,
    remove_ego: bool,
    max_range: float,
    keep: list | None = None,
    colours: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``[M, 3]`` (float64) of history frame ``i``'s ego frame → ego0 ``(xyz float32, instance int64)``:
    range and ego-box filtered, moving objects carried to their current pose with ``tracks``. With ``keep``
    (a list), the kept ``colours`` rows are appended to it."""
    n_hist = len(agent_input.ego_statuses)
    rng = local.norm(dim=-1)
    ok = (rng <= max_range) & torch.isfinite(rng)
    if remove_ego:
        x0, x1, hw, zt = EGO_BOX
        on_ego = (local[:, 0] >= x0) & (local[:, 0] <= x1) & (local[:, 1].abs() <= hw) & (local[:, 2] <= zt)
        ok &= ~on_ego
    local = local[ok]
    if keep is not None and colours is not None:
        keep.append(colours[ok])
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
    return p0.to(torch.float32), inst


def _mono_points(
    backend: DepthBackend,
    cam: Any,
    frame: int,
    lidar_local: torch.Tensor | None,
    stride: int,
    camera_height: float | None,
    max_depth: float,
) -> tuple[torch.Tensor, torch.Tensor, dict] | str:
    """One camera's monocular points ``[M, 3]`` in its frame's ego frame, their pixel colours ``[M, 3]`` and
    the scale info; or why the camera was skipped (no road plane found without LiDAR)."""
    image = np.asarray(cam.image)
    pred = predict_view(backend, image, cam.name, frame)
    t_ego_cam = as_float64(cam.T_ego_cam)
    lidar_cam = None
    if lidar_local is not None:
        t_cam_ego = torch.linalg.inv(t_ego_cam)
        lidar_cam = (lidar_local @ t_cam_ego[:3, :3].T + t_cam_ego[:3, 3]).numpy()
    invariance = getattr(backend, "invariance", "scale")
    try:
        metric, info = metric_depth(pred, invariance, np.asarray(cam.intrinsics), t_ego_cam.numpy(), lidar_cam,
                                    camera_height)
    except ValueError as exc:
        if "ground-plane" in str(exc):
            return str(exc)
        raise
    pts, pix = depth_to_points(torch.as_tensor(np.nan_to_num(metric, nan=0.0)), as_float64(cam.intrinsics),
                               t_ego_cam, stride, max_depth)
    colours = torch.as_tensor(image)[pix[:, 1], pix[:, 0]]
    return pts, colours, info
