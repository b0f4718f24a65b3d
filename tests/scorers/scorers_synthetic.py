"""A tiny exact ray caster for tests: a textured box room seen by OpenCV pinhole cameras.

Room (ego-0 frame, metres): floor z = 0, ceiling z = 6, walls x = -15 / 30, y = ±12. Surfaces carry a
3D checker mosaic of random colours (cells of 0.6 m), so views have corners ORB can match.
"""

from __future__ import annotations

import numpy as np

ROOM_LO = np.array([-15.0, -12.0, 0.0])
ROOM_HI = np.array([30.0, 12.0, 6.0])
_PALETTE = np.random.default_rng(1234).uniform(0.05, 0.95, size=(4096, 3))

# camera → ego of a forward-looking camera 1.5 m above the ground, 1.5 m ahead of the rear axle
R_EGO_CAM_FRONT = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def front_camera(height: float = 1.5, forward: float = 1.5, yaw: float = 0.0) -> np.ndarray:
    """``[4, 4]`` camera → ego transform of a camera looking along ego heading ``yaw`` (rad)."""
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3] = rz @ R_EGO_CAM_FRONT
    T[:3, 3] = [forward, 0.0, height]
    return T


def intrinsics(h: int, w: int, f: float) -> np.ndarray:
    return np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])


def se2_matrix(x: float, y: float, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:2, 3] = [x, y]
    return T


def render(cam_to_world: np.ndarray, K: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``rgb [3, H, W]`` float in [0, 1] and z-depth ``[H, W]`` (m) from inside the room."""
    v, u = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # z component = 1
    rays = rays_cam @ cam_to_world[:3, :3].T
    o = cam_to_world[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = (ROOM_HI - o) / rays
        t_lo = (ROOM_LO - o) / rays
    t_exit = np.where(rays > 0, t_hi, np.where(rays < 0, t_lo, np.inf)).min(-1)
    p = o + t_exit[..., None] * rays
    cell = np.floor((p + 100.0 + 1e-6) / 0.6).astype(np.int64)
    idx = (cell[..., 0] * 73856093 ^ cell[..., 1] * 19349663 ^ cell[..., 2] * 83492791) % 4096
    rgb = _PALETTE[idx]
    return np.moveaxis(rgb, -1, 0), t_exit  # depth = t because rays_cam z = 1


def render_along(poses: np.ndarray, T_ego_cam: np.ndarray, K: np.ndarray, h: int, w: int):
    """Frames along ``poses [T, 3]`` for cameras ``T_ego_cam [C, 4, 4]`` → rgb ``[T, C, 3, H, W]``, depth ``[T, C, H, W]``."""
    rgbs, depths = [], []
    for x, y, yaw in poses:
        r_t, d_t = [], []
        for Tc in T_ego_cam:
            rgb, depth = render(se2_matrix(x, y, yaw) @ Tc, K, h, w)
            r_t.append(rgb)
            d_t.append(depth)
        rgbs.append(r_t)
        depths.append(d_t)
    return np.asarray(rgbs), np.asarray(depths)


def fc_dataset_arrays(m: int = 60, k: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic FC dataset arrays (schema of ``scorers.dataset``) with a learnable feature → label link.

    The true collision / off-road events depend on ``min_clearance_m`` and ``observed_near_path``; the base
    planner score sees them only through noise, so FC has something to add.
    """
    rng = np.random.default_rng(seed)
    clearance = rng.uniform(-1.0, 6.0, size=(m, k))
    observed = rng.uniform(0.0, 1.0, size=(m, k))
    noise = rng.normal(size=(m, k, 2))
    nc = (clearance + 0.3 * noise[..., 0] > 0.5).astype(np.float64)
    dac = (observed + 0.1 * noise[..., 1] > 0.25).astype(np.float64)
    ep = rng.uniform(0.5, 1.0, size=(m, k))
    ttc = nc.copy()
    comfort = np.ones((m, k))
    ddc = np.ones((m, k))
    score = nc * dac * (5 * ttc + 5 * ep + 2 * comfort) / 12
    # the planner sees progress exactly but safety only through a noisy channel
    base = np.log(ep) + np.log(np.clip(nc * dac + rng.normal(0, 0.6, size=(m, k)), 0.05, 1.5))
    features = np.stack([clearance, observed, rng.normal(size=(m, k))], axis=-1).astype(np.float32)
    split = np.array(["train"] * (m // 2) + ["val"] * (m // 4) + ["test"] * (m - m // 2 - m // 4))
    return {
        "features": features,
        "feature_names": np.array(["min_clearance_m", "observed_near_path", "view_overlap"]),
        "split": split,
        "no_at_fault_collisions": nc,
        "drivable_area_compliance": dac,
        "ego_progress": ep,
        "time_to_collision_within_bound": ttc,
        "comfort": comfort,
        "driving_direction_compliance": ddc,
        "score": score,
        "base_log_score": base,
        "privileged": np.asarray(False),
    }
