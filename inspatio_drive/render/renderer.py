"""Render every candidate trajectory's future camera views from one coloured point cloud.

``render_candidates(points, trajectories [K, T, 3], cameras, image_size)`` → :class:`RenderBatch`
with ``K × T × C`` views. Views are z-buffered in chunks (``max_point_views`` bounds memory); the
code is device-agnostic: pass ``device="cuda"`` for the GPU path.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from numpy.typing import ArrayLike

from inspatio_drive.geometry.camera_poses import ego0_to_camera
from inspatio_drive.geometry.se3 import as_float64
from inspatio_drive.render.alloc import empty_cpu
from inspatio_drive.render.dynamic import DYNAMIC_MODES, move_points, object_motion, object_poses
from inspatio_drive.render.splat import EMPTY_KEY, fill_holes, unpack_keys, zbuffer_world
from inspatio_drive.render.splat_numba import HAVE_NUMBA, chunk_layout, render_views_into, zbuffer_world_numba
from inspatio_drive.render.types import ColoredPoints, RenderBatch, RenderCameras

OUTPUTS = ("rgb", "depth", "index")
BACKENDS = ("auto", "torch", "numba")


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` → ``numba`` for CPU tensors when numba imports, else ``torch``; checks the choice."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "numba" if HAVE_NUMBA and device.type == "cpu" else "torch"
    if backend == "numba":
        if not HAVE_NUMBA:
            raise RuntimeError("backend='numba' needs the `numba` package (pip install numba)")
        if device.type != "cpu":
            raise ValueError(f"backend='numba' renders on the CPU only, got device {device}")
    return backend


def render_views(
    xyz: torch.Tensor,
    T_cam_world: torch.Tensor,
    intrinsics: torch.Tensor,
    image_size: tuple[int, int],
    splat: int = 1,
    hole_fill: int = 0,
    near: float = 0.1,
    far: float = 200.0,
    max_point_views: int = 8_000_000,
    cull: bool = True,
    cull_group: int = 4,
    backend: str = "auto",
) -> torch.Tensor:
    """Z-buffer keys of ``V`` views of one point set.

    Args:
        xyz: float32 ``[N, 3]`` points in the world frame of ``T_cam_world``.
        T_cam_world: ``[V, 4, 4]`` world-to-camera (OpenCV) transforms.
        intrinsics: ``[V, 3, 3]`` in pixels of ``image_size`` (``(W, H)``).
        cull_group: views culled together (sorted by optical-axis azimuth); smaller = tighter culling.
        backend: ``auto`` (numba on CPU when installed, else torch) | ``torch`` | ``numba`` (CPU, compiled,
            the same keys bit for bit; ``max_point_views`` / ``cull`` / ``cull_group`` do not apply).

    Returns:
        int64 ``[V, H, W]`` packed keys (see :func:`inspatio_drive.render.splat.unpack_keys`).
    """
    v, n = T_cam_world.shape[0], xyz.shape[0]
    w, h = image_size
    if n == 0:
        return torch.full((v, h, w), EMPTY_KEY, dtype=torch.int64, device=xyz.device)
    if resolve_backend(backend, xyz.device) == "numba":
        keys = zbuffer_world_numba(xyz, T_cam_world, intrinsics, image_size, splat, near, far)
        return fill_holes(keys, hole_fill) if hole_fill else keys
    chunk = max(1, min(cull_group if cull else v, max_point_views // max(n, 1)))
    if chunk >= v:
        keys = zbuffer_world(xyz, T_cam_world, intrinsics, image_size, splat, near, far, cull)
        return fill_holes(keys, hole_fill) if hole_fill else keys
    # views sorted by the azimuth of their optical axis, culled in small groups: tight cones
    axis = T_cam_world[:, 2, :3]  # camera +z in the world
    order = torch.argsort(torch.atan2(axis[:, 1], axis[:, 0]))
    out = torch.empty((v, h, w), dtype=torch.int64, device=xyz.device)
    for s in range(0, v, chunk):
        idx = order[s : s + chunk]
        keys = zbuffer_world(xyz, T_cam_world[idx], intrinsics[idx], image_size, splat, near, far, cull)
        out[idx] = fill_holes(keys, hole_fill) if hole_fill else keys
    return out


def render_candidates(
    points: ColoredPoints,
    trajectories: ArrayLike | torch.Tensor,
    cameras: RenderCameras,
    image_size: tuple[int, int] | None = None,
    *,
    times: Sequence[float] | torch.Tensor | None = None,
    splat: int = 1,
    hole_fill: int = 0,
    near: float = 0.1,
    far: float = 200.0,
    dynamic_mode: str = "static",
    forecasts: torch.Tensor | None = None,
    outputs: Sequence[str] = OUTPUTS,
    device: torch.device | str | None = None,
    max_point_views: int = 8_000_000,
    cull: bool = True,
    cull_group: int = 4,
    backend: str = "auto",
    camera_w2c: torch.Tensor | None = None,
) -> RenderBatch:
    """Render ``K × T × C`` future views of a coloured point cloud along candidate trajectories.

    Args:
        points: coloured points in ego0 (e.g. from :func:`build_point_cloud`).
        trajectories: ``[K, T, 3]`` (x, y, heading) in the current rear-axle frame (``[T, 3]`` = one candidate).
        cameras: the rig; its intrinsics are rescaled to ``image_size`` (default: the rig's own size).
        times: ``[T]`` seconds from now of the poses (default 0.5, 1.0, … NAVSIM's 2 Hz), used to move
            dynamic objects.
        splat: splat side in pixels; ``hole_fill``: iterations of nearest-neighbour hole filling.
        near, far: depth range rendered (metres).
        dynamic_mode: ``static`` | ``privileged`` | ``constant_velocity`` | ``forecast`` (see
            :mod:`inspatio_drive.render.dynamic`); ``forecasts`` ``[M, T, 3]`` for ``forecast``.
        outputs: which of ``rgb``, ``depth``, ``index`` to materialise (``valid`` always is).
        device: where to render (``"cuda"`` for the GPU path); default the points' device.
        max_point_views: bound on points × views per z-buffer chunk (memory).
        cull: conservative frustum culling (same result, faster) of groups of ``cull_group`` views of one
            camera at one time, sorted by viewing direction.
        backend: ``auto`` (numba on CPU when installed, else torch) | ``torch`` | ``numba`` — the same
            output bit for bit; numba renders each time step's ``K × C`` views in one compiled parallel
            loop straight into the outputs.
        camera_w2c: ``[K, T, C, 4, 4]`` ego0 → camera poses that replace the ones the trajectories give (a camera
            path off the ego's, e.g. an InSpatio trajectory file: :mod:`inspatio_drive.geometry.camera_path`);
            the trajectories then only set K and T.

    Returns:
        :class:`RenderBatch` on ``device``.
    """
    if dynamic_mode not in DYNAMIC_MODES:
        raise ValueError(f"dynamic_mode must be one of {DYNAMIC_MODES}, got {dynamic_mode!r}")
    unknown = set(outputs) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
    start = time.perf_counter()
    device = torch.device(device) if device is not None else points.xyz.device
    traj = as_float64(trajectories)
    if traj.ndim == 2:
        traj = traj[None]
    if traj.ndim != 3 or traj.shape[-1] != 3:
        raise ValueError(f"trajectories must be [K, T, 3] (x, y, heading), got {tuple(traj.shape)}")
    k_count, t_count = traj.shape[:2]
    t_sec = (
        as_float64(times) if times is not None else 0.5 * torch.arange(1, t_count + 1, dtype=torch.float64)
    )
    if t_sec.shape != (t_count,):
        raise ValueError(f"times must be [{t_count}], got {tuple(t_sec.shape)}")
    cams = cameras if image_size is None else cameras.resized(image_size)
    w, h = cams.image_size
    c_count = len(cams.names)

    w2c = ego0_to_camera(traj, cams.T_ego_cam)  # [K, T, C, 4, 4] float64
    if camera_w2c is not None:
        if tuple(camera_w2c.shape) != tuple(w2c.shape):
            raise ValueError(f"camera_w2c must be {tuple(w2c.shape)} [K, T, C, 4, 4], got {tuple(camera_w2c.shape)}")
        w2c = as_float64(camera_w2c)
    xyz = points.xyz.to(device=device, dtype=torch.float32)
    instance = points.instance.to(device)
    motion = None
    if dynamic_mode != "static" and points.tracks is not None and bool((instance >= 0).any()):
        fut = object_poses(points.tracks, t_sec, dynamic_mode, forecasts)
        motion = object_motion(points.tracks, fut).to(device)  # [M, T, 4, 4]
    intr = cams.intrinsics.to(device=device, dtype=torch.float32)
    w2c_dev = w2c.to(device)
    shape = (k_count, t_count, c_count, h, w)

    def empty(size: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        return (
            empty_cpu(size, dtype) if device.type == "cpu" else torch.empty(size, dtype=dtype, device=device)
        )

    valid = empty(shape, torch.bool)
    depth = empty(shape, torch.float32) if "depth" in outputs else None
    index = empty(shape, torch.int32) if "index" in outputs else None
    rgb = empty((*shape, 3), torch.uint8) if "rgb" in outputs else None
    colours = torch.cat([points.rgb.to(device), torch.zeros(1, 3, dtype=torch.uint8, device=device)])
    use_numba = resolve_backend(backend, device) == "numba"
    # moving points only change the chunks' boxes: one spatial layout serves every time step
    layout = chunk_layout(xyz.detach().numpy()) if use_numba and hole_fill == 0 else None
    for t in range(t_count):
        pts = xyz if motion is None else move_points(xyz, instance, motion[:, t])
        if use_numba and hole_fill == 0 and len(pts) > 0:
            render_views_into(
                pts,
                w2c_dev[:, t],
                intr,
                (w, h),
                splat,
                near,
                far,
                colours,
                t,
                valid,
                depth,
                index,
                rgb,
                layout,
            )
            continue
        for c in range(
            c_count
        ):  # one group = the K candidates' views of one camera at one time: tight culling
            keys = render_views(
                pts,
                w2c_dev[:, t, c],
                intr[c].expand(k_count, 3, 3),
                (w, h),
                splat,
                hole_fill,
                near,
                far,
                max_point_views,
                cull,
                cull_group,
                "numba" if use_numba else "torch",
            )
            d, i, v = unpack_keys(keys)
            valid[:, t, c] = v
            if depth is not None:
                depth[:, t, c] = d
            if index is not None:
                index[:, t, c] = i
            if rgb is not None:
                rgb[:, t, c] = colours[i.long()]  # index −1 → the black last row
    exposure = points.meta.get("exposure")
    if rgb is not None and exposure:
        _camera_exposure(rgb, valid, cams.names, exposure)
    meta = {
        "splat": splat,
        "hole_fill": hole_fill,
        "near": near,
        "far": far,
        "num_points": len(points),
        "times": t_sec.tolist(),
        "image_size": (w, h),
        "seconds": time.perf_counter() - start,
        "backend": "numba" if use_numba else "torch",
        "tracks_source": points.tracks.source if points.tracks is not None else None,
    }
    return RenderBatch(
        rgb=rgb.permute(0, 1, 2, 5, 3, 4) if rgb is not None else None,
        depth=depth,
        valid=valid,
        point_index=index,
        T_cam_ego0=w2c.to(device),
        intrinsics=cams.intrinsics.to(device),
        camera_names=cams.names,
        dynamic_mode=dynamic_mode,
        meta=meta,
    )


def _camera_exposure(rgb: torch.Tensor, valid: torch.Tensor, names: Sequence[str], exposure: dict) -> None:
    """In place: map the cloud's reference exposure back to each rendered camera's own (the inverse of the
    ``gain · raw + offset`` fitted per camera by :func:`~inspatio_drive.render.point_cloud.fit_exposure`).

    Args:
        rgb: ``[K, T, C, H, W, 3]`` uint8; valid ``[K, T, C, H, W]``; names: the ``C`` camera names.
    """
    for c, name in enumerate(names):
        if name not in exposure:
            continue
        gain, offset = (torch.as_tensor(v, dtype=torch.float32, device=rgb.device) for v in exposure[name])
        view = rgb[:, :, c].float()
        mapped = ((view - offset) / gain.clamp(min=1e-3)).round().clamp(0, 255).to(torch.uint8)
        rgb[:, :, c] = torch.where(valid[:, :, c, ..., None], mapped, rgb[:, :, c])
