"""Build the NAVSIM v1.1 metric cache of a scene from its log frames and its nuPlan map.

``build_metric_cache(scene, map_api, config)`` reproduces navsim's ``MetricCacheProcessor.compute_metric_cache``:
route correction → drivable-area map (100 m box around the ego centre) → starting lane → Dijkstra centerline →
PDM-Closed (forecast observation, IDM proposals, simulation, scoring, selection) → ground-truth observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import thread_time  # stage timings are CPU seconds of this thread

import numpy as np
import shapely
from numpy.typing import NDArray

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.data.types import Scene
from inspatio_drive.maps import Lane, LaneConnector, MapAPI
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.drivable import drivable_area_map
from inspatio_drive.pdm.cache.forecast import forecast_observation
from inspatio_drive.pdm.cache.geometry import ego_center, ego_corners
from inspatio_drive.pdm.cache.observation import ground_truth_observation
from inspatio_drive.pdm.cache.path import ProposalPath
from inspatio_drive.pdm.cache.pdm_closed import PDMClosedResult, run_pdm_closed
from inspatio_drive.pdm.cache.route import (
    Route,
    centerline_lanes,
    centerline_path,
    correct_route,
    load_route,
    starting_lane,
)
from inspatio_drive.pdm.cache.scene_input import detections_of_frame, initial_ego_state, scene_token
from inspatio_drive.pdm.types import Centerline, DrivableAreaMap, MetricCache

__all__ = ["BUILDER_VERSION", "RoutePlan", "build_metric_cache", "plan_route"]

BUILDER_VERSION = "navsim-v1.1/1"
"""Semantics version of the builder, stored in every cache entry (``extra.builder``)."""


@dataclass
class RoutePlan:
    """Route stage of the builder: corrected route, drivable-area map, starting lane, centerline ``[N, 3]``."""

    route: Route
    drivable: DrivableAreaMap
    start: Lane | LaneConnector
    centerline_path: NDArray[np.float64]


def plan_route(
    scene: Scene,
    map_api: MapAPI,
    config: MetricCacheConfig | None = None,
    vehicle: VehicleParameters = PACIFICA,
) -> RoutePlan:
    """Route correction, drivable-area map (around the ego centre), starting lane and Dijkstra centerline of
    the scene's current frame."""
    config = config or MetricCacheConfig()
    frame = scene.frames[scene.current_index]
    pose = initial_ego_state(frame)[:3]
    center = ego_center(pose, vehicle)
    if not frame.roadblock_ids:
        raise ValueError(f"scene {scene_token(scene)}: current frame has no route roadblock_ids")
    route = load_route(map_api, frame.roadblock_ids)
    route = correct_route(
        pose, map_api, route, config.route_search_depth_backward, config.route_search_depth_forward
    )
    drivable = drivable_area_map(map_api, center, config.map_radius)
    ego_box = shapely.Polygon(ego_corners(pose, vehicle))
    start = starting_lane(pose, ego_box, center, route, drivable)
    lanes = centerline_lanes(start, route, config.centerline_search_depth)
    return RoutePlan(route, drivable, start, centerline_path(lanes))


def build_metric_cache(
    scene: Scene,
    map_api: MapAPI,
    config: MetricCacheConfig | None = None,
    vehicle: VehicleParameters = PACIFICA,
    return_pdm_closed: bool = False,
    timings: dict[str, float] | None = None,
) -> MetricCache | tuple[MetricCache, PDMClosedResult]:
    """Metric cache of ``scene`` (its current frame = ``scene.current_index``).

    Args:
        scene: a NAVSIM scene with at least 10 future frames (5 s of annotations).
        map_api: the scene's nuPlan map (:func:`inspatio_drive.maps.load_map`).
        config: builder settings (navsim defaults).
        vehicle: ego vehicle (Pacifica).
        return_pdm_closed: also return the PDM-Closed internals (proposals, scores).
        timings: if given, CPU seconds (this thread) per stage are added to it (route_map_centerline,
            forecast, pdm_closed_*, observation).

    Raises:
        ValueError: unknown route roadblocks, too few frames, unknown object types (message names the field).
    """
    config = config or MetricCacheConfig()
    tm = timings if timings is not None else {}
    t0 = thread_time()
    frame = scene.frames[scene.current_index]
    state = initial_ego_state(frame)
    pose = state[:3]
    center = ego_center(pose, vehicle)
    ego_box = shapely.Polygon(ego_corners(pose, vehicle))
    plan = plan_route(scene, map_api, config, vehicle)
    route, drivable, start, path = plan.route, plan.drivable, plan.start, plan.centerline_path

    t1 = thread_time()
    tm["route_map_centerline"] = tm.get("route_map_centerline", 0.0) + t1 - t0
    red_lights = [
        (str(lc), route.lanes[str(lc)].polygon)
        for lc, is_red in frame.traffic_lights
        if is_red and str(lc) in route.lanes
    ]
    horizon = config.proposal_steps + int(1 / config.step_s)
    samples = horizon if horizon > config.trajectory_steps else config.trajectory_steps
    forecast = forecast_observation(
        detections_of_frame(frame),
        center,
        ego_box,
        red_lights,
        samples,
        config.step_s,
        config.map_radius,
        config.forecast_sample_res,
    )
    t2 = thread_time()
    tm["forecast"] = tm.get("forecast", 0.0) + t2 - t1
    pdm_closed = run_pdm_closed(
        path,
        start.speed_limit_mps,
        forecast,
        state,
        int(frame.timestamp),
        route.lane_ids,
        drivable,
        config,
        vehicle,
        tm,
    )
    t3 = thread_time()
    observation = ground_truth_observation(scene, config)
    tm["observation"] = tm.get("observation", 0.0) + thread_time() - t3
    cache = MetricCache(
        token=scene_token(scene),
        log_name=scene.scene_metadata.log_name,
        initial_state=state,
        initial_time_us=int(frame.timestamp),
        trajectory_states=pdm_closed.trajectory_states,
        trajectory_time_us=pdm_closed.trajectory_time_us,
        route_lane_ids=route.lane_ids,
        centerline=Centerline(ProposalPath(path).states),
        drivable_area_map=drivable,
        observation=observation,
        route_roadblock_ids=[str(r) for r in frame.roadblock_ids],
        extra={
            "builder": BUILDER_VERSION,
            "map_name": scene.scene_metadata.map_name,
            "map_file": str(map_api.path.name),
            "corrected_route_roadblock_ids": route.roadblock_ids,
            "pdm_closed_proposal": pdm_closed.best,
        },
    )
    return (cache, pdm_closed) if return_pdm_closed else cache
