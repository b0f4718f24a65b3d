"""Ground texture of a road network: a top-down RGB raster in local coordinates (grass, sidewalks,
curbs, asphalt, lane markings, stop lines, zebra crossings, parking stalls), drawn with Pillow.

Raster convention: pixel ``(row, col)`` covers local ``x = x0 + (col + 0.5) · res``,
``y = y1 − (row + 0.5) · res`` (north up); ``sample`` interpolates bilinearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from inspatio_drive.sandbox.roads import CURB_WIDTH, RoadNetwork

GRASS = (78, 104, 58)
SIDEWALK = (158, 156, 150)
CURB = (190, 188, 182)
ASPHALT = (58, 58, 60)
WHITE = (228, 228, 222)
YELLOW = (222, 184, 40)


@dataclass
class GroundTexture:
    """``image [H, W, 3]`` uint8 covering local ``[x0, x0 + W·res] × [y1 − H·res, y1]``."""

    image: NDArray[np.uint8]
    x0: float
    y1: float
    res: float

    def sample(self, x: NDArray, y: NDArray) -> NDArray[np.float32]:
        """Bilinear RGB in [0, 1], ``[..., 3]``, at local points; outside the raster: grass."""
        h, w = self.image.shape[:2]
        u = (np.asarray(x) - self.x0) / self.res - 0.5
        v = (self.y1 - np.asarray(y)) / self.res - 0.5
        inside = (u >= 0) & (u < w - 1) & (v >= 0) & (v < h - 1)
        u = np.clip(u, 0, w - 1.001)
        v = np.clip(v, 0, h - 1.001)
        u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
        fu, fv = (u - u0)[..., None], (v - v0)[..., None]
        img = self.image
        out = ((img[v0, u0] * (1 - fu) + img[v0, u0 + 1] * fu) * (1 - fv)
               + (img[v0 + 1, u0] * (1 - fu) + img[v0 + 1, u0 + 1] * fu) * fv) / 255.0
        out[~inside] = np.asarray(GRASS, np.float32) / 255.0
        return out.astype(np.float32)


def _dashes(line: shapely.LineString, dash: float, gap: float) -> list[shapely.LineString]:
    out, s = [], 0.0
    while s < line.length:
        out.append(shapely.ops.substring(line, s, min(s + dash, line.length)))
        s += dash + gap
    return out


def build_ground_texture(network: RoadNetwork, res: float = 0.1, margin: float = 25.0, seed: int = 0) -> GroundTexture:
    """Draw the ground raster of ``network`` at ``res`` metres per pixel."""
    minx, miny, maxx, maxy = network.bounds
    x0, y0, x1, y1 = minx - margin, miny - margin, maxx + margin, maxy + margin
    w, h = int(np.ceil((x1 - x0) / res)), int(np.ceil((y1 - y0) / res))
    img = Image.new("RGB", (w, h), GRASS)
    draw = ImageDraw.Draw(img)

    def px(coords: NDArray) -> list[tuple[float, float]]:
        c = np.asarray(coords)
        return [(float(a), float(b)) for a, b in zip((c[:, 0] - x0) / res, (y1 - c[:, 1]) / res)]

    def fill(geom: shapely.Geometry, color: tuple[int, int, int]) -> None:
        polys = getattr(geom, "geoms", [geom])
        for p in polys:
            if p.is_empty or p.geom_type != "Polygon":
                continue
            draw.polygon(px(p.exterior.coords), fill=color)
            for hole in p.interiors:
                draw.polygon(px(hole.coords), fill=GRASS)

    def stroke(line: shapely.LineString, color: tuple[int, int, int], width_m: float) -> None:
        if line.is_empty or line.length < 1e-3:
            return
        draw.line(px(line.coords), fill=color, width=max(round(width_m / res), 1), joint="curve")

    for p in network.walkways.values():
        fill(p, SIDEWALK)
    road = network.road_surface()
    fill(road.buffer(CURB_WIDTH, join_style="mitre"), CURB)
    fill(road, ASPHALT)
    for b in network.boundaries.values():
        if b.kind == "center":
            stroke(b.geometry.offset_curve(0.15), YELLOW, 0.12)
            stroke(b.geometry.offset_curve(-0.15), YELLOW, 0.12)
        elif b.kind == "lane":
            for d in _dashes(b.geometry, 3.0, 6.0):
                stroke(d, WHITE, 0.15)
        else:
            stroke(b.geometry, WHITE, 0.2)
    inter = shapely.union_all(list(network.intersections.values()) + list(network.crosswalks.values()))
    fill(inter, ASPHALT)  # no lane markings inside the intersection / crossings
    for p in network.stop_lines.values():
        fill(p, WHITE)
    for p in network.crosswalks.values():
        rect = p.minimum_rotated_rectangle
        c = np.asarray(rect.exterior.coords)[:4]
        e0, e1 = c[1] - c[0], c[2] - c[1]
        long_e, short_e, origin = (e0, e1, c[0]) if np.linalg.norm(e0) > np.linalg.norm(e1) else (e1, -e0, c[1])
        n_stripes = int(np.linalg.norm(long_e) / 1.0)
        u = long_e / np.linalg.norm(long_e)
        for k in range(n_stripes):
            a = origin + u * (k * 1.0 + 0.25)
            stripe = shapely.Polygon([a, a + u * 0.5, a + u * 0.5 + short_e, a + short_e])
            fill(stripe.intersection(p), WHITE)
    for p in network.carparks.values():
        rect = p.minimum_rotated_rectangle
        c = np.asarray(rect.exterior.coords)[:4]
        e0, e1 = c[1] - c[0], c[2] - c[1]
        long_e, short_e, origin = (e0, e1, c[0]) if np.linalg.norm(e0) > np.linalg.norm(e1) else (e1, -e0, c[1])
        u = long_e / np.linalg.norm(long_e)
        for k in range(int(np.linalg.norm(long_e) / 2.8) + 1):
            a = origin + u * (1.1 + k * 2.8)
            for lo, hi in ((0.02, 0.38), (0.62, 0.98)):
                stroke(shapely.LineString([a + short_e * lo, a + short_e * hi]), WHITE, 0.12)
    arr = np.asarray(img, dtype=np.float32)
    rng = np.random.default_rng(seed)
    coarse = 0.9 + 0.2 * rng.random((h // 8 + 2, w // 8 + 2), dtype=np.float32)
    noise = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:h, :w]
    noise *= 0.93 + 0.14 * rng.random((h, w), dtype=np.float32)
    arr *= noise[..., None]
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return GroundTexture(arr, x0, y1, res)
