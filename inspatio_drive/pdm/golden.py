"""Read the golden NAVSIM v1.1 reference scenes (``tests/data/golden/pdms/scene_*``) into our data types.

A golden scene folder holds ``metric_cache.json`` (navsim metric-cache content in neutral form),
``arrays.npz`` (numeric arrays, read with ``allow_pickle=False``), ``candidates.json`` and ``results.json``.
This is how the scorer / simulator are tested without the metric-cache builder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.pdm.types import Centerline, DrivableAreaMap, MetricCache, Observation

__all__ = ["GoldenScene", "load_golden_scene", "metric_cache_from_golden"]


@dataclass
class GoldenScene:
    """One golden scene: our :class:`MetricCache` plus navsim's recorded inputs / outputs."""

    cache: MetricCache
    candidate_names: list[str]
    candidate_poses_local: NDArray[np.float64]  # [C, 8, 3]
    arrays: dict[str, NDArray[Any]]
    results: list[dict[str, Any]]


def metric_cache_from_golden(meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> MetricCache:
    """Build a :class:`MetricCache` from ``metric_cache.json`` content and ``arrays.npz`` arrays."""
    try:
        objects = {o["track_token"]: o for o in meta["observation"]["objects"]}
        tokens = [str(t) for t in arrays["obs_tokens"]]
        missing = [t for t in tokens if t not in objects]
        if missing:
            raise ValueError(f"observation.objects lacks tokens {missing}")
        obs = Observation(
            tokens=tokens,
            types=[objects[t]["type"] for t in tokens],
            corners=arrays["obs_polygons_global"],
            headings=[objects[t]["first_seen_box"]["heading"] for t in tokens],
            velocities=[objects[t].get("first_seen_velocity_xy", [0.0, 0.0]) for t in tokens],
            is_agent=[bool(objects[t]["is_agent"]) for t in tokens],
            step_s=float(meta["observation"]["step_s"]),
        )
        dam = meta["drivable_area_map"]
        drivable = DrivableAreaMap(
            tokens=[e["token"] for e in dam],
            layers=[e["type"] for e in dam],
            polygons=[shapely.Polygon(e["polygon_exterior_global"]) for e in dam],
        )
        ego = meta["initial_ego_state"]
        return MetricCache(
            token=meta["token"],
            log_name=meta.get("log_name", ""),
            initial_state=ego["state_array_global"],
            initial_time_us=ego["time_us"],
            trajectory_states=arrays["pdm_closed_traj_states_global"],
            trajectory_time_us=arrays["pdm_closed_traj_time_us"],
            route_lane_ids=meta["route_lane_ids"],
            route_roadblock_ids=meta.get("route_roadblock_ids_logged", []),
            centerline=Centerline(arrays["centerline_global"], arrays["centerline_progress"]),
            drivable_area_map=drivable,
            observation=obs,
        )
    except KeyError as exc:
        raise ValueError(f"golden metric cache: missing field {exc}") from exc


def load_golden_scene(scene_dir: str | Path) -> GoldenScene:
    """Load ``scene_dir`` (a golden ``scene_<x>`` folder)."""
    d = Path(scene_dir)
    meta = json.loads((d / "metric_cache.json").read_text())
    with np.load(d / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    results = json.loads((d / "results.json").read_text())
    meta.setdefault("log_name", results.get("log_name", ""))
    cache = metric_cache_from_golden(meta, arrays)
    names = [str(n) for n in arrays["candidate_names"]]
    by_name = {r["name"]: r for r in results["results"]}
    return GoldenScene(
        cache=cache,
        candidate_names=names,
        candidate_poses_local=arrays["candidate_poses_local"],
        arrays=arrays,
        results=[by_name[n] for n in names],
    )
