"""The per-scene job of ``inspatio-drive evaluate``: plan once, select with and without the FC term, score
every candidate with the PDM score, and write one row per variant.

Variants (one row each per scene):

* ``base``     — the planner's own selection (DrivoR's formula on its sub-score logits);
* ``fc``       — base + ``w_fc · logσ(FC)`` (only when an FC scorer is configured);
* ``fc_only``  — argmax of the FC logit alone (study of issue 7);
* ``oracle``   — the best candidate by the true score (oracle@K, the headroom; privileged by definition).

The score is the one the ``metric`` knob names: ``pdms`` (NAVSIM v1.1, :func:`score_candidates`) or ``epdms``
(NAVSIM v2.2, :func:`~inspatio_drive.pdm.v2.score_epdms` with ``traffic`` and ``epdms.human_filter``); the
oracle variant, the FC training dumps and every row use it, and every row says which (``metric`` column, and
``traffic`` / ``human_filter`` for EPDMS). EPDMS rows carry what the one-stage aggregation needs
(:mod:`inspatio_drive.evaluation.epdms`).

The task is a picklable :class:`~inspatio_drive.evaluation.runner.SceneTask`: it holds only the plain config
and builds the loader, planner, FC scorer and maps in :meth:`setup` inside each worker.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate

from inspatio_drive.data import scene_loader_from_config
from inspatio_drive.data.roots import resolve_data_paths
from inspatio_drive.evaluation.epdms import (
    STATES_COLUMN,
    check_metric,
    encode_states,
    metric_columns,
    row_labels,
)
from inspatio_drive.evaluation.results import PDM_COLUMNS
from inspatio_drive.geometry.se2 import relative_to_absolute_se2
from inspatio_drive.maps import load_map
from inspatio_drive.pdm import MetricCache
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.cache.storage import MetricCacheStore
from inspatio_drive.pdm.scorer import score_candidates
from inspatio_drive.pdm.v2 import EPDMSCache, EPDMSConfig, score_epdms
from planners.factory import build_planner
from planners.pipeline import PlanningPipeline, PlanResult
from planners.scoring.scene_inputs import scene_inputs
from scorers.fusion import w_fc_from_config

SUBSCORES = PDM_COLUMNS  # navsim v1.1 sub-score names, CSV order


class EvaluateTask:
    """Scores one scene for every variant.

    Args:
        cfg: the composed ``configs/evaluate.yaml`` as a plain dict (``OmegaConf.to_container(resolve=True)``).
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        self.cfg = dict(cfg)
        has_fc = bool((self.cfg.get("scorer") or {}).get("model"))
        requested = tuple(self.cfg["eval"]["variants"])
        unknown = set(requested) - {"base", "fc", "fc_only", "oracle"}
        if unknown:
            raise ValueError(f"eval.variants: unknown {sorted(unknown)}; expected base, fc, fc_only, oracle")
        # without an FC scorer the fc variants do not exist (rather than being copies of base)
        self.variants = tuple(v for v in requested if has_fc or v not in ("fc", "fc_only"))
        self.w_fc = w_fc_from_config(self.cfg.get("scorer"))  # refuses the former scorer.weight early
        self.metric = str(self.cfg.get("metric") or "pdms")
        self.traffic = str(self.cfg.get("traffic") or "log_replay")
        self.human_filter = str((self.cfg.get("epdms") or {}).get("human_filter") or "v2.2")
        check_metric(self.metric, self.traffic, self.human_filter)
        self.columns = metric_columns(self.metric)
        self.labels = row_labels(self.metric, self.traffic, self.human_filter)
        self._ready = False

    # -- worker set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        if self._ready:
            return

        data = self.cfg["data"]
        logs, blobs, self.maps_root = resolve_data_paths(data)
        self.logs_path, self.blobs_path = logs, blobs
        sensors = self.cfg["eval"].get("sensors", "all")
        if sensors not in ("all", "drivor"):
            sensors = "none"
        index_dir = Path(self.cfg["eval"]["output_dir"]) / ".log_index"  # workers reuse the parent's index
        self.loader, self.bad_logs = _loader_without_bad_logs(data, logs, sensors, index_dir)
        if self.bad_logs:  # worker copies of the task skip the bad logs straight away
            self.cfg["data"] = _only_logs(data, sorted(_log_stems(logs, data) - set(self.bad_logs)))
        spec = build_planner(self.cfg["planner"])
        # a planner that runs on untrained weights (planner.random_weights=true) says so in every row
        self.random_weights = bool(getattr(spec.planner, "random_weights", False))
        fc_cfg = self.cfg.get("scorer") or {}
        fc = instantiate(fc_cfg["model"], _convert_="all") if fc_cfg.get("model") else None
        self.pipeline = PlanningPipeline(spec.planner, spec.weights, fc, self.w_fc)
        self.oracle = spec.oracle  # privileged PDM oracle scorer (needs the scene's metric cache)
        if self.oracle is not None and self.metric != "pdms":
            raise ValueError(f"planner.scorer=oracle ranks candidates by NAVSIM v1.1 PDMS, not metric={self.metric}; "
                             "use the oracle variant (eval.variants) for the best candidate by EPDMS")
        self.planner_name = str(getattr(spec.planner, "name", type(spec.planner).__name__))
        if self.oracle is not None:
            self.planner_name += "+oracle"
        fc_privileged = fc is not None and (getattr(fc, "mode", "honest") == "privileged"
                                            or bool(getattr(fc, "privileged_depth", False)))
        self.privileged = bool(self.cfg["eval"].get("privileged", False)) or spec.privileged or fc_privileged
        self._maps: dict[str, Any] = {}
        self._ready = True

    def tokens(self) -> list[str]:
        self.setup()
        return list(self.loader.tokens)

    # -- one scene ------------------------------------------------------------------------------------------
    def _map(self, name: str) -> Any:
        if name not in self._maps:

            self._maps[name] = load_map(self.maps_root, name)
        return self._maps[name]

    def metric_cache_store(self) -> Any:
        """The :class:`~inspatio_drive.pdm.cache.storage.MetricCacheStore` at ``eval.metric_cache_dir`` (None when
        unset): the layout of ``inspatio-drive metric-cache``, so either command reads what the other wrote."""
        cache_dir = self.cfg["eval"].get("metric_cache_dir")
        if not cache_dir:
            return None
        if getattr(self, "_store", None) is None:

            self._store = MetricCacheStore.open(cache_dir, metric=self.metric)
        return self._store

    def metric_cache(self, scene: Any) -> Any:
        """The scene's metric cache: read from the store at ``eval.metric_cache_dir`` when present there, else
        built (and written there). Workers write entry folders only; :func:`index_metric_caches` writes the store
        manifest once the run is over (no concurrent manifest writes)."""

        store = self.metric_cache_store()
        meta = scene.scene_metadata
        if store is not None:
            if meta.initial_token in store:
                return store.load(meta.initial_token)
            for folder in (store.entry_dir(meta.log_name, meta.initial_token),  # written by another worker
                           store.root / meta.initial_token):  # the layout evaluate wrote before the store
                if (folder / "manifest.json").is_file():
                    return EPDMSCache.load(folder) if self.metric == "epdms" else MetricCache.load(folder)
        build = build_epdms_cache if self.metric == "epdms" else build_metric_cache
        cache = build(scene, self._map(meta.map_name))
        if store is not None:
            store.save(cache)
        return cache

    def chosen_only(self) -> bool:
        """Whether a scene's rows need the scores of the chosen candidates only: EPDMS (each candidate is scored
        against PDM-Closed alone, so its numbers do not depend on the other candidates), no ``oracle`` variant and
        no FC dumps (both need every candidate)."""
        return (self.metric == "epdms" and "oracle" not in self.variants
                and not self.cfg["eval"].get("dump_dir"))

    def plan_and_score(self, token: str, chosen_only: bool = False) -> tuple[Any, PlanResult, Any, Any, dict[str, float]]:
        """(scene, plan, PDMResults of every candidate, metric cache, timings) — also used by the artefact
        writer. ``chosen_only`` (see :meth:`chosen_only`): the results hold the candidates the variants choose
        only, in increasing candidate order."""
        self.setup()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        scene = self.loader.get_scene_from_token(token)
        agent_input = scene.get_agent_input()
        timings["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache = self.metric_cache(scene)
        timings["metric_cache_s"] = time.perf_counter() - t0
        rescore = None if self.oracle is None else (lambda c: self.oracle(c, cache))
        use_scene = getattr(self.pipeline.fc, "use_scene", None)
        if callable(use_scene):  # e.g. GeometricFC(depth=oracle) renders this scene's true depth
            use_scene(scene, self.blobs_path)
        plan = self.pipeline.plan(agent_input, rescore)
        timings.update(plan.timings)

        t0 = time.perf_counter()
        poses = plan.candidates.poses.detach().cpu().numpy().astype(np.float64)
        if chosen_only:
            poses = poses[sorted(set(choose_variants(plan, np.zeros(len(poses)), self.variants).values()))]
        if self.metric == "epdms":
            results = score_epdms(cache, poses, EPDMSConfig(human_filter=self.human_filter), traffic=self.traffic,
                                  map_api=self._map(scene.scene_metadata.map_name) if self.traffic == "reactive"
                                  else None)
        else:
            results = score_candidates(cache, poses)
        timings["pdm_s"] = time.perf_counter() - t0
        return scene, plan, results, cache, timings

    def column(self, results: Any, name: str) -> np.ndarray:
        """``[K]`` values of the score column ``name`` (navsim names of the chosen metric) of every candidate."""
        return np.asarray(results[name] if self.metric == "epdms" else getattr(results, name), np.float64)

    def __call__(self, token: str) -> list[dict[str, Any]]:
        t_start = time.perf_counter()
        subset = self.chosen_only()
        scene, plan, results, cache, timings = self.plan_and_score(token, subset)
        timings["total_s"] = time.perf_counter() - t_start
        if subset:  # results rows: the chosen candidates, in increasing order
            chosen = choose_variants(plan, np.zeros(plan.candidates.num_candidates), self.variants)
            at = {c: i for i, c in enumerate(sorted(set(chosen.values())))}
        else:
            chosen = choose_variants(plan, results.score, self.variants)
            at = {c: c for c in chosen.values()}
        if self.cfg["eval"].get("dump_dir"):
            dump_candidates(Path(self.cfg["eval"]["dump_dir"]), token, plan,
                            {k: self.column(results, k) for k in self.columns}, self.labels,
                            scene=scene_inputs(scene.get_agent_input()),
                            frame=None if self.metric != "epdms" else epdms_frame(cache, results.states))
        rows = []
        for variant, index in chosen.items():
            row: dict[str, Any] = {"token": token, "variant": variant, "valid": True}
            row.update({k: float(self.column(results, k)[at[index]]) for k in self.columns})
            row.update(self.labels)
            if self.metric == "epdms":
                row.update({"log_name": cache.log_name, "time_point_s": cache.time_s, "scene_type": cache.scene_type,
                            "human_filter_applied": bool(results.human_filter_applied),
                            STATES_COLUMN: encode_states(results.states[at[index]]),
                            **plan_end_points(scene, plan.candidates.poses[index])})
                if not results.valid[at[index]]:  # scored, but not by the rules (e.g. human filter could not run)
                    row.update(valid=False, error=results.reason[at[index]])
            row.update({
                "mode": "privileged" if (self.privileged or variant == "oracle") else "honest",
                "planner": self.planner_name,
                "random_weights": self.random_weights,
                "candidate": int(index),
                "num_candidates": int(plan.candidates.num_candidates),
                "fc_prob": None if plan.fc is None else float(plan.fc.prob[index]),
                "fc_features": None if plan.fc is None else
                {k: float(v[index]) for k, v in plan.fc.features.items()},
                **{k: round(v, 6) for k, v in timings.items()},
            })
            rows.append(row)
        return rows


def plan_end_points(scene: Any, poses: Any) -> dict[str, float]:
    """What the two-stage aggregation needs of a scored scene (navsim v2.2 ``run_pdm_score.py``): ``endpoint_x/y``
    = the last pose of the submitted plan (``poses [T, 3]``, current rear-axle frame) made global, and
    ``start_point_x/y`` = the ego rear axle at the current frame (global), in metres."""
    ego = np.asarray(scene.frames[scene.current_index].ego_status.ego_pose, np.float64)
    last = np.asarray(poses.detach().cpu().numpy() if hasattr(poses, "detach") else poses, np.float64)[-1]
    end = relative_to_absolute_se2(ego, last[None])[0]
    return {"endpoint_x": float(end[0]), "endpoint_y": float(end[1]),
            "start_point_x": float(ego[0]), "start_point_y": float(ego[1])}


def bad_log_token(log_name: str) -> str:
    """The token of the ``valid=False`` rows of a log that could not be read (its scenes are unknown)."""
    return f"log:{log_name}"


def _log_stems(logs: Path, data: Mapping[str, Any]) -> set[str]:
    """Log names (``*.pkl`` stems) of the split, restricted to ``data.scene_filter.log_names`` when set."""
    stems = {p.stem for p in logs.glob("*.pkl") if p.is_file()}
    wanted = (data.get("scene_filter") or {}).get("log_names")
    return stems if wanted is None else stems & {str(n) for n in wanted}


def _only_logs(data: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """A copy of the ``data`` node whose scene filter keeps only the logs ``names``."""
    out = dict(data)
    out["scene_filter"] = {**(data.get("scene_filter") or {}), "log_names": names}
    return out


def _loader_without_bad_logs(data: Mapping[str, Any], logs: Path, sensors: str,
                             index_dir: Path) -> tuple[Any, dict[str, str]]:
    """The split's scene loader and ``{log name: why it could not be read}``.

    A log that cannot be indexed (truncated pickle, :class:`~inspatio_drive.data.log_reader.LogFormatError`, ...)
    does not stop the split: when indexing the whole split fails, every log is indexed alone, the bad ones are
    left out (and reported), and the loader is built from the good ones. When no log can be read, the first
    error is raised (nothing to evaluate)."""
    try:
        return scene_loader_from_config(data, sensors=sensors, show_progress=False,
                                        index_cache_dir=index_dir), {}
    except Exception as whole:  # one bad log: find it (the cost of one index per log, only on failure)
        bad: dict[str, str] = {}
        stems = sorted(_log_stems(logs, data))
        for stem in stems:
            one = _only_logs(data, [stem])
            one["scene_filter"]["max_scenes"] = None
            try:
                scene_loader_from_config(one, sensors="none", show_progress=False, index_cache_dir=index_dir)
            except Exception as exc:  # any reader error of this log: recorded, the split goes on
                bad[stem] = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
        if not bad or len(bad) == len(stems):
            raise whole
        good = [s for s in stems if s not in bad]
        loader = scene_loader_from_config(_only_logs(data, good), sensors=sensors, show_progress=False,
                                          index_cache_dir=index_dir)
        return loader, bad


def index_metric_caches(cache_dir: str | Path, metric: str = "pdms") -> Path:
    """Re-index the metric-cache store (of ``metric`` caches) at ``cache_dir`` from its entry folders and write its
    manifest (after the workers of a run added entries)."""

    store = MetricCacheStore.open(cache_dir, metric=metric)
    store.rebuild_index()
    return store.write_manifest()


def choose_variants(plan: PlanResult, true_scores: np.ndarray, variants: tuple[str, ...]) -> dict[str, int]:
    """Variant → chosen candidate index. ``fc`` / ``fc_only`` need an FC scorer; without one they are
    skipped (the table then has no such rows rather than a copy of ``base``)."""
    out: dict[str, int] = {}
    for v in variants:
        if v == "base":
            out[v] = plan.base_index
        elif v == "fc" and plan.fc is not None:
            out[v] = plan.fc_index
        elif v == "fc_only" and plan.fc is not None:
            logit = plan.fc.logit.detach().cpu().numpy()
            out[v] = int(np.nanargmax(np.where(np.isnan(logit), -math.inf, logit)))
        elif v == "oracle":
            scores = np.asarray(true_scores, dtype=np.float64)
            out[v] = int(np.argmax(np.where(np.isnan(scores), -math.inf, scores)))
    return out


def epdms_frame(cache: Any, states: np.ndarray) -> dict[str, np.ndarray]:
    """What an EPDMS dump adds so that :func:`~inspatio_drive.evaluation.fc_data.collect_fc_dataset` can label EC
    (two-frame extended comfort) per candidate: ``epdms_states [K, 41, 11]`` float64 (every candidate's simulated
    states, global), ``log_name``, ``time_point_s``, ``scene_type``."""
    return {"epdms_states": np.asarray(states, np.float64), "log_name": np.array(str(cache.log_name)),
            "time_point_s": np.array(float(cache.time_s)), "scene_type": np.array(str(cache.scene_type))}


def dump_candidates(folder: Path, token: str, plan: PlanResult, results: Any,
                    labels: dict[str, Any] | None = None, scene: Mapping[str, np.ndarray] | None = None,
                    frame: Mapping[str, np.ndarray] | None = None) -> Path:
    """Every candidate of one scene → ``<folder>/<token>.npz``: ``features [K, F]``, ``feature_names [F]``,
    ``base_log_score [K]``, ``poses [K, T, 3]`` and the true sub-scores ``[K]`` (the FC training data;
    :func:`inspatio_drive.evaluation.fc_data.collect_fc_dataset` merges the files); the planner's sub-score
    logits ``logit_<NC|DAC|…> [K]`` and per-candidate features ``planner_features [K, D]`` when it has them, and
    ``scene_<key>`` per entry of ``scene`` (:func:`planners.scoring.scene_inputs.scene_inputs`: ``scene_bev
    [2, H, W]``, ``scene_ego [8]``) — the learned scorer's training data.

    ``results``: v1.1 :class:`~inspatio_drive.pdm.scorer.PDMResults` (PDM columns), or a mapping column → ``[K]``
    (e.g. the EPDMS columns); ``labels``: which metric made them (``metric``, ``traffic``, ``human_filter``),
    stored as 0-d string arrays; ``frame``: EPDMS dumps only, :func:`epdms_frame` (v1.1 dumps are unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(plan.fc.features) if plan.fc is not None else []
    k = plan.candidates.num_candidates
    feats = (np.stack([plan.fc.features[n].detach().cpu().numpy() for n in names], -1).astype(np.float32)
             if names else np.zeros((k, 0), np.float32))
    if isinstance(results, Mapping):
        arrays = {str(k_): np.asarray(v, np.float64) for k_, v in results.items()}
    else:
        arrays = {k_: np.asarray(getattr(results, k_), np.float64) for k_ in SUBSCORES}
    arrays.update({k_: np.array(str(v)) for k_, v in (labels or {}).items()})
    arrays.update({f"logit_{n}": v.detach().cpu().numpy().astype(np.float32)
                   for n, v in (plan.candidates.logits or {}).items()})
    if plan.candidates.features is not None:
        arrays["planner_features"] = plan.candidates.features.detach().cpu().numpy().astype(np.float32)
    arrays.update({f"scene_{k_}": np.asarray(v, np.float32) for k_, v in (scene or {}).items()})
    arrays.update(dict(frame or {}))
    tmp = folder / f".{token}.tmp.npz"
    np.savez(tmp, features=feats, feature_names=np.array(names, dtype=str), token=np.array(token),
             base_log_score=plan.base_scores.detach().cpu().numpy().astype(np.float64),
             poses=plan.candidates.poses.detach().cpu().numpy(), privileged=np.array(bool(plan.fc and plan.fc.privileged)),
             **arrays)
    out = folder / f"{token}.npz"
    tmp.replace(out)
    return out
