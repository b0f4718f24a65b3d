"""``SceneLoader``: NAVSIM scenes and agent inputs from a split of OpenScene logs, loaded lazily per log.

navsim's ``SceneLoader`` unpickles every log of the split into memory at construction. This one
reads each log once to build a small index (scene token → log file and window start), drops the
frames, and later re-reads logs on demand through a small LRU cache (``cache_logs`` logs), so memory
stays bounded on a split of hundreds of logs. Scenes accessed in log order (as ``tokens`` lists them)
hit the cache.

Semantics follow navsim v1.1 ``filter_scenes`` / ``SceneLoader`` / ``AgentInput.from_scene_dict_list``
/ ``Scene.from_scene_dict_list``, with these deliberate differences:

* log files are visited in sorted file-name order (navsim: ``Path.iterdir()`` order, which is
  file-system dependent), and only ``*.pkl`` files are read;
* calibrations of cameras that are not requested are kept (``image`` is ``None``), where navsim
  returns an empty ``Camera()``;
* a missing or corrupt sensor file raises :class:`~inspatio_drive.data.sensors.SensorError` naming
  the file and the frame, or — with ``lenient=True`` — yields an empty sensor (camera ``image=None``,
  LiDAR ``[6, 0]``) whose ``load_error`` says why (navsim raises / DrivoR yields an empty LiDAR).

navsim v2 second stage: with ``scene_filter.include_synthetic_scenes`` the loader also serves the synthetic scene
pickles of ``synthetic_scenes_path`` (navsim ``filter_synthetic_scenes``; :mod:`inspatio_drive.data.synthetic_scenes`)
after the log scenes: ``tokens`` = first-stage tokens + synthetic tokens, ``tokens_stage_one``,
``reactive_tokens_stage_two`` … as navsim's loader. Synthetic scenes are read whole per call (no log cache, no
``lenient`` / ``draft_size`` / timer).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from inspatio_drive.data.filters import SceneFilter, SensorConfig
from inspatio_drive.data.log_index import LogIndexCache, LogSummary
from inspatio_drive.data.log_reader import (
    LogFormatError,
    cameras_from_dict,
    driving_command,
    ego_dynamics,
    frame_from_dict,
    get_field,
    global_ego_pose,
    read_raw_log,
)
from inspatio_drive.data.roots import DataConfig, resolve_data_paths, resolve_synthetic_paths
from inspatio_drive.data.sensors import SensorError, SensorTimer, load_image, load_lidar
from inspatio_drive.data.splits import merge_scene_filters
from inspatio_drive.data.synthetic_scenes import (
    SyntheticSceneRef,
    index_synthetic_scenes,
    read_synthetic_scene,
)
from inspatio_drive.data.types import (
    CAMERA_NAMES,
    AgentInput,
    Camera,
    EgoStatus,
    Frame,
    Lidar,
    Scene,
    SceneMetadata,
    navsim_absolute_to_relative,
)


@dataclass(frozen=True)
class SceneRef:
    """Where a scene lives: log file, index of its first frame, and the log name stored in the log."""

    log_path: Path
    start: int
    log_name: str


def _split_windows(num_log_frames: int, scene_filter: SceneFilter) -> range:
    # navsim: frames[i : i + num_frames] for i in range(0, len, frame_interval); shorter windows dropped
    return range(0, max(num_log_frames - scene_filter.num_frames + 1, 0), scene_filter.frame_interval)


class SceneLoader:
    """Scenes and agent inputs of a split (navsim ``SceneLoader`` API).

    Args:
        data_path: folder of log pickles, ``$OPENSCENE_DATA_ROOT/navsim_logs/<split>``.
        sensor_blobs_path: ``$OPENSCENE_DATA_ROOT/sensor_blobs/<split>``; camera ``data_path`` and
            ``lidar_path`` are relative to it.
        scene_filter: scene windowing and selection (default: navsim defaults).
        sensor_config: which sensors to load (default: none, metadata only).
        lenient: a missing/corrupt sensor file yields an empty sensor instead of raising.
        cache_logs: how many parsed logs to keep in memory (LRU), >= 1.
        draft_size: ``(W, H)``: allow a reduced-size JPEG decode (Pillow draft mode, scale 1/2…1/8,
            never below ``(W, H)``) for consumers that resize anyway; ``None`` = full size (navsim).
        show_progress: tqdm bar while indexing the logs.
        timer: optional :class:`~inspatio_drive.data.sensors.SensorTimer` accumulating sensor I/O time
            (summed over threads when ``io_workers > 1``).
        io_workers: threads decoding the JPEGs of one call in parallel (Pillow releases the GIL while
            decoding); 1 = sequential.
        index_cache_dir: folder for a JSON summary of every log (tokens, routes; keyed by file size
            and mtime) so later loaders on the same split index without unpickling the logs;
            ``None`` = no cache.
        synthetic_scenes_path: folder of navsim synthetic scene pickles, read when
            ``scene_filter.include_synthetic_scenes`` (required then).
        synthetic_sensor_path: root of the synthetic scenes' sensor paths (default: ``<synthetic_scenes_path>/../
            sensor_blobs``, navsim's ``navhard_two_stage/sensor_blobs`` layout).
    """

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        sensor_blobs_path: str | os.PathLike[str] | None,
        scene_filter: SceneFilter | None = None,
        sensor_config: SensorConfig | None = None,
        lenient: bool = False,
        cache_logs: int = 2,
        draft_size: tuple[int, int] | None = None,
        show_progress: bool = True,
        timer: SensorTimer | None = None,
        io_workers: int = 1,
        index_cache_dir: str | os.PathLike[str] | None = None,
        synthetic_scenes_path: str | os.PathLike[str] | None = None,
        synthetic_sensor_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._data_path = Path(data_path)
        if not self._data_path.is_dir():
            raise FileNotFoundError(f"{self._data_path}: log folder not found (expected navsim_logs/<split> with *.pkl logs)")
        self._sensor_blobs_path = None if sensor_blobs_path is None else Path(sensor_blobs_path)
        self._scene_filter = SceneFilter() if scene_filter is None else scene_filter
        self._sensor_config = SensorConfig.build_no_sensors() if sensor_config is None else sensor_config
        if self._sensor_config.any_sensor and self._sensor_blobs_path is None:
            raise ValueError("SceneLoader: sensor_config requests sensors but sensor_blobs_path is None")
        if cache_logs < 1:
            raise ValueError(f"SceneLoader: cache_logs must be >= 1, got {cache_logs}")
        self._lenient = lenient
        self._cache_logs = cache_logs
        self._draft_size = draft_size
        self._timer = timer
        if io_workers < 1:
            raise ValueError(f"SceneLoader: io_workers must be >= 1, got {io_workers}")
        self._io_workers = io_workers
        self._pool: ThreadPoolExecutor | None = None
        self._index_cache_dir = None if index_cache_dir is None else Path(index_cache_dir)
        # LRU of parsed logs: path -> (frame dicts, {frame index: validated camera calibrations})
        self._cache: OrderedDict[Path, tuple[list[dict[str, Any]], dict[int, dict[str, Camera]]]] = OrderedDict()
        self._final_tokens: list[str] = []
        self._index: dict[str, SceneRef] = self._build_index(show_progress)
        self._synthetic_sensor_path = None if synthetic_sensor_path is None else Path(synthetic_sensor_path)
        self._synthetic: dict[str, SyntheticSceneRef] = {}
        if self._scene_filter.include_synthetic_scenes:
            if synthetic_scenes_path is None:
                raise ValueError("SceneLoader: scene_filter.include_synthetic_scenes is true but synthetic_scenes_path "
                                 "is None (the folder of navsim synthetic scene pickles; data.synthetic_scenes_path)")
            self._synthetic = index_synthetic_scenes(synthetic_scenes_path, self._scene_filter, self._final_tokens,
                                                     show_progress)

    # ------------------------------------------------------------------ index
    def _log_files(self) -> list[Path]:
        files = sorted(p for p in self._data_path.iterdir() if p.suffix == ".pkl" and p.is_file())
        names = self._scene_filter.log_names
        if names is not None:
            wanted = set(names)
            files = [p for p in files if p.name.replace(".pkl", "") in wanted]
        return files

    def _build_index(self, show_progress: bool) -> dict[str, SceneRef]:
        sf = self._scene_filter
        wanted = None if sf.tokens is None else set(sf.tokens)
        cur = sf.num_history_frames - 1
        cache = None if self._index_cache_dir is None else LogIndexCache(self._index_cache_dir, self._data_path)
        index: dict[str, SceneRef] = {}
        try:
            for log_path in tqdm(self._log_files(), desc="Indexing logs", disable=not show_progress, leave=False):
                summary = None if cache is None else cache.get(log_path)
                if summary is None:
                    summary = LogSummary.from_frames(read_raw_log(log_path))
                    if cache is not None:
                        cache.put(log_path, summary)
                for start in _split_windows(summary.num_frames, sf):
                    i = start + cur
                    if sf.has_route:
                        if summary.route_lengths[i] is None:
                            raise LogFormatError(f"{log_path}: frame {i}: field 'roadblock_ids': expected list of str")
                        if summary.route_lengths[i] == 0:
                            continue
                    token = summary.tokens[i]
                    if token is None:
                        raise LogFormatError(f"{log_path}: frame {i}: field 'token': expected str")
                    if wanted is not None and token not in wanted:
                        continue
                    index[token] = SceneRef(log_path, start, summary.log_names[start] or log_path.stem)
                    final = summary.tokens[start + sf.num_frames - 1]
                    if final is not None:  # navsim: synthetic scenes continue the final frame of a scene
                        self._final_tokens.append(final)
                    if sf.max_scenes is not None and len(index) >= sf.max_scenes:
                        return index
        finally:
            if cache is not None:
                cache.save()
        return index

    # ------------------------------------------------------------------ navsim API
    @property
    def tokens(self) -> list[str]:
        """Scene tokens: the log scenes in log order, then the synthetic scenes (navsim order)."""
        return list(self._index) + list(self._synthetic)

    @property
    def tokens_stage_one(self) -> list[str]:
        """The scenes read from logs (navsim ``tokens_stage_one``)."""
        return list(self._index)

    @property
    def synthetic_tokens(self) -> list[str]:
        """The synthetic scenes served (``initial_token`` of each pickle)."""
        return list(self._synthetic)

    def _stage_two(self, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        wanted = set(names)
        return [t for t in self._synthetic if t in wanted]

    @property
    def reactive_tokens_stage_two(self) -> list[str] | None:
        """Synthetic scenes listed in ``reactive_synthetic_initial_tokens`` (``None`` without that list)."""
        return self._stage_two(self._scene_filter.reactive_synthetic_initial_tokens)

    @property
    def non_reactive_tokens_stage_two(self) -> list[str] | None:
        """Synthetic scenes listed in ``non_reactive_synthetic_initial_tokens`` (``None`` without that list)."""
        return self._stage_two(self._scene_filter.non_reactive_synthetic_initial_tokens)

    @property
    def reactive_tokens(self) -> list[str]:
        """First-stage scenes + the reactive second-stage ones (navsim ``reactive_tokens``)."""
        return self.tokens_stage_one + (self.reactive_tokens_stage_two or [])

    @property
    def non_reactive_tokens(self) -> list[str]:
        """First-stage scenes + the non-reactive second-stage ones (navsim ``non_reactive_tokens``)."""
        return self.tokens_stage_one + (self.non_reactive_tokens_stage_two or [])

    def is_synthetic(self, token: str) -> bool:
        """Whether ``token`` is served from a synthetic scene pickle."""
        return token in self._synthetic

    def synthetic_ref(self, token: str) -> SyntheticSceneRef:
        """Pickle path and metadata of a synthetic scene token."""
        try:
            return self._synthetic[token]
        except KeyError:
            raise KeyError(f"scene token {token!r} is not a synthetic scene of this SceneLoader "
                           f"({len(self._synthetic)} synthetic scenes)") from None

    def __len__(self) -> int:
        return len(self._index) + len(self._synthetic)

    def __getitem__(self, idx: int) -> str:
        return self.tokens[idx]

    def __contains__(self, token: object) -> bool:
        return token in self._index or token in self._synthetic

    @property
    def scene_filter(self) -> SceneFilter:
        return self._scene_filter

    @property
    def sensor_config(self) -> SensorConfig:
        return self._sensor_config

    def scene_ref(self, token: str) -> SceneRef:
        """Log file and window start of a scene token (synthetic scenes have none: :meth:`synthetic_ref`)."""
        try:
            return self._index[token]
        except KeyError:
            if token in self._synthetic:
                raise KeyError(f"scene token {token!r} is a synthetic scene ({self._synthetic[token].path}), not a "
                               "window of a log") from None
            raise KeyError(f"scene token {token!r} is not in this SceneLoader ({len(self)} scenes from {self._data_path})") from None

    def get_tokens_list_per_log(self) -> dict[str, list[str]]:
        """``{log_name: [scene tokens]}`` (log name as stored in the first frame of each scene)."""
        out: dict[str, list[str]] = {}
        for token, ref in self._index.items():
            out.setdefault(ref.log_name, []).append(token)
        for token, syn in self._synthetic.items():  # navsim lists the pickle's file stem (= its scene token)
            out.setdefault(syn.log_name, []).append(token)
        return out

    def get_scene_frames(self, token: str) -> list[dict[str, Any]]:
        """The raw OpenScene frame dicts of a scene (``num_frames`` of them)."""
        ref = self.scene_ref(token)
        frames, _ = self._load_log(ref.log_path)
        return frames[ref.start : ref.start + self._scene_filter.num_frames]

    def get_agent_input_from_token(self, token: str) -> AgentInput:
        """History ego statuses (float32 poses relative to the current rear axle, as navsim's loader; float64 for
        a synthetic scene, navsim's ``Scene.get_agent_input``) and the requested history sensors of a scene."""
        if token in self._synthetic:
            return self._synthetic_scene(token).get_agent_input()
        ref = self.scene_ref(token)
        frames = self.get_scene_frames(token)
        source = str(ref.log_path)
        n_hist = self._scene_filter.num_history_frames
        global_poses = np.stack([global_ego_pose(frames[i], source, ref.start + i) for i in range(n_hist)])
        local = navsim_absolute_to_relative(global_poses[-1], global_poses)
        statuses, cameras, lidars = [], [], []
        for i in range(n_hist):
            idx = ref.start + i
            velocity, acceleration = ego_dynamics(frames[i], source, idx)
            statuses.append(
                EgoStatus(
                    ego_pose=np.array(local[i], dtype=np.float32),
                    ego_velocity=velocity,
                    ego_acceleration=acceleration,
                    driving_command=driving_command(frames[i], source, idx),
                )
            )
            cams, lidar = self._sensors(frames[i], i, source, idx)
            cameras.append(cams)
            lidars.append(lidar)
        return AgentInput(statuses, cameras, lidars)

    def get_scene_from_token(self, token: str) -> Scene:
        """Full scene: global frames with annotations; sensors per ``sensor_config`` at every scene frame. A
        synthetic scene also carries its ``extended_*`` steps."""
        if token in self._synthetic:
            return self._synthetic_scene(token)
        ref = self.scene_ref(token)
        frames = self.get_scene_frames(token)
        source = str(ref.log_path)
        cur = self._scene_filter.num_history_frames - 1
        current = frames[cur]
        metadata = SceneMetadata(
            log_name=str(get_field(current, "log_name", source, ref.start + cur)),
            scene_token=str(get_field(current, "scene_token", source, ref.start + cur)),
            map_name=str(get_field(current, "map_location", source, ref.start + cur)),
            initial_token=str(get_field(current, "token", source, ref.start + cur)),
            num_history_frames=self._scene_filter.num_history_frames,
            num_future_frames=self._scene_filter.num_future_frames,
        )
        out: list[Frame] = []
        for i, raw in enumerate(frames):
            idx = ref.start + i
            cameras, lidar = self._sensors(raw, i, source, idx)
            out.append(frame_from_dict(raw, source, idx, cameras, lidar))
        return Scene(metadata, out)

    def close(self) -> None:
        """Drop cached logs and stop the decode threads (the loader stays usable)."""
        self._cache.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        # picklable for process pools: ship the index, not the cached logs or the decode threads
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        state["_pool"] = None
        return state

    def __enter__(self) -> SceneLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _synthetic_scene(self, token: str) -> Scene:
        ref = self._synthetic[token]
        return read_synthetic_scene(ref.path, self._synthetic_sensor_path, sensor_config=self._sensor_config)

    def _load_log(self, path: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Camera]]]:
        entry = self._cache.get(path)
        if entry is not None:
            self._cache.move_to_end(path)
            return entry
        entry = (read_raw_log(path), {})
        self._cache[path] = entry
        while len(self._cache) > self._cache_logs:
            self._cache.popitem(last=False)
        return entry

    def _calibrations(self, raw: Mapping[str, Any], source: str, index: int) -> dict[str, Camera]:
        """Fresh :class:`Camera` objects (own array copies) for a frame; validated once per log residency."""
        entry = self._cache.get(Path(source))
        cached = None if entry is None else entry[1].get(index)
        if cached is None:
            cached = cameras_from_dict(raw, source, index)
            if entry is not None:
                entry[1][index] = cached
        return {
            name: Camera(
                name=name,
                image=None,
                intrinsics=cam.intrinsics.copy(),
                sensor2ego_rotation=cam.sensor2ego_rotation.copy(),
                sensor2ego_translation=cam.sensor2ego_translation.copy(),
                distortion=cam.distortion.copy(),
                data_path=cam.data_path,
            )
            for name, cam in cached.items()
        }

    def _sensors(self, raw: Mapping[str, Any], iteration: int, source: str, index: int) -> tuple[dict[str, Camera], Lidar]:
        wanted = set(self._sensor_config.get_sensors_at_iteration(iteration))
        cameras = self._calibrations(raw, source, index)
        token = str(raw.get("token", "?"))
        jobs = [cameras[name] for name in CAMERA_NAMES if name.lower() in wanted]
        t0 = time.perf_counter()
        if self._io_workers > 1 and len(jobs) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._io_workers, thread_name_prefix="inspatio-jpeg")
            outcomes = list(self._pool.map(lambda cam: self._decode(cam, token), jobs))
        else:
            outcomes = [self._decode(cam, token) for cam in jobs]
        for cam, (image, error) in zip(jobs, outcomes):
            if error is not None and not self._lenient:
                raise error
            cam.image, cam.load_error = image, None if error is None else str(error)
        if jobs and self._timer is not None:
            self._timer.add("cameras_wall", time.perf_counter() - t0)
        lidar_path = raw.get("lidar_path")
        if not isinstance(lidar_path, str):
            raise LogFormatError(f"{source}: frame {index} (token {token}): field 'lidar_path': expected str, got {lidar_path!r}")
        lidar = Lidar(points=None, data_path=lidar_path)
        if "lidar_pc" in wanted:
            try:
                lidar.points = load_lidar(self._blob(lidar_path), token, self._timer)
            except SensorError as exc:
                if not self._lenient:
                    raise
                lidar.points = np.zeros((6, 0), dtype=np.float32)
                lidar.load_error = str(exc)
        return cameras, lidar

    def _decode(self, cam: Camera, token: str) -> tuple[np.ndarray | None, SensorError | None]:
        try:
            return load_image(self._blob(cam.data_path), token, self._draft_size, self._timer), None
        except SensorError as exc:
            return None, exc

    def _blob(self, relative: str | None) -> Path:
        assert self._sensor_blobs_path is not None  # checked in __init__
        return self._sensor_blobs_path / (relative or "")


def scene_loader_from_config(
    data: Mapping[str, Any] | DataConfig,
    *,
    sensors: str | Mapping[str, Any] | SensorConfig | None = None,
    lenient: bool | None = None,
    show_progress: bool | None = None,
    index_cache_dir: str | os.PathLike[str] | None = None,
    timer: SensorTimer | None = None,
) -> SceneLoader:
    """The one way every command builds a :class:`SceneLoader`: from a ``data`` node (``configs/data/*.yaml``,
    schema :class:`~inspatio_drive.data.roots.DataConfig`).

    Args:
        data: the ``data`` node (dict, hydra ``DictConfig`` or :class:`DataConfig`).
        sensors: overrides ``data.sensor_config`` (``all`` | ``drivor`` | ``none`` | mapping | ``SensorConfig``)
            for commands that need given sensors.
        lenient, show_progress, index_cache_dir: override the node's values when given.
        timer: optional sensor I/O timer.

    ``data.scene_token`` keeps that one scene (``scene_filter.tokens = [scene_token]``). ``data.split`` naming a navsim split (``navtest``, ``navmini``, ``navhard_two_stage``; ``configs/data_splits``)
    reads its ``data_split`` folder through its scene filter, merged with ``data.scene_filter``
    (:func:`~inspatio_drive.data.splits.merge_scene_filters`); ``data.scene_filter_yaml`` then overrides fields.
    With ``include_synthetic_scenes`` the synthetic scenes come from ``data.synthetic_scenes_path``
    (:func:`~inspatio_drive.data.roots.resolve_synthetic_paths`).

    Raises:
        ValueError: a renamed or unknown key, no data root (``data_root`` / ``$OPENSCENE_DATA_ROOT``), or a
            ``data.scene_filter`` key that conflicts with the navsim split.
    """
    cfg = DataConfig.from_node(data)
    logs, blobs, _ = resolve_data_paths(cfg)
    filter_cfg = dict(cfg.scene_filter or {})
    named = cfg.navsim_split()
    if named is not None:  # navsim's split file: its log names, tokens and windowing
        filter_cfg = merge_scene_filters(named, filter_cfg)
    if cfg.scene_filter_yaml:
        filter_cfg.update(asdict(SceneFilter.from_yaml(cfg.scene_filter_yaml)))
    if cfg.scene_token not in (None, ""):  # one scene: kept only if the filter keeps it too
        tokens = filter_cfg.get("tokens")
        filter_cfg["tokens"] = [str(cfg.scene_token)] if tokens is None or str(cfg.scene_token) in map(
            str, tokens) else []
    scene_filter = SceneFilter.from_mapping(filter_cfg)
    synthetic, synthetic_blobs = resolve_synthetic_paths(cfg) if scene_filter.include_synthetic_scenes else (None, None)
    spec = cfg.sensor_config if sensors is None else sensors
    sensor_config = spec if isinstance(spec, SensorConfig) else SensorConfig.from_mapping(
        spec if isinstance(spec, str) else dict(spec))
    draft = cfg.draft_size
    cache_dir = cfg.index_cache_dir if index_cache_dir is None else index_cache_dir
    return SceneLoader(
        logs,
        blobs,
        scene_filter,
        sensor_config,
        lenient=bool(cfg.lenient if lenient is None else lenient),
        cache_logs=int(cfg.cache_logs),
        draft_size=None if draft is None else (int(draft[0]), int(draft[1])),
        show_progress=bool(cfg.show_progress if show_progress is None else show_progress),
        timer=timer,
        io_workers=int(cfg.io_workers),
        index_cache_dir=cache_dir,
        synthetic_scenes_path=synthetic,
        synthetic_sensor_path=synthetic_blobs,
    )


__all__ = ["SceneLoader", "SceneRef", "scene_loader_from_config"]
