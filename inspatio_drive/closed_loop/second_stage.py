"""``inspatio-drive second-stage``: navhard-style second-stage (follow-up) scenes for the scenes of any split.

For every stage-one scene ``orig`` (current log frame ``f``, time t0) of the split, with ``prev`` the log scene
0.5 s before it (frame ``f − 1``), ``per_scene`` start states are sampled around the *logged* ego state
``ahead_frames`` frames later (default 8 = 4 s): a rigid lateral offset (left, m), a heading offset (counter-
clockwise, deg) and a speed factor, each uniform in ``±lateral_m``, ``±heading_deg``, ``1 ± speed``
(:class:`~inspatio_drive.closed_loop.counterfactual.Perturbation`, applied about the follow-up's current pose with
:func:`~inspatio_drive.closed_loop.counterfactual.counterfactual_scene`). Each start gives two synthetic scenes,
cut from one perturbed window of the log (frames ``f + a − 4 … f + a + 8``):

* ``now``: current frame ``f + a`` (4 history frames, the current one included);
* ``prev``: its companion 0.5 s earlier on the same perturbed path (current frame ``f + a − 1``).

Each is written in navhard's layout: ``frames`` = its 4 history frames only (``num_future_frames`` 0), and the
``future_frames`` frames after them as navsim's ``extended_detections_tracks`` (nuplan ``DetectionsTracks`` of the
logged objects, global boxes) and ``extended_traffic_light_data`` (nuplan ``TrafficLightStatuses``), pickled under
the nuplan class names (:mod:`inspatio_drive.data.nuplan_records`), so navsim's ``NavSimScenario`` serves the
frames after the scene from them as it does for navhard, and no perturbed "future ego path" is stored.

Tokens have 17 hex characters (navsim's mark of a synthetic scene). The history frames' cameras are rendered at
the perturbed poses — by the geometric renderer (``source=geometric``, default; the coloured point cloud of the
window's logged history), by the world model (``generator=inspatio``), or by the sandbox oracle (``source=oracle``,
true views of a sandbox world) —; the LiDAR is the logged sweep re-expressed in the perturbed ego frame (the oracle:
a true sweep from the perturbed pose; ``lidar=none``: no LiDAR); objects (boxes re-expressed), traffic lights and
route are carried from the log. The future (extended steps) carries objects and lights only (what the metric cache
needs).

Written into ``output_dir`` (one synthetic-scene writer in the project:
:func:`~inspatio_drive.closed_loop.counterfactual.write_synthetic_scene`)::

    synthetic_scene_pickles/<17-char token>.pkl    # navsim v2 synthetic scenes (Scene.save_to_disk layout)
    sensor_blobs/<log>/<CAM_xx|MergedPointCloud>/<token>_<i>.jpg|.pcd
    split.yaml                                      # navsim split: data_split, scene_filter (stage-one tokens,
                                                    # synthetic_scene_tokens, reactive_synthetic_initial_tokens),
                                                    # reactive_all_mapping [orig, prev, [[now, prev], ...]]
    manifest.csv, failed.csv                        # one row per follow-up (its start offsets); scenes skipped

``inspatio-drive evaluate metric=epdms traffic=reactive data.split_file=<output_dir>/split.yaml`` (same data root)
then runs navsim v2.2's two-stage EPDMS on them. Resumable: a scene whose pickles are all present is not rendered
again (tokens and start states are deterministic in the seed and the scene token).
"""

from __future__ import annotations

import csv
import hashlib
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from omegaconf import OmegaConf
from tqdm import tqdm

from inspatio_drive.closed_loop.counterfactual import (
    CAMERA_KEYS,
    GeneratedRenderFn,
    GeometricRenderFn,
    Perturbation,
    RenderedView,
    RenderFn,
    counterfactual_scene,
    synthetic_token,
    write_synthetic_scene,
)
from inspatio_drive.data import scene_loader_from_config
from inspatio_drive.data.filters import SensorConfig
from inspatio_drive.data.nuplan_records import tracked_objects_of_frame, traffic_lights_of_frame
from inspatio_drive.data.roots import DataConfig, resolve_data_paths
from inspatio_drive.data.synthetic_scenes import SYNTHETIC_TOKEN_LENGTH
from inspatio_drive.data.types import Lidar, Scene, SceneMetadata
from inspatio_drive.render.mono_depth import wants_oracle_depth
from inspatio_drive.sandbox.oracle import WORLD_FILE, Oracle
from inspatio_drive.world_model.condition import check_image_size
from inspatio_drive.world_model.factory import build_generator

__all__ = ["FollowUp", "OracleRenderFn", "SecondStageSampler", "follow_up_scenes", "make_second_stage",
           "run_second_stage"]

HISTORY = 4
"""History frames of a follow-up scene (navsim: 4, the current one included)."""


@dataclass(frozen=True)
class SecondStageSampler:
    """How follow-up start states are drawn around the logged ego ``ahead_frames`` frames (0.5 s each) later.

    Attributes:
        per_scene: follow-ups (each with its 0.5 s earlier companion) per stage-one scene.
        lateral_m: lateral offsets uniform in ``[−lateral_m, lateral_m]`` (m, left positive).
        heading_deg: heading offsets uniform in ``[−heading_deg, heading_deg]`` (deg, counter-clockwise).
        speed: speed factors uniform in ``[1 − speed, 1 + speed]``.
        ahead_frames: frames between the stage-one scene and its follow-ups (8 = 4 s, navhard).
        future_frames: future frames of each follow-up (8 = 4 s: what the EPDMS metric cache needs).
        seed: the draws of scene ``orig`` use ``(seed, hash(orig))``.
    """

    per_scene: int = 5
    lateral_m: float = 1.0
    heading_deg: float = 5.0
    speed: float = 0.2
    ahead_frames: int = 8
    future_frames: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.per_scene < 1:
            raise ValueError(f"second_stage.per_scene: expected >= 1, got {self.per_scene}")
        if not 0 <= self.speed < 1:
            raise ValueError(f"second_stage.speed: expected 0 <= speed < 1 (factors 1 ± speed), got {self.speed}")
        if self.ahead_frames < 1 or self.future_frames < 1:
            raise ValueError("second_stage.ahead_frames and future_frames: expected >= 1, got "
                             f"{self.ahead_frames}, {self.future_frames}")

    def draw(self, orig: str) -> list[Perturbation]:
        """The ``per_scene`` start offsets of stage-one scene ``orig`` (deterministic)."""
        rng = np.random.default_rng([self.seed, int(hashlib.sha1(orig.encode()).hexdigest()[:8], 16)])
        u = rng.uniform(-1.0, 1.0, size=(self.per_scene, 3))
        return [Perturbation(f"{orig}/second_stage/{self.seed}/{k}", float(self.lateral_m * a),
                             float(self.heading_deg * b), float(1.0 + self.speed * c))
                for k, (a, b, c) in enumerate(u)]


@dataclass(frozen=True)
class FollowUp:
    """One follow-up pair: the ``now`` scene (≈ t0 + 4 s) and its ``prev`` companion (0.5 s earlier)."""

    now: Scene
    prev: Scene
    perturbation: Perturbation


class OracleRenderFn:
    """:data:`~inspatio_drive.closed_loop.counterfactual.RenderFn` of the sandbox oracle: the true views of the
    sandbox world from the perturbed pose, and (:meth:`lidar`) the true LiDAR sweep.

    Args:
        blobs: ``sensor_blobs/<split>`` of the sandbox data root (``<log>/sandbox_world.json`` per log).
        cameras: rendered cameras. frames: ``history`` (history + current frames of the source window) | ``all``.
    """

    def __init__(self, blobs: str | Path, cameras: Sequence[str] = tuple(k.upper() for k in CAMERA_KEYS),
                 frames: str = "history") -> None:
        self.blobs, self.cameras, self.frames = Path(blobs), tuple(cameras), frames
        self._oracles: dict[str, Oracle] = {}

    def oracle(self, log_name: str) -> Oracle:
        if log_name not in self._oracles:
            spec = self.blobs / log_name / WORLD_FILE
            if not spec.is_file():
                raise FileNotFoundError(f"{spec}: no sandbox world for log {log_name} (source=oracle needs a sandbox "
                                        "data root written by inspatio-drive sandbox)")
            self._oracles[log_name] = Oracle(spec)
        return self._oracles[log_name]

    def wanted(self, scene: Scene, index: int) -> bool:
        return self.frames == "all" or index <= scene.current_index

    def __call__(self, scene: Scene, index: int, pose: NDArray[np.float64]) -> dict[str, RenderedView]:
        if not self.wanted(scene, index):
            return {}
        oracle = self.oracle(scene.scene_metadata.log_name)
        names = [n for n in self.cameras if n in oracle.rig]
        views = oracle.render_many(names, pose, oracle.time_of(scene.frames[index].timestamp))
        return {n: RenderedView(np.ascontiguousarray(v.rgb), oracle.rig[n].K) for n, v in zip(names, views, strict=True)}

    def history_depths(self, scene: Scene, frames: int = 1) -> Mapping:
        """True depths of the scene's logged history images (``depth=oracle``: a perfect monocular model)."""
        return self.oracle(scene.scene_metadata.log_name).history_depths(scene, frames=frames)

    def lidar(self, scene: Scene, index: int, pose: NDArray[np.float64]) -> NDArray[np.float32]:
        """True merged sweep ``[6, N]`` (ego frame) from ``pose`` (global) at frame ``index``'s time."""
        oracle = self.oracle(scene.scene_metadata.log_name)
        return oracle.lidar(pose, oracle.time_of(scene.frames[index].timestamp))


class _TooShort(ValueError):
    """The log has not the frames a stage-one scene's companion or follow-ups need."""


def _cut(window: Scene, moved: Scene, start: int, orig_log: str, future: int) -> Scene:
    """A follow-up in navhard's layout: frames ``start … start + HISTORY − 1`` of the perturbed window (history and
    current frame, ``num_future_frames`` 0) and the ``future`` frames after them as extended steps: the logged
    frames' objects made global with the *logged* ego poses (navsim ``annotations_to_detection_tracks``) and their
    traffic lights (RED / GREEN)."""
    frames = moved.frames[start:start + HISTORY]
    later = window.frames[start + HISTORY:start + HISTORY + future]
    token = frames[HISTORY - 1].token
    meta = SceneMetadata(orig_log, token, window.scene_metadata.map_name, token, HISTORY, 0)
    return Scene(meta, frames, extended_traffic_lights=[traffic_lights_of_frame(f) for f in later],
                 extended_detections=[tracked_objects_of_frame(f) for f in later])


def follow_up_scenes(window: Scene, p: Perturbation, future_frames: int, render_fn: RenderFn | None = None,
                     lidar: str = "reexpress", lidar_fn: Callable[..., NDArray[np.float32]] | None = None) -> FollowUp:
    """The ``now`` / ``prev`` pair of one start state.

    Args:
        window: the log scene whose current frame is the follow-up's (t0 + 4 s): ``HISTORY + 1`` history frames
            (the companion needs one more) and ``future_frames`` future frames, history sensors loaded.
        p: the start offset about the window's current pose.
        lidar: ``reexpress`` (the logged sweep seen from the new pose) | ``oracle`` (``lidar_fn(window, i, pose)``)
            | ``none``.
    """
    if window.current_index != HISTORY or len(window.frames) != HISTORY + 1 + future_frames:
        raise ValueError(f"follow_up_scenes: expected a window of {HISTORY + 1} history + {future_frames} future "
                         f"frames, got {window.current_index + 1} + {len(window.frames) - window.current_index - 1}")
    moved = counterfactual_scene(window, p, render_fn, token_length=SYNTHETIC_TOKEN_LENGTH)
    frames = []
    for i, f in enumerate(moved.frames):
        if lidar == "none" or i > window.current_index:
            f = replace(f, lidar=Lidar(None))
        elif lidar == "oracle":
            assert lidar_fn is not None
            f = replace(f, lidar=Lidar(lidar_fn(window, i, np.asarray(f.ego_status.ego_pose, np.float64))))
        frames.append(f)
    moved = Scene(moved.scene_metadata, frames)
    log = window.scene_metadata.log_name
    return FollowUp(_cut(window, moved, 1, log, future_frames), _cut(window, moved, 0, log, future_frames), p)


def _follow_up_tokens(window_tokens: Sequence[str], p: Perturbation) -> tuple[str, str]:
    """(now, prev) tokens of a follow-up from the window's log frame tokens (as :func:`follow_up_scenes` makes them)."""
    return (synthetic_token(window_tokens[HISTORY], p.name, SYNTHETIC_TOKEN_LENGTH),
            synthetic_token(window_tokens[HISTORY - 1], p.name, SYNTHETIC_TOKEN_LENGTH))


def make_second_stage(data: Mapping[str, Any], out: str | Path, sampler: SecondStageSampler,
                      render_fn: RenderFn | None = None, lidar: str = "reexpress",
                      lidar_fn: Callable[..., NDArray[np.float32]] | None = None,
                      tokens: Sequence[str] | None = None, max_scenes: int | None = None,
                      progress: bool = True) -> dict[str, Any]:
    """Follow-up scenes for the scenes of the split of ``data``, their split YAML and manifest (module docstring).

    Returns:
        ``output_dir``, ``split_file``, ``mappings`` (written), ``skipped`` (scenes already written), ``failed``
        (``[(token, reason)]``: a scene without the frames or whose rendering failed; the rest are written),
        ``too_short`` (how many of them lack the frames: a scene needs 4 frames before it and
        ``ahead_frames + future_frames`` after it in its log).

    Raises:
        ValueError: no stage-one scene, or no scene could be given a second stage.
    """
    if lidar not in ("reexpress", "oracle", "none"):
        raise ValueError(f"second_stage.lidar: expected reexpress | oracle | none, got {lidar!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = DataConfig.from_node(data)
    named = cfg.navsim_split()
    folder = resolve_data_paths(cfg)[0].name
    stage_one = scene_loader_from_config(cfg, sensors="none", show_progress=False)
    orig_tokens = list(stage_one.tokens_stage_one)
    if tokens:
        missing = sorted(set(tokens) - set(orig_tokens))
        if missing:
            raise ValueError(f"second_stage.tokens: {missing[:5]} not in the split after the scene filter")
        orig_tokens = [t for t in orig_tokens if t in set(tokens)]
    if max_scenes:
        orig_tokens = orig_tokens[: int(max_scenes)]
    if not orig_tokens:
        raise ValueError("second-stage: no stage-one scene in the split (check data.* and the scene filter)")
    logs = sorted({stage_one.scene_ref(t).log_name for t in orig_tokens})
    every = dict(log_names=logs, num_history_frames=1, num_future_frames=0, frame_interval=1, has_route=False)
    plain = {**{k: getattr(cfg, k) for k in ("data_root", "split", "sensor_split", "maps_root", "lenient")},
             "split_file": None, "split": folder}
    frames_of = scene_loader_from_config({**plain, "scene_filter": every}, sensors="none", show_progress=False)
    position = {t: (log, i) for log, ts in frames_of.get_tokens_list_per_log().items() for i, t in enumerate(ts)}
    per_log = frames_of.get_tokens_list_per_log()
    cur = HISTORY  # the window's current index (5 history frames)
    history = list(range(cur + 1))
    sensors = SensorConfig.build_all_sensors(include=history) if (render_fn is not None or lidar == "reexpress") \
        else SensorConfig.build_no_sensors()
    windows = scene_loader_from_config(
        {**plain, "scene_filter": dict(log_names=logs, num_history_frames=HISTORY + 1,
                                       num_future_frames=sampler.future_frames, frame_interval=1, has_route=False)},
        sensors=sensors, show_progress=False)
    a, fut = sampler.ahead_frames, sampler.future_frames
    mappings: list[list[Any]] = []
    manifest: list[dict[str, Any]] = []
    failed: list[tuple[str, str]] = []
    skipped = 0
    stage_one_tokens: list[str] = []
    with tqdm(orig_tokens, desc="second-stage", unit="scene", disable=not progress) as bar:
        for orig in bar:
            try:
                log, f = position[orig]
                log_tokens = per_log[log]
                if f < HISTORY:
                    raise _TooShort(f"frame {f} of log {log}: the 0.5 s earlier stage-one scene needs {HISTORY} "
                                     "history frames before it")
                if f + fut >= len(log_tokens) or f + a + fut >= len(log_tokens):
                    raise _TooShort(f"frame {f} of log {log} ({len(log_tokens)} frames): a follow-up {a} frames "
                                     f"ahead with {fut} future frames needs frame {f + a + fut}")
                prev = log_tokens[f - 1]
                window_tokens = log_tokens[f + a - cur: f + a + fut + 1]
                draws = sampler.draw(orig)
                pairs = [_follow_up_tokens(window_tokens, p) for p in draws]
                pickles = out / "synthetic_scene_pickles"
                done = all((pickles / f"{t}.pkl").is_file() for pair in pairs for t in pair)
                if done:
                    skipped += 1
                else:
                    window = windows.get_scene_from_token(log_tokens[f + a])
                    for p in draws:
                        fu = follow_up_scenes(window, p, fut, render_fn, lidar, lidar_fn)
                        write_synthetic_scene(fu.prev, None, out, (log_tokens[f + a - 1], prev))
                        write_synthetic_scene(fu.now, None, out, (log_tokens[f + a], orig))
                for (now_t, prev_t), p in zip(pairs, draws, strict=True):
                    manifest.append({"orig": orig, "prev": prev, "now_token": now_t, "prev_token": prev_t,
                                     "log_name": log, "lateral_m": p.lateral_m, "heading_deg": p.heading_deg,
                                     "speed_factor": p.speed_factor})
                mappings.append([orig, prev, [list(pair) for pair in pairs]])
                stage_one_tokens += [orig, prev]
            except Exception as exc:  # a bad scene is reported and skipped, the rest are written
                reason = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
                failed.append((orig, reason))
                if not isinstance(exc, _TooShort):  # a scene near the start / end of its log is no surprise
                    bar.write(f"second-stage: scene {orig} skipped: {reason}")
    with open(out / "failed.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["token", "error"])
        w.writerows(failed)
    if not mappings:
        raise ValueError(f"second-stage: no scene could be given a second stage ({len(failed)} failed; first: "
                         f"{failed[0][1] if failed else '-'}); see {out / 'failed.csv'}")
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(manifest[0]))
        w.writeheader()
        w.writerows(manifest)
    synthetic = [t for m in mappings for pair in m[2] for t in pair]
    split = {
        "data_split": folder,
        "scene_filter": {"num_history_frames": HISTORY, "num_future_frames": fut, "frame_interval": 1,
                         "has_route": False, "max_scenes": None, "include_synthetic_scenes": True,
                         "log_names": sorted({m["log_name"] for m in manifest}),
                         "tokens": list(dict.fromkeys(stage_one_tokens)), "synthetic_scene_tokens": synthetic,
                         "reactive_synthetic_initial_tokens": list(synthetic)},
        "reactive_all_mapping": mappings,
    }
    source = named.name if named is not None else folder
    header = (f"# second stage of split {source!r} written by inspatio-drive second-stage: navsim split format "
              f"(data_split, scene_filter, reactive_all_mapping)\n# evaluate: inspatio-drive evaluate metric=epdms "
              f"traffic=reactive data.split_file=<this file> (same data root)\n")
    split_file = out / "split.yaml"
    tmp = split_file.with_name(".split.yaml.tmp")
    tmp.write_text(header + yaml.safe_dump(split, sort_keys=False, default_flow_style=None, width=200))
    tmp.replace(split_file)
    return {"output_dir": out, "split_file": split_file, "mappings": mappings, "skipped": skipped, "failed": failed,
            "manifest": out / "manifest.csv", "too_short": sum(r.startswith("_TooShort") for _, r in failed)}


def run_second_stage(cfg: Any) -> dict[str, Any]:
    """The composed ``second-stage`` config (``configs/second_stage.yaml``) → :func:`make_second_stage`."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    s = plain["second_stage"]
    source = str(s.get("source") or "geometric")
    if source not in ("geometric", "oracle"):
        raise ValueError(f"second_stage.source: expected geometric | oracle, got {source!r}")
    lidar = str(s.get("lidar") or "auto")
    if lidar == "auto":
        lidar = "oracle" if source == "oracle" else "reexpress"
    sampler = SecondStageSampler(int(s["per_scene"]), float(s["lateral_m"]), float(s["heading_deg"]),
                                 float(s["speed"]), int(s["ahead_frames"]), int(s["future_frames"]), int(s["seed"]))
    out = Path(s["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    gen_cfg = plain.get("generator") or {"name": "geometric"}
    depth, mono = str(s.get("depth") or "lidar"), dict(s.get("mono") or {})
    oracle = None
    if source == "oracle" or lidar == "oracle" or wants_oracle_depth(depth, mono):
        oracle = OracleRenderFn(resolve_data_paths(plain["data"])[1], list(s["cameras"]))
    render: Any = None
    if s.get("render", True):
        if source == "oracle":
            if gen_cfg.get("name", "geometric") != "geometric":
                raise ValueError("second_stage.source=oracle renders the true views: leave generator=geometric")
            render = oracle
        else:
            render = GeometricRenderFn(list(s["cameras"]), tuple(s["image_size"]), "history", int(s["sweeps"]),
                                       float(s["voxel_size"]), int(s["splat"]), int(s["hole_fill"]),
                                       str(s.get("device", "cpu")), depth, mono, bool(s.get("exposure_match", False)),
                                       None if oracle is None else oracle.history_depths)
            if gen_cfg.get("name", "geometric") != "geometric":
                check_image_size(s["image_size"], f"second_stage.image_size (generator={gen_cfg['name']})")
                render = GeneratedRenderFn(render, build_generator(gen_cfg), int(s.get("wm_frames", 9)),
                                           int(gen_cfg.get("seed", 0)))
    result = make_second_stage(plain["data"], out, sampler, render, lidar, None if oracle is None else oracle.lidar,
                               s.get("tokens"), s.get("max_scenes"), bool(s.get("progress", True)))
    result.update(source=source, lidar=lidar)
    return result
