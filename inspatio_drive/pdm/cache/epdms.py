"""Build the NAVSIM v2 (EPDMS) metric cache of a scene from its log frames and its nuPlan map.

Reuses the v1.1 builder (route correction, drivable-area map, centerline, PDM-Closed, ground-truth observation)
with the observation horizon cut to 4 s, and adds the v2 fields (navsim v2.2 ``MetricCacheProcessor``):
red lights of the logged route per step, the human future / past, time point, scene type, past tracks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from inspatio_drive.contracts import PACIFICA, VehicleParameters
from inspatio_drive.data.types import Frame, Scene
from inspatio_drive.maps import MapAPI
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.route import load_route
from inspatio_drive.pdm.cache.scene_input import (
    detections_of_frame,
    initial_ego_state,
    scene_token,
    traffic_lights_at,
)
from inspatio_drive.pdm.v2.cache import (
    EPDMS_BUILDER_VERSION,
    NUM_STEPS,
    ORIGINAL,
    EPDMSCache,
    RedLights,
    scene_type_of_token,
)

__all__ = ["EPDMS_BUILDER_VERSION", "build_epdms_cache", "red_lights_of_scene"]

HOLD_STEPS = 5  # a 2 Hz traffic-light status is held for 5 steps of 0.1 s (MCP:234-251)
HUMAN_POSES = 8


def _tracks(frame: Frame) -> dict[str, Any]:
    """A frame's tracked objects (global) in the cache's track form."""
    det = detections_of_frame(frame)
    return {
        "tokens": det.tokens,
        "types": det.types,
        "centers": det.centers,
        "headings": det.headings,
        "sizes": det.sizes,
        "velocities": det.velocities,
    }


def _frame_name(scene: Scene, index: int) -> str:
    if index < len(scene.frames):
        return str(scene.frames[index].token)
    return f"{scene_token(scene)} + extended step {index - len(scene.frames)}"


def red_lights_of_scene(scene: Scene, map_api: MapAPI, num_steps: int = NUM_STEPS) -> RedLights:
    """Red on-route lane connectors of the frames t0 … t0 + 4 s, each status held 5 steps (navsim v2.2).

    The route is the current frame's *logged* ``roadblock_ids`` (not PDM-Closed's corrected route); a red light
    counts when its lane-connector id is an interior lane of one of those roadblocks. A synthetic scene (one with
    ``extended_detections``) takes the frames past its end from ``extended_traffic_lights`` (none where it has no
    step, as navsim); a scene without them must have the frames.
    """
    cur = scene.current_index
    frame = scene.frames[cur]
    route = load_route(map_api, frame.roadblock_ids)
    n_frames = -(-num_steps // HOLD_STEPS)  # frames 0 … 8 for 41 steps
    if scene.extended_detections is None and cur + n_frames > len(scene.frames):
        raise ValueError(
            f"scene {scene_token(scene)}: the EPDMS cache needs {n_frames} frames from the current one "
            f"(t0 … t0 + 4 s), the scene has {len(scene.frames) - cur}"
        )
    active: dict[str, np.ndarray] = {}
    for i in range(n_frames):
        for lc, is_red in traffic_lights_at(scene, cur + i):
            if not isinstance(is_red, bool | np.bool_):
                raise ValueError(
                    f"frame {_frame_name(scene, cur + i)}: traffic light {lc} has status {is_red!r}, "
                    "expected a bool (red or not)"
                )
            key = str(lc)
            if is_red and key in route.lanes:
                steps = active.setdefault(key, np.zeros(num_steps, dtype=bool))
                steps[i * HOLD_STEPS : min((i + 1) * HOLD_STEPS, num_steps)] = True
    ids = list(active)
    return RedLights(ids, [route.lanes[c].polygon for c in ids], np.array([active[c] for c in ids], dtype=bool))


def build_epdms_cache(
    scene: Scene,
    map_api: MapAPI,
    config: MetricCacheConfig | None = None,
    vehicle: VehicleParameters = PACIFICA,
    timings: dict[str, float] | None = None,
) -> EPDMSCache:
    """EPDMS metric cache of ``scene`` (its current frame = ``scene.current_index``).

    Args:
        scene: a NAVSIM scene with at least 8 future frames (4 s) after the current one; its history frames
            give the human past (navsim: t = −1.5 … 0 s).
        map_api: the scene's nuPlan map.
        config: v1.1 builder settings; ``observation_horizon_s`` is forced to 4 s (41 steps).
        vehicle: ego vehicle (Pacifica).
        timings: CPU seconds per stage are added to it (see :func:`build_metric_cache`).

    Raises:
        ValueError: too few frames, unknown route roadblocks, bad traffic-light statuses (message names them).
    """
    config = dataclasses.replace(config or MetricCacheConfig(), observation_horizon_s=4.0)
    token = scene_token(scene)
    base = build_metric_cache(scene, map_api, config, vehicle, timings=timings)
    assert not isinstance(base, tuple)
    cur = scene.current_index
    frame = scene.frames[cur]
    scene_type = scene_type_of_token(token)
    human = None
    if scene_type == ORIGINAL and cur + HUMAN_POSES < len(scene.frames):
        human = scene.get_future_trajectory(HUMAN_POSES)
    history = scene.frames[: cur + 1]
    past_states = np.stack([initial_ego_state(f) for f in history])
    past_time = np.array([int(f.timestamp) for f in history], dtype=np.int64)
    past_tracks = [_tracks(f) for f in history[:-1]]
    base.extra["builder"] = EPDMS_BUILDER_VERSION
    return EPDMSCache(
        base=base,
        timepoint_us=int(frame.timestamp),
        scene_type=scene_type,
        human_trajectory=human,
        past_time_us=past_time,
        past_states=past_states,
        red_lights=red_lights_of_scene(scene, map_api),
        past_tracks=past_tracks,
        current_tracks=_tracks(frame),
        extra={
            "builder": EPDMS_BUILDER_VERSION,
            "map_parameters": {"map_name": scene.scene_metadata.map_name, "map_file": str(map_api.path.name)},
        },
    )
