"""Training FC inputs on the real DrivoR (issue 21 item 5): ``inspatio-drive train-drivor-fc planner.checkpoint=<DrivoR
checkpoint> data.data_root=<root> [train_split=train val_split=val] [scorer.model.<GeometricFC key>=…] …``
(``configs/train_drivor_fc.yaml``).

1. **Collect** (once per split, cached): for every scene of ``navsim_logs/<split>`` (any NAVSIM-layout split, e.g.
   written by ``inspatio-drive sandbox``) the frozen DrivoR port proposes its ``K`` candidates
   (:class:`~planners.drivor.planner.DrivoRPlanner` on :func:`~planners.pipeline.navsim_agent_input`, as
   ``evaluate`` calls it) and gives their ``scorer_tokens [K, d_model]``; :class:`~scorers.geometric.GeometricFC`
   (``head=None``, the ``scorer.model`` node) gives the FC features ``[K, F]`` of the same candidates; the PDM oracle
   gives their true sub-scores (targets). Written to ``<output_dir>/collected/<split>.npz`` with a key of
   everything they depend on (port weights digest, planner / FC / data settings): a rerun or resume with the same
   key reads them back, another key recollects.
2. **Train** :class:`~planners.scoring.drivor_fc.DrivoRFCHeads` (a copy of the port's six heads + a zero-initialised
   FC embedding) with :func:`scorers.head_training.train_heads`: DrivoR's BCE per sub-score
   (:func:`planners.training.pdm_targets`), AdamW, warm-up + cosine, early stopping on the validation loss, resume
   state ``state.pt`` after every epoch. Only the embedding and the heads are trained: the port's weights digest is
   checked unchanged (``metrics.json`` ``port_unchanged``).
3. **Write** ``fc_heads.safetensors`` (:func:`~planners.scoring.drivor_fc.save_fc_heads`, with the command's config,
   the FC settings and the port digest in its metadata), ``metrics.json`` (validation PDMS of DrivoR's own pick, of
   the FC heads' pick and oracle@K, per sub-score) and ``loss.png``.

Evaluation: ``planner=drivor planner.checkpoint=<same> planner.scorer=drivor_fc planner.head=<fc_heads.safetensors>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from inspatio_drive.config import portable_paths
from inspatio_drive.contracts import SUBSCORE_NAMES
from inspatio_drive.contracts.selection import SelectionWeights, argmax_valid, selection_score
from inspatio_drive.data import DataConfig, SensorConfig, scene_loader_from_config
from inspatio_drive.data.types import AgentInput
from planners.drivor.planner import DrivoRPlanner
from planners.factory import build_planner
from planners.pipeline import navsim_agent_input
from planners.protocol import merge_sensor_needs, sensor_needs
from planners.scoring.drivor_fc import DrivoRFCHeads, port_digest, save_fc_heads
from planners.scoring.oracle import PDMOracleScorer
from planners.training import loader_scenes_with_metric_caches, pdm_targets
from scorers.geometric import GeometricFC
from scorers.head_training import TrainConfig, TrainResult, train_heads
from scorers.train import plot_losses

TRUE_SCORES: tuple[str, ...] = (*SUBSCORE_NAMES, "PDMS")
"""True scores stored per candidate: the six sub-scores (targets) and the PDM score (selection metrics)."""

FC_MODES: tuple[str, ...] = ("features",)
"""``fc`` values: ``features`` = the FC features embedded and added to DrivoR's scorer tokens."""


# --------------------------------------------------------------------------------------------------- collection


def collect_drivor_fc(
    scenes: Iterable[tuple[str, AgentInput, object]],
    planner: DrivoRPlanner,
    fc_term: Any,
    oracle: PDMOracleScorer | None = None,
) -> dict[str, np.ndarray]:
    """Per scene: the frozen DrivoR's candidates, scorer tokens and own logits, their FC features and true scores.

    Args:
        scenes: ``(token, agent_input, metric_cache)`` (:func:`planners.training.loader_scenes_with_metric_caches`).
        planner: the frozen DrivoR port (its candidates carry ``scorer_tokens`` as ``features``).
        fc_term: ``(agent_input, candidates) -> FCOutput`` (:class:`~scorers.geometric.GeometricFC`, features only).

    Returns:
        ``tokens [N, K, D]`` float32, ``fc [N, K, F]`` float32, ``fc_names [F]``, ``poses [N, K, T, 3]`` float32,
        ``true_<NC…C, PDMS> [N, K]`` float64, ``drivor_<NC…C> [N, K]`` float32 (DrivoR's own logits),
        ``scene_tokens [N]``.

    Raises:
        ValueError: no scene; a planner without scorer tokens; privileged FC features; scenes whose FC features
        differ in names.
    """
    oracle = oracle or PDMOracleScorer()
    rows: dict[str, list[np.ndarray]] = {}
    names: list[str] | None = None
    tokens_of: list[str] = []
    for token, agent_input, cache in scenes:
        agent_input = navsim_agent_input(agent_input)  # as evaluate / the navsim agent hand it to the planner
        cands = planner.propose(agent_input)
        if cands.features is None or not cands.logits:
            raise ValueError(f"train-drivor-fc: planner {planner.name!r} gives no scorer tokens / logits")
        out = fc_term(agent_input, cands)
        if out.privileged:
            raise ValueError("train-drivor-fc trains an honest scorer: set scorer.model.mode=honest and a depth that "
                             "is not the sandbox oracle's")
        if names is None:
            names = list(out.features)
        elif list(out.features) != names:
            raise ValueError(f"train-drivor-fc: scene {token} has FC features {list(out.features)}, expected {names}")
        true = oracle.subscores(cands.poses, cache)
        per = {"tokens": cands.features.float().numpy(), "poses": cands.poses.float().numpy(),
               "fc": torch.stack([out.features[n].float().reshape(-1) for n in names], -1).numpy()}
        per.update({f"true_{n}": true[n].double().numpy() for n in TRUE_SCORES})
        per.update({f"drivor_{n}": cands.logits[n].float().numpy() for n in SUBSCORE_NAMES})
        for k, v in per.items():
            rows.setdefault(k, []).append(v)
        tokens_of.append(token)
    if not tokens_of:
        raise ValueError("train-drivor-fc: the split has no scene (check data.data_root, the split name and "
                         "data.scene_filter)")
    arrays = {k: np.stack(v) for k, v in rows.items()}
    arrays["fc_names"] = np.array(names)
    arrays["scene_tokens"] = np.array(tokens_of)
    return arrays


def _cache_key(cfg: Any, split: str, digest: str) -> str:
    """JSON of everything a split's collected arrays depend on."""
    node = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("planner", "data")}
    node["data"]["split"] = split
    for k in ("device", "amp_dtype", "scorer", "head", "checkpoint"):
        node["planner"].pop(k, None)  # the weights are in the digest; the device does not change the arrays
    fc = dict(OmegaConf.to_container(cfg.scorer.model, resolve=True))
    fc.pop("device", None)
    return json.dumps({"planner": node["planner"], "data": node["data"], "fc": fc, "port": digest}, sort_keys=True)


def collected_split(cfg: Any, split: str, planner: DrivoRPlanner, fc_term: GeometricFC, digest: str,
                    cache_dir: Path) -> tuple[dict[str, np.ndarray], bool]:
    """``(arrays of :func:`collect_drivor_fc`, read from the cache)`` of one split; cached in
    ``<cache_dir>/<split>.npz`` (reused when its key matches, see the module docstring)."""
    path = cache_dir / f"{split}.npz"
    key = _cache_key(cfg, split, digest)
    if bool(cfg.cache) and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return {k: z[k] for k in z.files if k != "key"}, True
        print(f"train-drivor-fc: {path} was collected with other settings: collecting again", file=sys.stderr)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert isinstance(data, dict)
    data["split"] = split
    n_hist = int(DataConfig.from_node(data).scene_filter.get("num_history_frames", 4))
    needs = merge_sensor_needs([sensor_needs(planner, n_hist), sensor_needs(fc_term, n_hist)])
    sensors = SensorConfig.build_all_sensors() if needs is None else SensorConfig.from_mapping(needs)
    loader = scene_loader_from_config(data, sensors=sensors, show_progress=False)
    maps = DataConfig.from_node(data).maps_dir()
    scenes = loader_scenes_with_metric_caches(loader, maps, bool(cfg.progress), f"collecting {split}")
    arrays = collect_drivor_fc(scenes, planner, fc_term)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{split}.tmp.npz"
    np.savez_compressed(tmp, key=np.array(key), **arrays)
    tmp.replace(path)
    return arrays, False


# ----------------------------------------------------------------------------------------------------- training


def fc_columns(arrays: Mapping[str, np.ndarray], names: Iterable[str] | None) -> tuple[torch.Tensor, list[str]]:
    """``([N, K, F'] float32, names)``: the FC feature columns ``names`` (``None`` / empty = all collected).

    Raises:
        KeyError: a name that was not collected (one line, listing those that were)."""
    have = [str(n) for n in arrays["fc_names"]]
    want = have if not names else [str(n) for n in names]
    unknown = [n for n in want if n not in have]
    if unknown:
        raise KeyError(f"fc_features: {unknown} not among the collected FC features {have}")
    return torch.from_numpy(np.asarray(arrays["fc"][..., [have.index(n) for n in want]], np.float32)), want


def heads_inputs(arrays: Mapping[str, np.ndarray], names: Iterable[str] | None) -> dict[str, torch.Tensor]:
    """``{"tokens": [N, K, D], "fc": [N, K, F']}`` of collected arrays (:class:`DrivoRFCHeads`' batch)."""
    return {"tokens": torch.from_numpy(np.asarray(arrays["tokens"], np.float32)), "fc": fc_columns(arrays, names)[0]}


def heads_targets(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """DrivoR's BCE targets ``{NC…C: [N, K]}`` of the true sub-scores (:func:`planners.training.pdm_targets`)."""
    return pdm_targets({n: arrays[f"true_{n}"] for n in SUBSCORE_NAMES})


def selected_means(logits: Mapping[str, torch.Tensor], arrays: Mapping[str, np.ndarray],
                   weights: SelectionWeights) -> dict[str, float]:
    """Mean true score of the candidate DrivoR's selection rule picks from ``logits {NC…C: [N, K]}``, per
    :data:`TRUE_SCORES` name."""
    pick = argmax_valid(selection_score({k: v.double() for k, v in logits.items()}, weights)).numpy()
    return {n: float(np.take_along_axis(arrays[f"true_{n}"], pick[:, None], 1).mean()) for n in TRUE_SCORES}


def train_drivor_fc(
    train: Mapping[str, np.ndarray],
    val: Mapping[str, np.ndarray],
    planner: DrivoRPlanner,
    optim: TrainConfig,
    *,
    fc_names: Iterable[str] | None = None,
    hidden: int = 128,
    weights: SelectionWeights | None = None,
    state_path: str | Path | None = None,
    resume: bool = False,
) -> tuple[DrivoRFCHeads, TrainResult, dict[str, Any]]:
    """Train the FC embedding + heads on collected arrays; returns ``(heads with the best validation epoch's weights,
    losses, info)``; ``info``: ``fc_names``, ``port_unchanged`` and the validation means of the selected candidates
    (``val_selected`` {``drivor``, ``drivor_fc``, ``oracle``}: {score name: mean}).

    Raises:
        RuntimeError: the port's weights changed (a bug: nothing of it may be trained).
    """
    weights = weights or planner.weights
    before = port_digest(planner.model)
    x_tr, x_va = heads_inputs(train, fc_names), heads_inputs(val, fc_names)
    names = fc_columns(train, fc_names)[1]
    torch.manual_seed(optim.seed)
    heads = DrivoRFCHeads(planner.model.scorer, names, hidden=hidden)
    heads.fit_normalization(x_tr["fc"])
    result = train_heads(heads, x_tr, heads_targets(train), optim, val=(x_va, heads_targets(val)),
                         state_path=state_path, resume=resume)
    unchanged = port_digest(planner.model) == before
    if not unchanged:
        raise RuntimeError("train-drivor-fc: the DrivoR port's weights changed during training")
    with torch.no_grad():
        new = heads(x_va)
    own = {n: torch.from_numpy(np.asarray(val[f"drivor_{n}"])) for n in SUBSCORE_NAMES}
    oracle = {n: float(np.asarray(val[f"true_{n}"]).max(1).mean()) for n in ("PDMS",)}
    info = {"fc_names": names, "port_unchanged": unchanged, "port_digest": before,
            "val_selected": {"drivor": selected_means(own, val, weights),
                             "drivor_fc": selected_means(new, val, weights), "oracle_at_k": oracle}}
    return heads, result, info


def train_drivor_fc_from_config(cfg: Any) -> dict[str, Any]:
    """``inspatio-drive train-drivor-fc`` (configs/train_drivor_fc.yaml): collect (or read the cache), train, write
    ``fc_heads.safetensors``, ``metrics.json``, ``loss.png`` and ``state.pt`` into ``cfg.output_dir``; returns the
    metrics.

    Raises:
        ValueError: (one line) a planner that is not ``drivor`` or already has a scorer; an unknown ``fc``; an FC
        node with a head or privileged; no scene. FileNotFoundError: the checkpoint / data root is not there.
    """
    fc = str(cfg.fc)
    if fc not in FC_MODES:
        raise ValueError(f"fc: expected one of {list(FC_MODES)}, got {fc!r}")
    p = OmegaConf.to_container(cfg.planner, resolve=True)
    assert isinstance(p, dict)
    if p.get("type") != "drivor" or p.get("scorer") is not None:
        raise ValueError(f"train-drivor-fc: needs planner=drivor with planner.scorer=null (the frozen port's own "
                         f"heads); got planner.type={p.get('type')!r}, planner.scorer={p.get('scorer')!r}")
    fc_node = dict(OmegaConf.to_container(cfg.scorer.model, resolve=True))  # type: ignore[arg-type]
    if fc_node.pop("_target_", "scorers.geometric.GeometricFC") != "scorers.geometric.GeometricFC":
        raise ValueError("scorer: expected the GeometricFC node (scorer=geometric_fc)")
    if fc_node.get("head") is not None:
        raise ValueError(f"scorer.model.head={fc_node['head']}: fc=features takes the FC features only; set it to null")
    if cfg.get("threads") is not None:
        torch.set_num_threads(int(cfg.threads))
    spec = build_planner(p)
    planner = spec.planner
    assert isinstance(planner, DrivoRPlanner)
    fc_term = GeometricFC(**fc_node)
    digest = port_digest(planner.model)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = out / "collected"
    train, train_cached = collected_split(cfg, str(cfg.train_split), planner, fc_term, digest, cache_dir)
    val, val_cached = collected_split(cfg, str(cfg.val_split), planner, fc_term, digest, cache_dir)
    o = cfg.optim
    optim = TrainConfig(epochs=int(o.epochs), batch_size=int(o.batch_size), lr=float(o.lr),
                        weight_decay=float(o.weight_decay), warmup_fraction=float(o.warmup_fraction),
                        seed=int(cfg.seed), progress=bool(cfg.progress), patience=o.patience)
    heads, result, info = train_drivor_fc(
        train, val, planner, optim, fc_names=None if cfg.fc_features is None else list(cfg.fc_features),
        hidden=int(cfg.hidden), weights=spec.weights, state_path=out / "state.pt", resume=bool(cfg.resume))
    config = portable_paths(OmegaConf.to_container(cfg, resolve=True))
    ckpt = save_fc_heads(out / "fc_heads.safetensors", heads, extra={
        "config": config, "fc_model": portable_paths(fc_node), "port_digest": digest, "fc": fc,
        "drivor_checkpoint": portable_paths(p.get("checkpoint")), "best_epoch": result.best_epoch})
    metrics = {
        "fc": fc, "fc_names": info["fc_names"], "seed": int(cfg.seed), "hidden": int(cfg.hidden),
        "drivor_checkpoint": portable_paths(p.get("checkpoint")), "random_weights": planner.random_weights,
        "port_digest": digest, "port_unchanged": info["port_unchanged"],
        "scenes": {"train": int(train["tokens"].shape[0]), "val": int(val["tokens"].shape[0])},
        "from_cache": {"train": train_cached, "val": val_cached},
        "best_epoch": result.best_epoch, "epochs_run": len(result.train_loss),
        "train_loss": result.train_loss[result.best_epoch], "val_loss": result.val_loss[result.best_epoch],
        "val_parts": result.val_parts[result.best_epoch], "val_selected": info["val_selected"],
        "train_loss_curve": result.train_loss, "val_loss_curve": result.val_loss,
        "trainable_parameters": sum(p.numel() for p in heads.parameters() if p.requires_grad),
    }
    if cfg.plot:
        plot_losses(result, out / "loss.png", title=f"DrivoR FC heads (fc={fc}, frozen port)")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    sel = info["val_selected"]
    print(f"train-drivor-fc [fc={fc}]: val loss {metrics['val_loss']:.4f} (epoch {result.best_epoch}); val PDMS of the "
          f"pick: DrivoR {sel['drivor']['PDMS']:.4f}, DrivoR+FC {sel['drivor_fc']['PDMS']:.4f}, oracle@K "
          f"{sel['oracle_at_k']['PDMS']:.4f} → {ckpt}", file=sys.stderr)
    return metrics
