"""``inspatio-drive pdm-score``: NAVSIM v1.1 PDMS or NAVSIM v2.2 EPDMS of candidate trajectories for one scene → JSON.

Examples (hydra overrides; knobs in ``configs/pdm_score.yaml``)::

    inspatio-drive pdm-score candidates=cands.npz metric_cache=cache/<token> output=scores.json
    inspatio-drive pdm-score candidates=cands.json data.scene_token=<token> output=-   # a scene of the bundled sample
    inspatio-drive pdm-score candidates=cands.json data=openscene data.split=navtest data.scene_token=<token> output=-
    inspatio-drive pdm-score metric=epdms candidates=cands.json data.data_root=DATA data.scene_token=<token> output=-
    inspatio-drive pdm-score metric=epdms candidates=c.json previous_candidates=prev.json data.data_root=DATA data.scene_token=<token>

The scene comes from a metric cache (``metric_cache=``) or from the ``data`` node every command reads
(``configs/data/*.yaml``, :class:`~inspatio_drive.data.DataConfig`): ``data.data_root`` (null: the bundled sample),
``data.split`` (null: every split folder is searched for the token), ``data.maps_root`` (null:
``<data_root>/maps``) and ``data.scene_token``.

With ``metric=epdms`` every candidate row carries navsim v2's columns (the 8 sub-metrics,
``two_frame_extended_comfort`` when ``previous_candidates`` is given, ``score``), the traffic policy and the
human-filter variant.

Candidates file (:mod:`inspatio_drive.data.candidates`): NPZ with an array ``trajectories`` (or a single array)
of shape ``[K, 8, 3]`` and optional ``names``; NPY ``[K, 8, 3]``; or JSON: ``[[[x, y, heading] * 8] * K]``,
``{"trajectories": ..., "names": [...]}`` or a list of ``{"name": ..., "poses_local_xyh": [[x, y, heading] * 8]}``.
Poses at t = 0.5…4.0 s in the current rear-axle frame (x forward, y left, metres, radians); another sampling
is refused unless ``candidates_resample=true`` (then the JSON says ``candidates_resampled``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from hydra.errors import HydraException
from numpy.typing import NDArray
from omegaconf.errors import OmegaConfBaseException

from inspatio_drive.commands.base import compose_command
from inspatio_drive.data import DataConfig, scene_loader_from_config
from inspatio_drive.data.candidates import read_candidates
from inspatio_drive.maps import load_map
from inspatio_drive.pdm import navsim_backend
from inspatio_drive.pdm.cache.builder import build_metric_cache
from inspatio_drive.pdm.cache.epdms import build_epdms_cache
from inspatio_drive.pdm.cache.storage import MetricCacheStore
from inspatio_drive.pdm.scorer import PDMResults, PDMScorerConfig, score_candidates
from inspatio_drive.pdm.types import MetricCache
from inspatio_drive.pdm.v2.cache import EPDMSCache
from inspatio_drive.pdm.v2.scorer import EPDMSConfig, PreviousFrame, score_epdms

__all__ = ["load_candidates", "main", "results_to_json"]


def load_candidates(
    path: str | Path, interval_s: float | None = None, resample: bool = False
) -> tuple[NDArray[np.float64], list[str] | None]:
    """``[K, 8, 3]`` candidate poses at 0.5 s (and optional names) of a JSON / NPZ / NPY file
    (:func:`inspatio_drive.data.candidates.read_candidates`; other samplings only with ``resample``)."""
    cands = read_candidates(path, interval_s=interval_s, resample=resample, resample_knob="candidates_resample")
    return cands.poses, cands.names


def results_to_json(results: PDMResults, token: str, backend: str) -> dict[str, Any]:
    """JSON document of a scene's results (sub-scores, score and diagnostics per candidate)."""
    ref = {k: v for k, v in results.reference.items() if k != "states"}
    return {
        "token": token,
        "backend": backend,
        "metric": "navsim_v1.1_pdms",
        "num_candidates": len(results),
        "pdm_closed_reference": ref,
        "candidates": results.to_rows(),
    }


def _scorer_config(overrides: dict[str, Any]) -> PDMScorerConfig:
    known = {f.name for f in fields(PDMScorerConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"scorer: unknown keys {bad}")
    text = {"simulation_backend"}  # the only string knob; every other one is a number
    return PDMScorerConfig(**{k: str(v) if k in text else float(v) for k, v in overrides.items()})


def _data(cfg: Any) -> DataConfig:
    """The command's ``data`` node, validated (:class:`~inspatio_drive.data.DataConfig`)."""
    return DataConfig.from_node(cfg.data)


def _splits(data: DataConfig) -> list[str]:
    """``data.split``, or every split folder under ``<data_root>/navsim_logs`` when it is null."""
    if data.split not in (None, "", "null"):  # a folder, or a navsim split name (navtest, ...) resolved by the data layer
        return [str(data.split)]
    logs = data.root() / "navsim_logs"
    splits = sorted(p.name for p in logs.glob("*") if p.is_dir()) if logs.is_dir() else []
    if not splits:
        raise FileNotFoundError(f"data.data_root: no split folders under {logs} (expected <data_root>/navsim_logs/<split>)")
    return splits


def _find_scene(data: DataConfig, token: str) -> Any:
    """The NAVSIM scene of ``token`` (searched in ``data.split``, or in every split folder when it is null)."""
    splits = _splits(data)
    for name in splits:
        loader = _token_loader(data, name)
        if token in loader.tokens:
            return loader.get_scene_from_token(token)
    raise ValueError(f"data.scene_token: scene {token} not found in split(s) {splits} of {data.root() / 'navsim_logs'}")


def _token_loader(data: DataConfig, split: str) -> Any:
    """A loader of every scene window of a split (frame_interval 1: each frame with enough history and future
    is the current frame of one scene), for looking scenes up by token."""
    node = {"data_root": None if data.data_root is None else str(data.root()), "split": split,
            "sensor_split": data.sensor_split, "scene_filter": {"frame_interval": 1}}
    return scene_loader_from_config(node, sensors="none", show_progress=False)


def _previous_scene(data: DataConfig, token: str) -> Any:
    """The scene whose current frame precedes ``token``'s in its log (navsim one-stage pairing), or an error."""
    splits = _splits(data)
    for name in splits:
        loader = _token_loader(data, name)
        for tokens in loader.get_tokens_list_per_log().values():
            if token in tokens:
                i = tokens.index(token)
                if i == 0:
                    raise ValueError(
                        f"previous_candidates: scene {token} is the first of its log, it has no previous frame"
                    )
                return loader.get_scene_from_token(tokens[i - 1])
    raise ValueError(f"previous_token: scene {token} not found in split(s) {splits} of {data.root() / 'navsim_logs'}")


def _scene_and_map(cfg: Any) -> tuple[Any, Any, Path]:
    """``(scene, map, maps root)`` of ``data.scene_token`` in the ``data`` node (logs + nuPlan maps)."""
    data = _data(cfg)
    if data.scene_token in (None, ""):
        raise ValueError("data.scene_token: required (the scene to score), or give metric_cache=<dir>")
    root = data.root()
    if not root.is_dir():
        raise FileNotFoundError(f"data.data_root: {root} is not a folder")
    scene = _find_scene(data, str(data.scene_token))
    maps_root = data.maps_dir()
    return scene, load_map(maps_root, scene.scene_metadata.map_name), maps_root


def _check_one_source(cfg: Any) -> None:
    if cfg.metric_cache and _data(cfg).data_root not in (None, "", "null"):
        raise ValueError("give either metric_cache or data.data_root, not both")


def _cache_from_data_root(cfg: Any) -> MetricCache:
    """Build the scene's metric cache from logs + maps with the maps-cache room's builder."""
    scene, map_api, _ = _scene_and_map(cfg)
    cache = build_metric_cache(scene, map_api)
    assert isinstance(cache, MetricCache)
    return cache


def _load_cache(path: str | Path, token: str | None) -> MetricCache:
    """A single cache entry folder (``manifest.json`` + ``arrays.npz``) or a metric-cache store + ``token``."""
    p = Path(path)
    entry = p / "manifest.json"
    if entry.is_file() and (p / "arrays.npz").is_file():
        cache = MetricCache.load(p)
        if token is not None and str(token) != cache.token:
            raise ValueError(f"data.scene_token: {token} requested but metric cache {p} is {cache.token}")
        return cache

    store = MetricCacheStore.open(p, create=False)
    if token is None:
        raise ValueError(f"data.scene_token: required to pick a scene from the metric-cache store {p}")
    if str(token) not in store:
        raise ValueError(f"data.scene_token: scene {token} has no entry in the metric-cache store {p}")
    return store.load(str(token))


def _epdms_cache_from_path(path: str | Path, token: str | None) -> EPDMSCache:
    """A v2 cache entry folder, or a v2 metric-cache store + ``token``."""
    p = Path(path)
    if (p / "manifest.json").is_file() and (p / "arrays.npz").is_file():
        cache = EPDMSCache.load(p)
        if token is not None and str(token) != cache.token:
            raise ValueError(f"data.scene_token: {token} requested but metric cache {p} is {cache.token}")
        return cache
    store = MetricCacheStore.open(p, create=False, metric="epdms")
    if token is None:
        raise ValueError(f"data.scene_token: required to pick a scene from the metric-cache store {p}")
    if str(token) not in store:
        raise ValueError(f"data.scene_token: scene {token} has no entry in the metric-cache store {p}")
    return store.load(str(token))


def _epdms_previous_from_store(path: str | Path, cache: EPDMSCache) -> EPDMSCache:
    """The entry of ``cache``'s log in the store at ``path`` that is closest before it (0 < Δt ≤ 0.55 s)."""
    store = MetricCacheStore.open(Path(path), create=False, metric="epdms")
    best: EPDMSCache | None = None
    for tok, entry in store.entries.items():
        if entry.get("log_name") != cache.log_name or tok == cache.token:
            continue
        other = store.load(tok)
        if 0.0 < cache.time_s - other.time_s <= 0.55 and (best is None or other.time_s > best.time_s):
            best = other
    if best is None:
        raise ValueError(
            f"previous_candidates: the metric-cache store {path} has no scene of log {cache.log_name} 0.5 s before "
            f"{cache.token}; give previous_token=<token>"
        )
    return best


def run_epdms(cfg: Any, traj: NDArray[np.float64], names: list[str] | None) -> dict[str, Any]:
    """``metric=epdms``: NAVSIM v2.2 EPDMS of the candidates (one row per candidate, navsim v2 columns)."""
    if cfg.backend != "inspatio":
        raise ValueError(f"metric=epdms: backend must be inspatio (got {cfg.backend!r})")
    _check_one_source(cfg)
    config = EPDMSConfig(human_filter=str(cfg.epdms.human_filter))
    maps_root = None
    map_api = None
    token = _data(cfg).scene_token
    if cfg.metric_cache:
        cache = _epdms_cache_from_path(cfg.metric_cache, token)
        if cfg.traffic == "reactive":
            if _data(cfg).maps_root in (None, "", "null"):
                raise ValueError("traffic=reactive with metric_cache=...: give data.maps_root= (the IDM agents drive on "
                                 "the map)")
            map_api = load_map(_data(cfg).maps_dir(), str(cache.base.extra.get("map_name")))
    else:
        scene, map_api, maps_root = _scene_and_map(cfg)
        cache = build_epdms_cache(scene, map_api)
    previous = None
    if cfg.previous_candidates:
        prev_traj, _ = load_candidates(cfg.previous_candidates)
        if cfg.metric_cache:
            prev_cache = (
                _epdms_cache_from_path(cfg.metric_cache, str(cfg.previous_token))
                if cfg.previous_token
                else _epdms_previous_from_store(cfg.metric_cache, cache)
            )
        else:
            prev_scene = (
                _find_scene(_data(cfg), str(cfg.previous_token))
                if cfg.previous_token
                else _previous_scene(_data(cfg), cache.token)
            )
            assert maps_root is not None
            prev_cache = build_epdms_cache(prev_scene, load_map(maps_root, prev_scene.scene_metadata.map_name))
        previous = PreviousFrame(prev_cache, prev_traj)
    elif cfg.previous_token:
        raise ValueError("previous_token: give previous_candidates too (the plans at that frame)")
    results = score_epdms(
        cache, traj, config, traffic=str(cfg.traffic), previous=previous, names=names, map_api=map_api
    )
    ref = {k: v for k, v in results.reference.items() if k != "states"}
    return {
        "token": cache.token,
        "backend": cfg.backend,
        "metric": "navsim_v2.2_epdms",
        "traffic": results.traffic,
        "human_filter": results.human_filter,
        "previous_token": None if previous is None else previous.cache.token,
        "num_candidates": len(results),
        "pdm_closed_reference": ref,
        "candidates": results.to_rows(),
    }


def run(cfg: Any) -> dict[str, Any]:
    """Score the candidates of ``cfg`` (a composed ``pdm_score`` config); returns the JSON document."""
    cands = read_candidates(cfg.candidates, interval_s=cfg.candidates_interval_s, resample=bool(cfg.candidates_resample),
                            resample_knob="candidates_resample")
    traj, names = cands.poses, cands.names
    if cands.resampled:
        print(f"pdm-score: {cfg.candidates}: {cands.describe_resampling()}", file=sys.stderr)
    if cfg.metric == "epdms":
        doc = run_epdms(cfg, traj, names)
    elif cfg.metric != "pdms":
        raise ValueError(f"metric: expected pdms or epdms, got {cfg.metric!r}")
    else:
        doc = _run_pdms(cfg, traj, names)
    if cands.resampled:
        doc["candidates_resampled"] = cands.describe_resampling()
    return doc


def _run_pdms(cfg: Any, traj: NDArray[np.float64], names: list[str] | None) -> dict[str, Any]:
    """``metric=pdms``: NAVSIM v1.1 PDM score of the candidates (inspatio or navsim backend)."""
    if cfg.previous_candidates or cfg.previous_token:
        raise ValueError("previous_candidates / previous_token: only with metric=epdms (EC between frames)")
    if cfg.traffic != "log_replay":
        raise ValueError(f"traffic={cfg.traffic}: NAVSIM v1.1 (metric=pdms) scores against the logged objects only")
    if cfg.backend == "navsim":

        if not cfg.metric_cache:
            raise ValueError("backend=navsim: metric_cache must point to a navsim metric_cache.pkl")
        cache = navsim_backend.load_navsim_metric_cache(cfg.metric_cache)
        results = navsim_backend.score_candidates(cache, traj, names=names)
        token = str(getattr(cache, "token", _data(cfg).scene_token or ""))
    elif cfg.backend == "inspatio":
        _check_one_source(cfg)
        cache = _load_cache(cfg.metric_cache, _data(cfg).scene_token) if cfg.metric_cache else _cache_from_data_root(cfg)
        scorer_cfg = _scorer_config(dict(cfg.scorer or {}))
        results = score_candidates(cache, traj, config=scorer_cfg, names=names)
        token = cache.token
    else:
        raise ValueError(f"backend: {cfg.backend!r}; expected 'inspatio' or 'navsim'")
    return results_to_json(results, token, cfg.backend)


def main(overrides: Sequence[str] = ()) -> int:
    """Entry point of ``inspatio-drive pdm-score`` (hydra overrides)."""

    cfg = compose_command("pdm-score", "pdm_score", overrides)
    if cfg is None:
        return 2
    try:
        doc = run(cfg)
    except (
        FileNotFoundError,
        ValueError,
        TypeError,
        NotImplementedError,
        RuntimeError,
        ImportError,
        HydraException,
        OmegaConfBaseException,
    ) as exc:
        print(f"inspatio-drive pdm-score: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(doc, indent=1)
    if cfg.output in (None, "-"):
        print(text)
    else:
        out = Path(cfg.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        scores = [f"{r.get('name', r['index'])}={r['score']:.4f}" for r in doc["candidates"]]
        print(f"pdm-score: {doc['num_candidates']} candidates of scene {doc['token']} -> {out}")
        print("  " + ", ".join(scores[:8]) + (" ..." if len(scores) > 8 else ""))
    return 0
