"""navsim v2 synthetic scene pickles (navhard's second stage, and this project's counterfactual scenes).

One pickle per scene, ``<synthetic_scenes_path>/<scene_token>.pkl``, a dict as navsim's ``Scene.save_to_disk``
writes it:

* ``scene_metadata``: ``asdict(SceneMetadata)`` with ``corresponding_original_scene`` (the original log frame at
  the same time) and ``corresponding_original_initial_token``;
* ``frames``: per frame ``token``, ``timestamp`` (µs), ``roadblock_ids``, ``traffic_lights`` ([(lane connector,
  is_red)]), ``annotations`` (``asdict(Annotations)``: ``boxes`` [N, 7] ego frame, ``names``, ``velocity_3d``,
  ``instance_tokens``, ``track_tokens``), ``ego_status`` (``asdict(EgoStatus)``, **global** pose),
  ``lidar_path`` (relative to the synthetic sensor blobs, or ``None``), ``camera_dict`` (``cam_f0`` … ``cam_b0``
  → ``{data_path, sensor2lidar_rotation, sensor2lidar_translation, cam_intrinsic, distortion}``, or ``{}`` for a
  camera without image);
* ``extended_traffic_light_data`` / ``extended_detections_tracks``: ``None`` or one nuplan ``TrafficLightStatuses``
  / ``DetectionsTracks`` (global boxes) per 0.5 s step after the last frame, read through
  :mod:`inspatio_drive.data.nuplan_pickle` (no nuplan import, nothing executed) into
  :attr:`Scene.extended_traffic_lights` / :attr:`Scene.extended_detections`.

:func:`read_synthetic_scene` reads one file; :func:`index_synthetic_scenes` selects the scenes of a folder as
navsim's ``filter_synthetic_scenes`` does (keyed by ``scene_metadata.initial_token``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from inspatio_drive.contracts.errors import LogFormatError, brief_repr
from inspatio_drive.data.filters import SceneFilter, SensorConfig
from inspatio_drive.data.log_reader import float_array
from inspatio_drive.data.nuplan_pickle import (
    NUPLAN_GLOBALS,
    tracked_objects_from_record,
    traffic_lights_from_record,
)
from inspatio_drive.data.safe_pickle import safe_load
from inspatio_drive.data.sensors import load_image, load_lidar
from inspatio_drive.data.types import (
    Annotations,
    Camera,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
    TrackedObjects,
    TrafficLightStatus,
)

__all__ = ["SYNTHETIC_TOKEN_LENGTH", "SyntheticSceneRef", "index_synthetic_scenes", "read_synthetic_scene",
           "read_synthetic_scene_metadata"]

SYNTHETIC_TOKEN_LENGTH = 17
"""navsim treats a scene whose token has 17 characters as synthetic (``MetricCacheProcessor``)."""
_WHAT = "navsim synthetic scene pickles may only contain builtin, numpy and the allow-listed nuplan types"


def _need(d: Any, key: str, source: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise LogFormatError(f"{source}: {where}: expected a dict, got {type(d).__name__}")
    if key not in d:
        raise LogFormatError(f"{source}: {where} has no field {key!r}")
    return d[key]


def _load(path: Path) -> Mapping[str, Any]:
    raw = safe_load(path, NUPLAN_GLOBALS, _WHAT)
    if not isinstance(raw, Mapping):
        raise LogFormatError(f"{path}: expected a dict (scene_metadata, frames, extended_*), got {type(raw).__name__}")
    return raw


def _scene_metadata(meta: Any, source: str) -> SceneMetadata:
    values = {k: _need(meta, k, source, "scene_metadata") for k in ("log_name", "scene_token", "map_name", "initial_token",
                                                                  "num_history_frames", "num_future_frames")}
    for k in ("log_name", "scene_token", "map_name", "initial_token"):
        if not isinstance(values[k], str):
            raise LogFormatError(f"{source}: scene_metadata: field {k!r}: expected str, got {brief_repr(values[k], 60)}")
    for k in ("num_history_frames", "num_future_frames"):
        if isinstance(values[k], bool) or not isinstance(values[k], int | np.integer) or values[k] < 0:
            raise LogFormatError(f"{source}: scene_metadata: field {k!r}: expected an int >= 0, got {brief_repr(values[k], 60)}")
        values[k] = int(values[k])
    for k in ("corresponding_original_scene", "corresponding_original_initial_token"):
        value = meta.get(k)
        if value is not None and not isinstance(value, str):
            raise LogFormatError(f"{source}: scene_metadata: field {k!r}: expected str or None, got {brief_repr(value, 60)}")
        values[k] = value
    return SceneMetadata(**values)


def _frame(fr: Any, i: int, source: str, blobs: Path, wanted: set[str] | None, load_images: bool) -> Frame:
    """One frame dict; ``wanted``: sensors to load (navsim ``SensorConfig`` names), ``None`` = every camera image
    when ``load_images`` and the LiDAR whenever it has a path."""
    where = f"frame {i}"
    st = _need(fr, "ego_status", source, where)

    def arr(value: Any, shape: tuple[int, ...], field: str) -> NDArray[np.float64]:
        return float_array(value, shape, field, source, i)

    command = arr(_need(st, "driving_command", source, where), (4,), "ego_status.driving_command")
    if not ((command == 0) | (command == 1)).all():
        raise LogFormatError(f"{source}: {where}: field 'ego_status.driving_command': expected one-hot (0 / 1) values, "
                             f"got {brief_repr(command, 40)}")
    in_global = st.get("in_global_frame", True)
    if not isinstance(in_global, bool | np.bool_):
        raise LogFormatError(f"{source}: {where}: field 'ego_status.in_global_frame': expected a bool, got {brief_repr(in_global, 40)}")
    status = EgoStatus(arr(_need(st, "ego_pose", source, where), (3,), "ego_status.ego_pose"),
                       arr(_need(st, "ego_velocity", source, where), (2,), "ego_status.ego_velocity").astype(np.float32),
                       arr(_need(st, "ego_acceleration", source, where), (2,), "ego_status.ego_acceleration").astype(np.float32),
                       command.astype(np.int64), bool(in_global))
    cams = {}
    camera_dict = _need(fr, "camera_dict", source, where)
    if not isinstance(camera_dict, Mapping):
        raise LogFormatError(f"{source}: {where}: field 'camera_dict': expected a dict, got {type(camera_dict).__name__}")
    for key, c in camera_dict.items():
        if not isinstance(key, str):
            raise LogFormatError(f"{source}: {where}: field 'camera_dict': expected camera names, got {brief_repr(key, 40)}")
        if isinstance(c, Mapping) and not c:
            continue  # navsim writes {} for a camera without image
        field = f"camera_dict.{key}"
        data_path = _need(c, "data_path", source, where)
        if data_path is not None and not isinstance(data_path, str):
            raise LogFormatError(f"{source}: {where}: field '{field}.data_path': expected str or None")
        image = None
        if data_path and (load_images if wanted is None else key.lower() in wanted):
            image = load_image(blobs / data_path, f"{source}: {where} camera {key}")
        cams[key.upper()] = Camera(key.upper(), image, arr(_need(c, "cam_intrinsic", source, where), (3, 3), f"{field}.cam_intrinsic"),
                                   arr(_need(c, "sensor2lidar_rotation", source, where), (3, 3), f"{field}.sensor2lidar_rotation"),
                                   arr(_need(c, "sensor2lidar_translation", source, where), (3,), f"{field}.sensor2lidar_translation"),
                                   arr(c.get("distortion", np.zeros(5)), (5,), f"{field}.distortion"), data_path)
    lidar_path = fr.get("lidar_path")
    if lidar_path is not None and not isinstance(lidar_path, str):
        raise LogFormatError(f"{source}: {where}: field 'lidar_path': expected str or None, got {brief_repr(lidar_path, 40)}")
    lidar = Lidar(None, lidar_path or None)
    if lidar_path and (wanted is None or "lidar_pc" in wanted):
        lidar = Lidar(load_lidar(blobs / lidar_path, f"{source}: {where}"), lidar_path)
    ann = fr.get("annotations")
    annotations = None
    if ann is not None:
        boxes = arr(_need(ann, "boxes", source, where), (-1, 7), "annotations.boxes")
        try:
            annotations = Annotations(boxes, [str(n) for n in _need(ann, "names", source, where)],
                                      arr(_need(ann, "velocity_3d", source, where), (len(boxes), 3), "annotations.velocity_3d"),
                                      [str(t) for t in _need(ann, "instance_tokens", source, where)],
                                      [str(t) for t in _need(ann, "track_tokens", source, where)])
        except (TypeError, ValueError) as exc:
            raise LogFormatError(f"{source}: {where}: field 'annotations': {exc}") from None
    token, timestamp = _need(fr, "token", source, where), _need(fr, "timestamp", source, where)
    if not isinstance(token, str):
        raise LogFormatError(f"{source}: {where}: field 'token': expected str, got {brief_repr(token, 40)}")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | np.integer):
        raise LogFormatError(f"{source}: {where}: field 'timestamp': expected int (µs), got {brief_repr(timestamp, 40)}")
    try:
        roadblocks = _need(fr, "roadblock_ids", source, where)
        if isinstance(roadblocks, str | bytes):
            raise TypeError("a single string")
        lights = [(int(a), bool(b)) for a, b in _need(fr, "traffic_lights", source, where)]
        roadblocks = [str(r) for r in roadblocks]
    except (TypeError, ValueError) as exc:
        raise LogFormatError(f"{source}: {where}: field 'roadblock_ids' / 'traffic_lights': expected lists ({exc})") from None
    return Frame(token, int(timestamp), roadblocks, lights, annotations, status, lidar, cams)


def _extended(raw: Mapping[str, Any], source: str) -> tuple[list[list[TrafficLightStatus]] | None, list[TrackedObjects] | None]:
    out: list[Any] = []
    for key, convert in (("extended_traffic_light_data", traffic_lights_from_record),
                         ("extended_detections_tracks", tracked_objects_from_record)):
        value = raw.get(key)
        if value is None:
            out.append(None)
            continue
        if not isinstance(value, list):
            raise LogFormatError(f"{source}: field {key!r}: expected a list (one entry per 0.5 s step) or None, "
                                 f"got {brief_repr(value, 40)}")
        out.append([convert(item, f"{source}: {key}[{k}]") for k, item in enumerate(value)])
    return out[0], out[1]


def read_synthetic_scene(path: str | os.PathLike[str], sensor_blobs: str | os.PathLike[str] | None = None,
                         load_images: bool = True, sensor_config: SensorConfig | None = None) -> Scene:
    """Load a navsim v2 synthetic scene pickle (restricted unpickler, nuplan objects allow-listed) → :class:`Scene`
    with ``extended_traffic_lights`` / ``extended_detections`` when the file has them.

    Args:
        path: the ``<token>.pkl`` file.
        sensor_blobs: root of the relative ``data_path`` / ``lidar_path`` (default: ``<pkl>/../../sensor_blobs``,
            this project's counterfactual layout).
        load_images: without ``sensor_config``: load every camera image (the LiDAR is loaded whenever it has a path).
        sensor_config: navsim's rule instead: the sensors of :meth:`SensorConfig.get_sensors_at_iteration` per frame.

    Raises:
        LogFormatError: a missing or malformed field (file, frame / nuplan attribute path, expectation).
        CorruptPickleError / UnsafePickleError: a truncated or corrupt file, or a global outside the allow-list.
        SensorError: a missing or unreadable image or LiDAR file (pickle, frame and sensor file named).
    """
    path = Path(path)
    blobs = Path(sensor_blobs) if sensor_blobs else path.parent.parent / "sensor_blobs"
    raw = _load(path)
    source = str(path)
    meta = _scene_metadata(_need(raw, "scene_metadata", source, "the scene"), source)
    frames_raw = _need(raw, "frames", source, "the scene")
    if not isinstance(frames_raw, list):
        raise LogFormatError(f"{source}: field 'frames': expected a list of frame dicts, got {type(frames_raw).__name__}")
    if len(frames_raw) < meta.num_history_frames:
        raise LogFormatError(f"{source}: field 'frames': {len(frames_raw)} frames, fewer than scene_metadata."
                             f"num_history_frames = {meta.num_history_frames}")
    frames = []
    for i, fr in enumerate(frames_raw):
        wanted = None if sensor_config is None else set(sensor_config.get_sensors_at_iteration(i))
        frames.append(_frame(fr, i, source, blobs, wanted, load_images))
    lights, detections = _extended(raw, source)
    return Scene(meta, frames, extended_traffic_lights=lights, extended_detections=detections)


def read_synthetic_scene_metadata(path: str | os.PathLike[str]) -> SceneMetadata:
    """The ``scene_metadata`` of a synthetic scene pickle (the whole file is unpickled, restricted).

    Raises:
        LogFormatError, CorruptPickleError, UnsafePickleError: as :func:`read_synthetic_scene`.
    """
    path = Path(path)
    raw = _load(path)
    return _scene_metadata(_need(raw, "scene_metadata", str(path), "the scene"), str(path))


@dataclass(frozen=True)
class SyntheticSceneRef:
    """Where a synthetic scene lives: its pickle and its metadata."""

    path: Path
    metadata: SceneMetadata

    @property
    def log_name(self) -> str:
        return self.metadata.log_name


def index_synthetic_scenes(folder: str | os.PathLike[str], scene_filter: SceneFilter,
                           stage_one_final_tokens: Collection[str], show_progress: bool = False) -> dict[str, SyntheticSceneRef]:
    """The synthetic scenes of ``folder`` a loader serves (navsim ``filter_synthetic_scenes``), keyed by
    ``scene_metadata.initial_token``, in sorted file-name order (navsim: ``iterdir`` order):

    * with ``scene_filter.synthetic_scene_tokens``: exactly those tokens (related to a loaded scene or not);
    * otherwise those whose ``corresponding_original_scene`` is the *final* frame token of a loaded first-stage
      scene (``stage_one_final_tokens``);
    * and, with ``scene_filter.log_names``, only scenes of those logs.

    Every ``*.pkl`` of the folder is unpickled (restricted), as navsim does.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        LogFormatError, CorruptPickleError, UnsafePickleError: a bad pickle (named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: synthetic scene folder not found (expected <token>.pkl navsim synthetic "
                                "scene pickles, e.g. <data_root>/navhard_two_stage/synthetic_scene_pickles; set data.synthetic_scenes_path, "
                                "or data.scene_filter.include_synthetic_scenes=false for the first stage only)")
    wanted = None if scene_filter.synthetic_scene_tokens is None else set(scene_filter.synthetic_scene_tokens)
    logs = None if scene_filter.log_names is None else set(scene_filter.log_names)
    finals = set(stage_one_final_tokens)
    out: dict[str, SyntheticSceneRef] = {}
    files = sorted(p for p in folder.iterdir() if p.suffix == ".pkl" and p.is_file())
    for path in tqdm(files, desc="Indexing synthetic scenes", disable=not show_progress, leave=False):
        meta = read_synthetic_scene_metadata(path)
        if wanted is not None and meta.initial_token not in wanted:
            continue
        if logs is not None and meta.log_name not in logs:
            continue
        if wanted is None and meta.corresponding_original_scene not in finals:
            continue
        out[meta.initial_token] = SyntheticSceneRef(path, meta)
    return out
