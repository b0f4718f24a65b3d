"""Dynamic objects: points inside tracked boxes move with their box.

Modes (recorded in every :class:`RenderBatch` as ``dynamic_mode``):

* ``static``: objects stay where they are now (honest; what a pure geometric warp shows).
* ``privileged``: the logged future boxes of the scene (ground truth; never leaderboard-comparable).
* ``constant_velocity``: honest extrapolation from the last two history boxes of each track
  (velocity in ego0 constant, heading constant).
* ``forecast``: per-track future poses supplied by the planner / a predictor.

An object's rigid motion from now to time t is ``M(t) = SE2(pose(t)) · SE2(pose(0))⁻¹`` in ego0.
"""

from __future__ import annotations

import numpy as np
import torch

from inspatio_drive.geometry.se2 import absolute_to_relative_se2, relative_to_absolute_se2
from inspatio_drive.geometry.se3 import as_float64, invert_se3, se2_to_se3
from inspatio_drive.render.types import STATIC, ObjectTracks

DYNAMIC_MODES = ("static", "privileged", "constant_velocity", "forecast")
HONEST_MODES = ("static", "constant_velocity", "forecast")


def tracks_from_scene(scene, source: str = "annotations") -> ObjectTracks:
    """Logged boxes of every frame of a ``Scene`` as tracks in the current ego frame (privileged data).

    Box centres in each frame's ego frame are taken to global with that frame's ego pose, then to ego0.
    """
    frames = scene.frames
    cur = scene.current_index
    origin = np.asarray(frames[cur].ego_status.ego_pose, dtype=np.float64)
    times = (np.arange(len(frames)) - cur) * 0.5
    index: dict[str, int] = {}
    for f in frames:
        if f.annotations is None:  # logs without ground truth (private test split)
            continue
        for tok in f.annotations.track_tokens:
            index.setdefault(tok, len(index))
    tokens = list(index)
    m, s = len(tokens), len(frames)
    poses = np.zeros((m, s, 3))
    valid = np.zeros((m, s), dtype=bool)
    sizes = np.zeros((m, 3))
    zc = np.zeros(m)
    seen_now = np.zeros(m, dtype=bool)
    for j, f in enumerate(frames):
        if f.annotations is None:
            continue
        boxes = np.asarray(f.annotations.boxes, dtype=np.float64).reshape(-1, 7)
        if len(boxes) == 0:
            continue
        ego = np.asarray(f.ego_status.ego_pose, dtype=np.float64)
        glob = relative_to_absolute_se2(ego, boxes[:, [0, 1, 6]])
        rel = absolute_to_relative_se2(origin, glob)
        for b, tok in enumerate(f.annotations.track_tokens):
            i = index[tok]
            poses[i, j], valid[i, j] = rel[b], True
            if not seen_now[i]:
                sizes[i], zc[i] = boxes[b, 3:6], boxes[b, 2]
            if j == cur:
                sizes[i], zc[i], seen_now[i] = boxes[b, 3:6], boxes[b, 2], True
    return ObjectTracks(
        tokens,
        torch.as_tensor(times),
        torch.as_tensor(poses),
        torch.as_tensor(valid),
        torch.as_tensor(sizes),
        torch.as_tensor(zc),
        source,
    )


def _sample(tracks: ObjectTracks, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses ``[M, 3]`` at time ``t`` by linear interpolation between valid samples (heading unwrapped);
    held at the nearest valid sample outside the observed span. Returns ``(poses, observed [M])``."""
    times = tracks.times.numpy()
    out = np.zeros((len(tracks), 3))
    ok = np.zeros(len(tracks), dtype=bool)
    for i in range(len(tracks)):
        v = tracks.valid[i].numpy()
        if not v.any():
            continue
        tt, pp = times[v], tracks.poses[i].numpy()[v]
        head = np.unwrap(pp[:, 2])
        out[i, 0] = np.interp(t, tt, pp[:, 0])
        out[i, 1] = np.interp(t, tt, pp[:, 1])
        out[i, 2] = np.interp(t, tt, head)
        ok[i] = tt[0] - 1e-6 <= t <= tt[-1] + 1e-6
    return torch.as_tensor(out), torch.as_tensor(ok)


def object_poses(
    tracks: ObjectTracks,
    times: torch.Tensor | np.ndarray | list[float],
    mode: str,
    forecasts: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Box poses ``[M, T, 3]`` (ego0) at future ``times`` (s) under ``mode`` (see module docstring).

    Args:
        forecasts: ``[M, T, 3]`` poses at ``times`` for ``mode="forecast"``.
    """
    if mode not in DYNAMIC_MODES:
        raise ValueError(f"dynamic mode must be one of {DYNAMIC_MODES}, got {mode!r}")
    t = as_float64(times).reshape(-1)
    now, _ = _sample(tracks, 0.0)
    if mode == "static":
        return now[:, None].expand(len(tracks), len(t), 3).clone()
    if mode == "privileged":
        return torch.stack([_sample(tracks, float(ti))[0] for ti in t], dim=1)
    if mode == "forecast":
        if forecasts is None:
            raise ValueError("dynamic mode 'forecast' needs forecasts [M, T, 3]")
        f = as_float64(forecasts)
        if f.shape != (len(tracks), len(t), 3):
            raise ValueError(f"forecasts must be [{len(tracks)}, {len(t)}, 3], got {tuple(f.shape)}")
        return f
    # constant velocity from the last two observed samples at t <= 0
    out = now[:, None].repeat(1, len(t), 1)
    hist = tracks.times <= 1e-6
    for i in range(len(tracks)):
        v = tracks.valid[i] & hist
        idx = torch.nonzero(v).flatten()
        if len(idx) < 2:
            continue
        a, b = idx[-2], idx[-1]
        dt = float(tracks.times[b] - tracks.times[a])
        vel = (tracks.poses[i, b, :2] - tracks.poses[i, a, :2]) / dt
        out[i, :, :2] = tracks.poses[i, b, :2] + vel * (t[:, None] - tracks.times[b])
        out[i, :, 2] = tracks.poses[i, b, 2]
    return out


def object_motion(tracks: ObjectTracks, future_poses: torch.Tensor) -> torch.Tensor:
    """Rigid motions ``[M, T, 4, 4]`` taking each object's points from now to ``future_poses [M, T, 3]``."""
    now = se2_to_se3(_sample(tracks, 0.0)[0]).to(future_poses.device)
    return se2_to_se3(future_poses) @ invert_se3(now)[:, None]


def points_in_boxes(
    xyz: torch.Tensor, poses: torch.Tensor, sizes: torch.Tensor, z: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Which box contains each point.

    Args:
        xyz: ``[N, 3]`` points (ego0).
        poses: ``[M, 3]`` box (x, y, heading); sizes ``[M, 3]`` (l, w, h); z ``[M]`` centre height.
        margin: metres added to every half-extent.

    Returns:
        int64 ``[N]``: box index, or −1 (``STATIC``) outside every box (first box wins on overlap).
    """
    n = xyz.shape[0]
    out = torch.full((n,), STATIC, dtype=torch.int64, device=xyz.device)
    if len(poses) == 0 or n == 0:
        return out
    p = xyz.to(torch.float64)
    poses, sizes, z = (as_float64(a, xyz.device) for a in (poses, sizes, z))
    d = p[None, :, :2] - poses[:, None, :2]  # [M, N, 2]
    c, s = torch.cos(poses[:, 2])[:, None], torch.sin(poses[:, 2])[:, None]
    lx, ly = c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]
    dz = p[None, :, 2] - z[:, None]
    inside = (
        (lx.abs() <= sizes[:, 0:1] / 2 + margin)
        & (ly.abs() <= sizes[:, 1:2] / 2 + margin)
        & (dz.abs() <= sizes[:, 2:3] / 2 + margin)
    )
    hit = inside.any(0)
    out[hit] = inside.to(torch.int8).argmax(0)[hit]
    return out


def move_points(xyz: torch.Tensor, instance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Apply per-instance motions ``[M, 4, 4]`` to the points of each instance; static points unchanged.

    ``xyz`` ``[N, 3]``; returns ``[N, 3]`` in the dtype of ``xyz``.
    """
    dyn = instance >= 0
    if not bool(dyn.any()):
        return xyz
    out = xyz.clone()
    m = motion.to(xyz.dtype)[instance[dyn]]  # [D, 4, 4]
    out[dyn] = (m[:, :3, :3] @ xyz[dyn, :, None])[..., 0] + m[:, :3, 3]
    return out
