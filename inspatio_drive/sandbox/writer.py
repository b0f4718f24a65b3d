"""Write sandbox worlds as an OPENSCENE_DATA_ROOT-like tree.

Layout written under ``root``::

    navsim_logs/<split>/<log_name>.pkl                       # list of OpenScene frame dicts (2 Hz)
    sensor_blobs/<split>/<log_name>/CAM_*/<token>.jpg         # 8 cameras, RGB JPEG
    sensor_blobs/<split>/<log_name>/MergedPointCloud/<token>.pcd   # binary PCD, ego frame
    sensor_blobs/<split>/<log_name>/sandbox_world.json        # what regenerates the world (for the Oracle)
    maps/nuplan-maps-v1.0.json, maps/<location>/<version>/map.gpkg   # one nuPlan GPKG per log

``<location>`` is one of nuPlan's four map names (:func:`~inspatio_drive.sandbox.gpkg.navsim_location`; the logs'
``map_location`` says which), ``<version>`` the sandbox's own; log pickles are written so numpy 1.x reads them
(:class:`~inspatio_drive.data.writers.Numpy1Pickler`): navsim's loaders, metric caching and scoring scripts read
the tree unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from inspatio_drive.data.pcd import write_pcd
from inspatio_drive.data.writers import camera_dict, frame_dict, write_jpeg, write_log
from inspatio_drive.geometry.rig import nuplan_like_rig
from inspatio_drive.sandbox.gpkg import navsim_location, write_maps_root
from inspatio_drive.sandbox.oracle import WORLD_FILE, Oracle, RenderConfig, save_world_spec
from inspatio_drive.sandbox.scenarios import SCENARIOS, generate_scene
from inspatio_drive.sandbox.world import World, token


def frame_dicts(world: World, config: RenderConfig | None = None) -> list[dict]:
    """The OpenScene frame dicts of ``world`` (what the log pickle holds; no rendering needed)."""
    config = config or RenderConfig()

    rig = nuplan_like_rig(config.width, config.height)
    log = world.name
    tokens = [world.frame_token(i) for i in range(world.num_frames)]
    frames = []
    for i, t in enumerate(world.frame_times):
        tok, t = tokens[i], float(t)
        cams = {name: camera_dict(f"{log}/{name}/{tok}.jpg", T[:3, :3], T[:3, 3], K) for name, (K, T) in rig.items()}
        frames.append(frame_dict(
            token=tok,
            timestamp=world.start_timestamp + round(t * 1e6),
            log_name=log,
            map_location=world.location,
            ego_pose=world.ego_pose_global(t),
            ego_dynamic_state=world.ego_dynamic_state(t),
            roadblock_ids=world.roadblock_ids,
            traffic_lights=world.traffic_lights,
            driving_command=world.driving_command(t),
            cams=cams,
            lidar_path=f"{log}/MergedPointCloud/{tok}.pcd",
            anns=world.annotations(t),
            frame_idx=i,
            scene_token=token(log, "scene"),
            scene_name=f"{log}-scene",
            log_token=token(log, "log"),
            vehicle_name="sandbox-pacifica",
            sample_prev=tokens[i - 1] if i > 0 else None,
            sample_next=tokens[i + 1] if i + 1 < len(tokens) else None,
        ))
    return frames


def write_world(
    root: str | os.PathLike[str],
    split: str,
    world: World,
    config: RenderConfig | None = None,
    jpeg_quality: int = 90,
    progress: tqdm | None = None,
) -> Path:
    """Render and write one world (log pickle, 8 camera JPEGs + binary PCD per frame, map, world spec).

    Returns:
        the log pickle path.
    """
    config = config or RenderConfig()
    root = Path(root)
    blobs = root / "sensor_blobs" / split
    world = dataclasses.replace(world, location=navsim_location(root / "maps", world.name))
    oracle = Oracle(world, config)
    write_maps_root(root / "maps", world.location, world.network, world.origin, world=world.name)
    save_world_spec(blobs / world.name / WORLD_FILE, world, config)
    frames = frame_dicts(world, config)
    for frame, t in zip(frames, world.frame_times):
        pose = world.ego_pose_global(float(t))
        views = oracle.render_rig(pose, float(t))
        for name, view in views.items():
            write_jpeg(blobs / frame["cams"][name]["data_path"], view.rgb, quality=jpeg_quality)
        write_pcd(blobs / frame["lidar_path"], oracle.lidar(pose, float(t)))
        if progress is not None:
            progress.update(1)
    return write_log(root / "navsim_logs" / split / f"{world.name}.pkl", frames)


def write_split(
    root: str | os.PathLike[str],
    split: str,
    n: int,
    scenarios: Sequence[str] | None = None,
    seed: int = 0,
    *,
    num_frames: int = 14,
    density: float = 1.0,
    config: RenderConfig | None = None,
    jpeg_quality: int = 90,
    show_progress: bool = True,
) -> list[Path]:
    """Generate and write ``n`` scenes; scene ``i`` uses ``scenarios[i % len(scenarios)]`` and seed ``seed + i``.

    Args:
        root: data root (``OPENSCENE_DATA_ROOT``-like; ``maps/`` is the ``NUPLAN_MAPS_ROOT``).
        split: split folder name under ``navsim_logs`` / ``sensor_blobs``.
        n: number of scenes (one log each).
        scenarios: catalogue names (default: all, in catalogue order).
        seed: base seed.
        num_frames, density: see :func:`~inspatio_drive.sandbox.scenarios.generate_scene`.
        config: sensor settings (image size, LiDAR).
        jpeg_quality: JPEG quality of the camera images.
        show_progress: tqdm progress bar over frames.

    Returns:
        the log pickle paths.
    """
    names = list(scenarios) if scenarios else list(SCENARIOS)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise KeyError(f"unknown scenario(s) {unknown}; expected names from {sorted(SCENARIOS)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = []
    with tqdm(total=n * num_frames, desc=f"sandbox {split}", unit="frame", disable=not show_progress) as bar:
        for i in range(n):
            world = generate_scene(names[i % len(names)], seed + i, num_frames=num_frames, density=density)
            out.append(write_world(root, split, world, config, jpeg_quality, bar))
    return out
