"""Ray casting of a sandbox world with Embree (``embreex``): camera images, depth, instance ids, LiDAR.

Conventions: everything here is in the world's **local** frame (float32 precision near the origin).
Camera rays go through pixel centres at integer pixel coordinates (OpenCV: ``u`` right, ``v`` down,
``K⁻¹ [u, v, 1]``); their directions have unit z in the camera, so the hit distance *is* the depth
along the optical axis. Instance ids: −1 sky (no hit), 0 ground, ``k + 1`` for ``world.actors[k]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import embreex.mesh_construction as em_mesh
import embreex.rtcore_scene as em_scene
import numpy as np
from numpy.typing import NDArray

from inspatio_drive.sandbox import meshes as M
from inspatio_drive.sandbox.texture import GroundTexture, build_ground_texture
from inspatio_drive.sandbox.world import World

SUN = np.array([0.45, -0.35, 0.82]) / np.linalg.norm([0.45, -0.35, 0.82])
SKY_HORIZON = np.array([0.78, 0.85, 0.93], np.float32)
SKY_ZENITH = np.array([0.35, 0.55, 0.85], np.float32)
NO_HIT = 1e30


def _hash_noise(ix: NDArray, iy: NDArray, iz: NDArray) -> NDArray[np.float32]:
    """Deterministic value noise in [0, 1) from integer lattice coordinates."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (iz.astype(np.int64) * 83492791)
    return ((h & 0xFFFF) / 65536.0).astype(np.float32)


@dataclass
class SceneGeometry:
    """Triangles of the world at one time: ``triangles [F, 3, 3]``, ``material [F]``, ``color [F, 3]``,
    ``instance [F]`` and per-instance planar poses ``poses [N + 1, 3]`` (index 0 = ground)."""

    triangles: NDArray[np.float32]
    material: NDArray[np.int8]
    color: NDArray[np.float32]
    instance: NDArray[np.int32]
    poses: NDArray[np.float64]
    heights: NDArray[np.float64]


class Raycaster:
    """Builds the world's geometry at a time ``t`` and casts rays against it.

    Args:
        world: the sandbox world.
        texture_res: ground texture resolution (m / pixel).
        shadows: cast shadow rays towards the sun.
    """

    def __init__(self, world: World, texture_res: float = 0.1, shadows: bool = True):
        self.world = world
        self.shadows = shadows
        self.texture: GroundTexture = build_ground_texture(world.network, res=texture_res, seed=world.seed)
        self._meshes = [M.object_mesh(a.kind, a.size, a.color) for a in world.actors]
        minx, miny, maxx, maxy = world.network.bounds
        r = 600.0
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        q = np.array([[cx - r, cy - r, 0], [cx + r, cy - r, 0], [cx + r, cy + r, 0], [cx - r, cy + r, 0]], float)
        self._ground = M.Mesh(np.stack([q[[0, 1, 2]], q[[0, 2, 3]]]), np.full(2, M.MAT_GROUND, np.int8),
                              np.ones((2, 3), np.float32))
        static = [k for k, a in enumerate(world.actors) if a.is_static]
        self._static_ids = static
        self._dynamic_ids = [k for k, a in enumerate(world.actors) if not a.is_static]
        parts = [self._ground.triangles] + [M.transform(self._meshes[k], world.actors[k].track.poses[0]) for k in static]
        self._static_tris = np.concatenate(parts).astype(np.float32)
        self._static_mat = np.concatenate([self._ground.material] + [self._meshes[k].material for k in static])
        self._static_col = np.concatenate([self._ground.color] + [self._meshes[k].color for k in static])
        self._static_inst = np.concatenate([np.zeros(2, np.int32)] + [np.full(len(self._meshes[k].material), k + 1,
                                                                                np.int32) for k in static])
        self._cache: tuple[float, SceneGeometry, em_scene.EmbreeScene] | None = None

    def geometry(self, t: float) -> tuple[SceneGeometry, em_scene.EmbreeScene]:
        """Geometry and Embree scene at time ``t`` (cached for the last ``t``)."""
        if self._cache is not None and self._cache[0] == t:
            return self._cache[1], self._cache[2]
        poses, _ = self.world.actor_states(t)
        dyn = self._dynamic_ids
        tris = [self._static_tris] + [M.transform(self._meshes[k], poses[k]).astype(np.float32) for k in dyn]
        mat = [self._static_mat] + [self._meshes[k].material for k in dyn]
        col = [self._static_col] + [self._meshes[k].color for k in dyn]
        inst = [self._static_inst] + [np.full(len(self._meshes[k].material), k + 1, np.int32) for k in dyn]
        all_poses = np.concatenate([np.zeros((1, 3)), poses])
        heights = np.array([0.0] + [a.size[2] for a in self.world.actors])
        geo = SceneGeometry(np.concatenate(tris), np.concatenate(mat), np.concatenate(col), np.concatenate(inst),
                            all_poses, heights)
        scene = em_scene.EmbreeScene()
        em_mesh.TriangleMesh(scene, geo.triangles)
        self._cache = (t, geo, scene)
        return geo, scene

    def cast(self, origins: NDArray, directions: NDArray, t: float) -> dict[str, NDArray]:
        """Cast rays ``[R, 3]`` (local frame) at time ``t``.

        Returns:
            ``tfar [R]`` (ray parameter of the first hit, ``NO_HIT`` if none), ``prim [R]`` (triangle
            index or −1), ``normal [R, 3]`` (unit, facing the ray origin), ``geo`` (:class:`SceneGeometry`).
        """
        geo, scene = self.geometry(t)
        o = np.ascontiguousarray(origins, dtype=np.float32)
        d = np.ascontiguousarray(directions, dtype=np.float32)
        res = scene.run(o, d, output=1)
        prim = res["primID"].astype(np.int64)
        tfar = res["tfar"].astype(np.float64)
        hit = prim >= 0
        tfar[~hit] = NO_HIT
        n = res["Ng"].astype(np.float32)
        n /= np.sqrt(np.einsum("ij,ij->i", n, n))[:, None] + 1e-12
        flip = np.einsum("ij,ij->i", n, d) > 0
        n[flip] *= -1.0
        return {"tfar": tfar, "prim": prim, "normal": n, "geo": geo}

    def shade(self, origins: NDArray, directions: NDArray, t: float) -> dict[str, NDArray]:
        """Colour, hit distance and instance of rays ``[R, 3]``.

        Returns:
            ``rgb [R, 3]`` float32 in [0, 1], ``tfar [R]`` (``inf`` for sky), ``instance [R]`` int32,
            ``reflectivity [R]`` float32, ``cos [R]`` (|cos| of the incidence angle).
        """
        r = self.cast(origins, directions, t)
        geo: SceneGeometry = r["geo"]
        prim, tfar, n = r["prim"], r["tfar"], r["normal"]
        d = np.asarray(directions, dtype=np.float32)
        hit = prim >= 0
        rgb = np.empty((len(prim), 3), np.float32)
        # sky: vertical gradient
        miss = ~hit
        dm = d[miss]
        elev = np.clip(dm[:, 2] / np.sqrt(np.einsum("ij,ij->i", dm, dm)), 0.0, 1.0)[:, None] ** 0.6
        rgb[miss] = SKY_HORIZON * (1 - elev) + SKY_ZENITH * elev
        instance = np.full(len(prim), -1, np.int32)
        refl = np.zeros(len(prim), np.float32)
        cos = np.zeros(len(prim), np.float32)
        if hit.any():
            p_idx = prim[hit]
            dh = d[hit]
            pts = np.asarray(origins, np.float64)[hit] + dh * tfar[hit, None]
            mat = geo.material[p_idx]
            inst = geo.instance[p_idx]
            albedo = geo.color[p_idx].copy()
            pose = geo.poses[inst]
            c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
            dx, dy = pts[:, 0] - pose[:, 0], pts[:, 1] - pose[:, 1]
            lx, ly, lz = c * dx + s * dy, -s * dx + c * dy, pts[:, 2]
            g = mat == M.MAT_GROUND
            if g.any():
                albedo[g] = self.texture.sample(pts[g, 0], pts[g, 1])
            m = mat == M.MAT_PLAIN
            if m.any():
                albedo[m] *= (0.9 + 0.15 * _hash_noise(np.floor(lx[m] * 3), np.floor(ly[m] * 3),
                                                       np.floor(lz[m] * 3)))[:, None]
            m = mat == M.MAT_STRIPES
            if m.any():
                band = (np.floor((lx[m] + ly[m] + lz[m]) / 0.45).astype(np.int64) % 2) == 0
                albedo[m] = np.where(band[:, None], np.array([0.8, 0.1, 0.1], np.float32), albedo[m])
            m = mat == M.MAT_FACADE
            if m.any():
                u = np.where(np.abs(n[hit][m, 0] * c[m] + n[hit][m, 1] * s[m]) > 0.7, ly[m], lx[m])
                win = ((np.mod(u, 3.0) > 0.8) & (np.mod(u, 3.0) < 2.2) & (np.mod(lz[m], 3.2) > 1.0)
                       & (np.mod(lz[m], 3.2) < 2.5) & (lz[m] > 1.0) & (lz[m] < geo.heights[inst[m]] - 0.5))
                albedo[m] = np.where(win[:, None], np.array([0.16, 0.2, 0.27], np.float32), albedo[m])
            m = mat == M.MAT_CONE
            if m.any():
                rel = lz[m] / np.maximum(geo.heights[inst[m]], 1e-3)
                white = (rel > 0.4) & (rel < 0.62)
                albedo[m] = np.where(white[:, None], np.array([0.95, 0.95, 0.95], np.float32), albedo[m])
            m = mat == M.MAT_FOLIAGE
            if m.any():
                albedo[m] *= (0.7 + 0.6 * _hash_noise(np.floor(lx[m] * 4), np.floor(ly[m] * 4),
                                                      np.floor(lz[m] * 4)))[:, None]
            nh = n[hit]
            lambert = np.clip(nh @ SUN.astype(np.float32), 0.0, None)
            if self.shadows:
                lit = lambert > 0
                if lit.any():
                    so = pts[lit] + nh[lit] * 0.02
                    sd = np.broadcast_to(SUN, so.shape)
                    _, scene = self.geometry(t)
                    occ = scene.run(so.astype(np.float32), np.ascontiguousarray(sd, np.float32), query="OCCLUDED")
                    lam = lambert[lit]
                    lam[np.asarray(occ) >= 0] = 0.0
                    lambert[lit] = lam
            ambient = 0.42 + 0.12 * nh[:, 2]
            col = albedo * (ambient + 0.62 * lambert)[:, None].astype(np.float32)
            spec = (mat == M.MAT_GLASS)
            if spec.any():
                col[spec] += 0.12 * SKY_HORIZON
            dist = tfar[hit]
            fog = (1.0 - np.exp(-dist / 450.0))[:, None].astype(np.float32)
            rgb[hit] = col * (1 - fog) + SKY_HORIZON * fog
            instance[hit] = inst
            refl[hit] = M.REFLECTIVITY[mat]
            if g.any():
                lum = albedo[g].mean(axis=1)
                r_ground = refl[hit]
                r_ground[g] = 0.05 + 0.8 * lum
                refl[hit] = r_ground
            cos[hit] = np.abs(np.einsum("ij,ij->i", nh, dh)) / np.sqrt(np.einsum("ij,ij->i", dh, dh))
        tfar = np.where(hit, tfar, np.inf)
        return {"rgb": np.clip(rgb, 0.0, 1.0), "tfar": tfar, "instance": instance, "reflectivity": refl, "cos": cos}
