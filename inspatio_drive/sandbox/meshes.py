"""Triangle meshes of sandbox objects (trimesh primitives) with per-triangle material and colour.

A mesh is in the object's local frame: x forward, y left, z up, origin at the centre of the bounding
box's bottom face; it fits inside the actor's box ``size = (length, width, height)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from numpy.typing import NDArray

# materials (what the shader does with a hit)
MAT_PLAIN, MAT_GROUND, MAT_STRIPES, MAT_FACADE, MAT_CONE, MAT_GLASS, MAT_RUBBER, MAT_FOLIAGE, MAT_SKIN = range(9)
#: LiDAR reflectivity per material, in [0, 1]
REFLECTIVITY = np.array([0.35, 0.25, 0.8, 0.3, 0.9, 0.1, 0.05, 0.2, 0.3], dtype=np.float32)


@dataclass
class Mesh:
    """``triangles [F, 3, 3]`` float64, ``material [F]`` int8, ``color [F, 3]`` float32 in [0, 1]."""

    triangles: NDArray[np.float64]
    material: NDArray[np.int8]
    color: NDArray[np.float32]

    @staticmethod
    def concat(parts: list[Mesh]) -> Mesh:
        if not parts:
            return Mesh(np.zeros((0, 3, 3)), np.zeros(0, np.int8), np.zeros((0, 3), np.float32))
        return Mesh(np.concatenate([p.triangles for p in parts]), np.concatenate([p.material for p in parts]),
                    np.concatenate([p.color for p in parts]))


def _part(mesh: trimesh.Trimesh, material: int, color: tuple[float, float, float]) -> Mesh:
    tris = np.asarray(mesh.triangles, dtype=np.float64)
    f = len(tris)
    return Mesh(tris, np.full(f, material, np.int8), np.tile(np.asarray(color, np.float32), (f, 1)))


def _box(extents: tuple[float, float, float], center: tuple[float, float, float], material: int,
         color: tuple[float, float, float]) -> Mesh:
    return _part(trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(center)),
                 material, color)


def _cylinder(radius: float, height: float, center: tuple[float, float, float], material: int,
              color: tuple[float, float, float], axis_y: bool = False, sections: int = 10) -> Mesh:
    t = trimesh.transformations.translation_matrix(center)
    if axis_y:
        t = t @ trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
    return _part(trimesh.creation.cylinder(radius=radius, height=height, sections=sections, transform=t),
                 material, color)


def object_mesh(kind: str, size: tuple[float, float, float], color: tuple[float, float, float]) -> Mesh:
    """Mesh of one actor kind (see :data:`inspatio_drive.sandbox.actors.ANNOTATION_NAME`)."""
    length, width, height = size
    if kind == "car":
        body_h = 0.45 * height
        wheel_r = 0.33
        parts = [
            _box((length, width, body_h), (0.0, 0.0, 0.25 + body_h / 2), MAT_PLAIN, color),
            _box((0.55 * length, 0.92 * width, height - 0.25 - body_h),
                 (-0.08 * length, 0.0, (0.25 + body_h + height) / 2), MAT_GLASS, (0.12, 0.14, 0.18)),
        ]
        for x in (length / 2 - 0.85, -length / 2 + 0.85):
            for y in (width / 2 - 0.18, -width / 2 + 0.18):
                parts.append(_cylinder(wheel_r, 0.3, (x, y, wheel_r), MAT_RUBBER, (0.05, 0.05, 0.05), axis_y=True))
        return Mesh.concat(parts)
    if kind == "pedestrian":
        return Mesh.concat([
            _box((0.25, 0.36, 0.47 * height), (0.0, 0.0, 0.235 * height), MAT_PLAIN, (0.15, 0.15, 0.25)),
            _box((0.3, 0.46, 0.33 * height), (0.0, 0.0, 0.635 * height), MAT_PLAIN, color),
            _part(trimesh.creation.icosphere(subdivisions=1, radius=0.1 * height).apply_translation(
                (0.0, 0.0, 0.9 * height)), MAT_SKIN, (0.8, 0.62, 0.5)),
        ])
    if kind == "cyclist":
        return Mesh.concat([
            _cylinder(0.34, 0.06, (0.55, 0.0, 0.34), MAT_RUBBER, (0.05, 0.05, 0.05), axis_y=True),
            _cylinder(0.34, 0.06, (-0.55, 0.0, 0.34), MAT_RUBBER, (0.05, 0.05, 0.05), axis_y=True),
            _box((1.1, 0.06, 0.08), (0.0, 0.0, 0.6), MAT_PLAIN, (0.7, 0.7, 0.75)),
            _box((0.35, 0.4, 0.6), (-0.1, 0.0, height - 0.55), MAT_PLAIN, color),
            _part(trimesh.creation.icosphere(subdivisions=1, radius=0.12).apply_translation((0.0, 0.0, height - 0.12)),
                  MAT_SKIN, (0.8, 0.62, 0.5)),
        ])
    if kind == "cone":
        cone = trimesh.creation.cone(radius=min(length, width) / 2, height=height, sections=12)
        return _part(cone, MAT_CONE, color)
    if kind == "barrier":
        return Mesh.concat([
            _box((length, width, 0.35 * height), (0.0, 0.0, 0.175 * height), MAT_PLAIN, color),
            _box((length, 0.6 * width, 0.65 * height), (0.0, 0.0, 0.675 * height), MAT_STRIPES, color),
        ])
    if kind == "building":
        return _box((length, width, height), (0.0, 0.0, height / 2), MAT_FACADE, color)
    if kind == "wall":
        return _box((length, width, height), (0.0, 0.0, height / 2), MAT_PLAIN, (0.6, 0.58, 0.55))
    if kind == "pole":
        return Mesh.concat([
            _cylinder(min(length, width) / 3, height - 0.25, (0.0, 0.0, (height - 0.25) / 2), MAT_PLAIN, color,
                      sections=8),
            _box((length, width, 0.25), (0.0, 0.0, height - 0.125), MAT_PLAIN, (0.85, 0.85, 0.7)),
        ])
    if kind == "tree":
        r = min(length, width) / 2
        crown = trimesh.creation.icosphere(subdivisions=1, radius=r).apply_translation((0.0, 0.0, height - r))
        return Mesh.concat([
            _cylinder(0.15, height - r, (0.0, 0.0, (height - r) / 2), MAT_PLAIN, color, sections=8),
            _part(crown, MAT_FOLIAGE, (0.2, 0.42, 0.16)),
        ])
    if kind == "sign":
        return Mesh.concat([
            _cylinder(0.04, height, (0.0, 0.0, height / 2), MAT_PLAIN, (0.6, 0.6, 0.6), sections=6),
            _box((0.05, 0.7, 0.7), (0.0, 0.0, height - 0.35), MAT_CONE, color),
        ])
    raise KeyError(f"no mesh for actor kind {kind!r}")


def transform(mesh: Mesh, pose: NDArray[np.float64]) -> NDArray[np.float64]:
    """Triangles ``[F, 3, 3]`` of ``mesh`` placed at planar ``pose`` (x, y, heading)."""
    c, s = np.cos(pose[2]), np.sin(pose[2])
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return mesh.triangles @ rot.T + np.array([pose[0], pose[1], 0.0])
