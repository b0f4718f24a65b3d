"""PDM-Closed's own observation (navsim ``PDMObservation.update`` + ``PDMObjectManager``).

From the *current* detections only: objects farther than ``map_radius`` from the ego centre are dropped;
agents (vehicles ≤ 50, pedestrians ≤ 25, bicycles ≤ 10, nearest first) move at constant velocity along their
heading (flipped when they drive backwards), static objects (≤ 50) stay; red traffic lights on route lane
connectors become obstacles (the connector polygon). The forecast changes every ``sample_res`` steps:
step ``t`` shows the objects at ``(sample_res·⌊t / sample_res⌋)·step_s`` seconds. Objects (and red lights
the ego is inside of) that overlap the ego at t = 0 are "collided" and ignored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.strtree import STRtree

from inspatio_drive.pdm.cache.geometry import normalize_angle
from inspatio_drive.pdm.cache.scene_input import Detections
from inspatio_drive.pdm.types import Observation

__all__ = ["MAX_DYNAMIC_OBJECTS", "MAX_STATIC_OBJECTS", "RED_LIGHT_TOKEN", "Forecast", "forecast_observation"]

RED_LIGHT_TOKEN = "red_light"
MAX_DYNAMIC_OBJECTS = {"vehicle": 50, "pedestrian": 25, "bicycle": 10}
MAX_STATIC_OBJECTS = 50


@dataclass
class Forecast:
    """Constant-velocity forecast of the current objects + red-light obstacles.

    Attributes:
        tokens: ``[M]`` static objects, then agents (by type, nearest first), then ``red_light_<id>``.
        polygons: ``[S, M]`` shapely polygons per forecast sample (S = samples).
        step_to_sample: ``[T]`` forecast sample shown at each 0.1 s step.
        objects: token → (type, heading, velocity ``[2]``, is_agent) of the object at t = 0 (not red lights).
        collided: tokens overlapping the ego at t = 0 (ignored by the leading-agent search and the scorer).
        corners: ``[M_obj, T, 4, 2]`` corners of the non-red-light objects at every step (for the scorer).
    """

    tokens: list[str]
    polygons: NDArray[np.object_]
    step_to_sample: NDArray[np.int64]
    objects: dict[str, tuple[str, float, NDArray[np.float64], bool]]
    collided: list[str]
    corners: NDArray[np.float64]
    _trees: dict[int, STRtree] = field(default_factory=dict, repr=False)
    _index: dict[str, int] | None = field(default=None, repr=False)
    _centroids: NDArray[np.object_] | None = field(default=None, repr=False)

    def _tree(self, sample: int) -> STRtree:
        if sample not in self._trees:
            self._trees[sample] = STRtree(self.polygons[sample], node_capacity=10)
        return self._trees[sample]

    def query(self, step: int, geometry: shapely.Geometry) -> NDArray[np.int64]:
        """Indices of the polygons at ``step`` intersecting ``geometry``, in STRtree order (navsim's order)."""
        tree = self._tree(int(self.step_to_sample[step]))
        return np.asarray(tree.query(geometry, predicate="intersects"), dtype=np.int64)

    def query_many(
        self, sample: int, geometries: NDArray[np.object_]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """:meth:`query` of several geometries against forecast ``sample`` in one STRtree call:
        ``(geometry index [H], polygon index [H])``, grouped by geometry, each group in :meth:`query`'s order."""
        which, idx = self._tree(int(sample)).query(geometries, predicate="intersects")
        return np.asarray(which, dtype=np.int64), np.asarray(idx, dtype=np.int64)

    def intersects(self, step: int, geometry: shapely.Geometry) -> list[str]:
        """Tokens whose polygon at ``step`` intersects ``geometry`` (STRtree order)."""
        return [self.tokens[i] for i in self.query(step, geometry)]

    @property
    def centroids(self) -> NDArray[np.object_]:
        """``[S, M]`` centroids of :attr:`polygons` (computed once)."""
        if self._centroids is None:
            self._centroids = shapely.centroid(self.polygons)
        return self._centroids

    @property
    def collided_mask(self) -> NDArray[np.bool_]:
        """``[M]`` True for the tokens in :attr:`collided`."""
        gone = set(self.collided)
        return np.array([t in gone for t in self.tokens], dtype=bool)

    def polygon(self, step: int, token: str) -> shapely.Polygon:
        if self._index is None:
            self._index = {t: i for i, t in enumerate(self.tokens)}
        return self.polygons[int(self.step_to_sample[step]), self._index[token]]

    def scorer_observation(self, step_s: float) -> Observation:
        """Objects (no red lights, no collided ones) as an :class:`Observation` for the PDM scorer."""
        keep = [i for i, t in enumerate(self.obj_tokens) if t not in self.collided]
        toks = [self.obj_tokens[i] for i in keep]
        return Observation(
            tokens=toks,
            types=[self.objects[t][0] for t in toks],
            corners=self.corners[keep] if keep else np.zeros((0, self.corners.shape[1], 4, 2)),
            headings=[self.objects[t][1] for t in toks],
            velocities=np.array([self.objects[t][2] for t in toks]).reshape(-1, 2),
            is_agent=[self.objects[t][3] for t in toks],
            step_s=step_s,
        )

    @property
    def obj_tokens(self) -> list[str]:
        return [t for t in self.tokens if t in self.objects]


def forecast_observation(
    detections: Detections,
    ego_center_xy: NDArray[np.float64],
    ego_box: shapely.Polygon,
    red_lights: list[tuple[str, shapely.Polygon]],
    num_steps: int,
    step_s: float,
    map_radius: float,
    sample_res: int = 2,
) -> Forecast:
    """Build PDM-Closed's forecast for steps ``0 … num_steps + sample_res - 1``."""
    center = np.asarray(ego_center_xy, dtype=np.float64)
    dist = np.hypot(detections.centers[:, 0] - center[0], detections.centers[:, 1] - center[1])
    corners_all = detections.corners  # [N, 4, 2]
    keep = dist <= map_radius if map_radius else np.ones(len(detections), dtype=bool)
    static = [i for i in range(len(detections)) if keep[i] and not detections.is_agent[i]]
    static = [static[j] for j in np.argsort(dist[static])][:MAX_STATIC_OBJECTS] if static else []
    dynamic: list[int] = []
    for typ, cap in MAX_DYNAMIC_OBJECTS.items():
        idx = [
            i
            for i in range(len(detections))
            if keep[i] and detections.is_agent[i] and detections.types[i] == typ
        ]
        if idx:
            dynamic += [idx[j] for j in np.argsort(dist[idx])][:cap]
    # constant-velocity displacement along the (possibly flipped) heading
    dxy = np.zeros((len(detections), 2))
    for i in dynamic:
        v = detections.velocities[i]
        speed = float(np.hypot(v[0], v[1]))
        heading = float(detections.headings[i])
        forward = abs(float(normalize_angle(heading - np.arctan2(v[1], v[0])))) < np.pi / 2
        track_heading = heading if forward else float(normalize_angle(heading + np.pi))
        dxy[i] = (np.cos(track_heading) * speed, np.sin(track_heading) * speed)

    obj_idx = static + dynamic
    obj_tokens = [detections.tokens[i] for i in obj_idx]
    tokens = obj_tokens + [f"{RED_LIGHT_TOKEN}_{lc}" for lc, _ in red_lights]
    samples = np.arange(0, num_steps + sample_res, sample_res)
    step_to_sample = np.array([s // sample_res for s in range(num_steps + sample_res)], dtype=np.int64)
    n_steps = len(step_to_sample)
    base = corners_all[obj_idx] if obj_idx else np.zeros((0, 4, 2))
    disp = dxy[obj_idx] if obj_idx else np.zeros((0, 2))
    delta = samples.astype(np.float64) * step_s  # [S]
    sample_corners = base[:, None] + delta[None, :, None, None] * disp[:, None, None, :]  # [M, S, 4, 2]
    polygons = np.empty((len(samples), len(tokens)), dtype=object)
    if obj_idx:
        ring = np.concatenate([sample_corners, sample_corners[:, :, :1]], axis=2)
        polygons[:, : len(obj_idx)] = shapely.polygons(ring).T
    for j, (_, poly) in enumerate(red_lights):
        polygons[:, len(obj_idx) + j] = poly
    objects = {
        detections.tokens[i]: (
            detections.types[i],
            float(detections.headings[i]),
            detections.velocities[i].copy(),
            bool(detections.is_agent[i]),
        )
        for i in obj_idx
    }
    fc = Forecast(
        tokens=tokens,
        polygons=polygons,
        step_to_sample=step_to_sample,
        objects=objects,
        collided=[],
        corners=sample_corners[:, step_to_sample] if obj_idx else np.zeros((0, n_steps, 4, 2)),
    )
    collided = []
    for tok in fc.intersects(0, ego_box):
        if RED_LIGHT_TOKEN in tok and not ego_box.within(fc.polygon(0, tok)):
            continue
        collided.append(tok)
    fc.collided = collided
    return fc
