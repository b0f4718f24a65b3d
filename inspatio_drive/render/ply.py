"""Coloured point clouds as binary PLY files (``x, y, z`` float32, ``red, green, blue`` uint8), the format the
seed's InSpatio-World pipeline writes one of per video frame; read back by any PLY viewer (MeshLab, Open3D)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from plyfile import PlyData, PlyElement


def write_ply(path: str | Path, xyz: torch.Tensor | np.ndarray, rgb: torch.Tensor | np.ndarray) -> Path:
    """Write ``xyz`` ``[N, 3]`` (metres) and ``rgb`` ``[N, 3]`` uint8 as a binary little-endian PLY."""
    xyz = np.asarray(torch.as_tensor(xyz).cpu(), dtype=np.float32).reshape(-1, 3)
    rgb = np.asarray(torch.as_tensor(rgb).cpu(), dtype=np.uint8).reshape(-1, 3)
    if len(xyz) != len(rgb):
        raise ValueError(f"write_ply: {len(xyz)} points but {len(rgb)} colours")
    vertex = np.empty(len(xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"),
                                        ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for j, key in enumerate("xyz"):
        vertex[key] = xyz[:, j]
    for j, key in enumerate(("red", "green", "blue")):
        vertex[key] = rgb[:, j]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(xyz [N, 3] float32, rgb [N, 3] uint8)`` of a PLY written by :func:`write_ply`."""
    v = PlyData.read(str(path))["vertex"]
    xyz = np.stack([v["x"], v["y"], v["z"]], -1).astype(np.float32)
    rgb = np.stack([v["red"], v["green"], v["blue"]], -1).astype(np.uint8)
    return xyz, rgb
