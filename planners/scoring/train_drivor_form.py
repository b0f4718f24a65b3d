"""Training of the learned DrivoR-form scorer (:mod:`planners.scoring.drivor_form`): ``inspatio-drive
train-scorer dataset=<npz> fc=none|features|features+head [key=value ...]``.

Data: an FC dataset NPZ (:mod:`scorers.dataset`) whose scenes carry ``poses``, ``scene_bev``, ``scene_ego`` and
(for ``rule_dim > 0``) ``planner_features`` — what ``evaluate eval.dump_dir=…`` writes with the vocabulary
planner + rule scorer and the study collects. Targets: the true sub-scores of every candidate, DrivoR's BCE
targets (:func:`planners.training.pdm_targets`: NC, DDC 0.5 → 0), padded candidates masked — ``targets=v1`` the
NAVSIM v1.1 sub-scores of a PDMS dataset, ``targets=v2`` the v2.2 EPDMS sub-scores of a dataset collected from
``evaluate metric=epdms`` dumps (``targets=null``: the dataset's metric; a mismatch is refused). The loop is the
generic :func:`scorers.head_training.train_heads` (AdamW, warm-up + cosine, best validation epoch kept, early
stopping, per-epoch resume state).

FC inputs (``fc``): ``features`` → the dataset's FC feature columns (``fc_features``, default all);
``features+head`` → those and the logits of a trained FC head (``fc_head``, a ``train-fc`` checkpoint) on them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from inspatio_drive.config import portable_paths
from inspatio_drive.pdm.v2.knobs import METRIC_LABEL
from planners.scoring.drivor_form import (
    OPTIONAL_OUTPUTS,
    TARGET_COLUMNS,
    TARGETS,
    DrivoRFormScorer,
    ScorerConfig,
    save_scorer,
)
from planners.training import pdm_targets
from scorers.dataset import FCDataset, load_training_dataset
from scorers.head import FCHead, load_head
from scorers.head_training import TrainConfig, TrainResult, train_heads
from scorers.train import plot_losses


def fc_inputs(ds: FCDataset, fc: str, names: Sequence[str] | None = None, head: FCHead | None = None
              ) -> tuple[np.ndarray | None, list[str]]:
    """``([M, K, F'] float32 or None, input names)`` of an FC mode (module docstring).

    Raises:
        KeyError: a feature name the dataset lacks. ValueError: ``features+head`` without a head.
    """
    if fc == "none":
        return None, []
    names = list(ds.feature_names if names is None or len(names) == 0 else names)
    unknown = [n for n in names if n not in ds.feature_names]
    if unknown:
        raise KeyError(f"fc_features {unknown} not in the dataset (has {list(ds.feature_names)})")
    x = ds.features[..., [ds.feature_names.index(n) for n in names]].astype(np.float32)
    if fc == "features":
        return x, names
    if head is None:
        raise ValueError("fc=features+head needs fc_head=<train-fc checkpoint>")
    cols = [ds.feature_names.index(n) for n in head.feature_names]
    with torch.no_grad():
        logits = head.eval().logits(torch.from_numpy(ds.features[..., cols]))
    extra = np.stack([logits[o].numpy() for o in head.outputs], -1).astype(np.float32)
    return np.concatenate([x, extra], -1), names + [f"fc_head.{o}" for o in head.outputs]


def scorer_batch(ds: FCDataset, config: ScorerConfig, fc: np.ndarray | None) -> dict[str, torch.Tensor]:
    """The model inputs of every scene of ``ds`` (module docstring of :mod:`planners.scoring.drivor_form`).

    Raises:
        ValueError: the dataset lacks an array the config needs (naming it and where it comes from).
    """
    need = {"poses": ds.candidate_arrays, "bev": ds.scene_arrays, "ego": ds.scene_arrays}
    if config.rule_dim:
        need["planner_features"] = ds.candidate_arrays
    for k, where in need.items():
        if k not in where:
            raise ValueError(f"{ds.source}: no {k!r} array; collect the dataset from `evaluate eval.dump_dir=…` dumps "
                             "of the vocabulary planner with the rule scorer (inspatio-drive study writes them)")
    batch = {"poses": torch.from_numpy(np.asarray(ds.candidate_arrays["poses"], np.float32)),
             "bev": torch.from_numpy(np.asarray(ds.scene_arrays["bev"], np.float32)),
             "ego": torch.from_numpy(np.asarray(ds.scene_arrays["ego"], np.float32))}
    if config.rule_dim:
        batch["rule"] = torch.from_numpy(np.asarray(ds.candidate_arrays["planner_features"], np.float32))
    if fc is not None:
        batch["fc"] = torch.from_numpy(fc)
    return batch


TARGETS_OF_METRIC = {METRIC_LABEL["pdms"]: "v1", METRIC_LABEL["epdms"]: "v2"}
"""A dataset's ``metric`` label → the target set it holds (a dataset without the label is v1.1 PDMS)."""


def dataset_targets(ds: FCDataset, targets: str | None = None) -> str:
    """The target set (``v1`` / ``v2``) to train on ``ds``: ``targets``, or the dataset's metric when ``None``.

    Raises:
        ValueError: (one line) an unknown target set, or one the dataset's metric does not provide.
    """
    have = TARGETS_OF_METRIC.get(str(ds.metric), "v1") if ds.metric is not None else "v1"
    if targets is None:
        return have
    if targets not in TARGETS:
        raise ValueError(f"targets: expected one of {sorted(TARGETS)} (or null = the dataset's metric), got {targets!r}")
    if targets != have:
        how = "evaluate metric=epdms" if targets == "v2" else "evaluate metric=pdms"
        raise ValueError(f"{ds.source}: targets={targets} needs a dataset of {how} dumps; this one holds "
                         f"{ds.metric or METRIC_LABEL['pdms']} sub-scores (targets={have})")
    return targets


def scorer_targets(ds: FCDataset, outputs: Sequence[str] | None = None, targets: str = "v1") -> dict[str, torch.Tensor]:
    """``{sub-score: float32 [M, K]}`` DrivoR BCE targets of the ``targets`` set (``outputs``: a subset of its names,
    default all), NaN on padded candidates and where the dataset has no label (an optional output, v2's EC).

    Raises:
        KeyError: a required sub-score column missing from the dataset.
    """
    columns = TARGET_COLUMNS[targets]
    names = list(TARGETS[targets] if outputs is None else outputs)
    subs = {}
    for name in names:
        column = columns[name]
        if column in ds.subscores:
            subs[name] = ds.subscores[column]
        elif name in OPTIONAL_OUTPUTS[targets]:
            subs[name] = np.full(ds.candidate_mask.shape, np.nan)
        else:
            raise KeyError(f"{ds.source}: no {column!r} sub-scores for the {name} target (targets={targets})")
    t = pdm_targets(subs, names)
    mask = torch.from_numpy(ds.candidate_mask)
    return {k: torch.where(mask, v, torch.full_like(v, float("nan"))) for k, v in t.items()}


def labelled_outputs(ds: FCDataset, config: ScorerConfig) -> list[str]:
    """``config.outputs`` less the optional ones without any label in ``ds`` (v2's EC on one-scene logs)."""
    t = scorer_targets(ds, config.outputs, config.targets)
    return [o for o in config.outputs or () if o not in OPTIONAL_OUTPUTS[config.targets]
            or bool((~torch.isnan(t[o])).any())]


@torch.no_grad()
def predict_logits(model: DrivoRFormScorer, batch: dict[str, torch.Tensor], chunk: int = 64) -> dict[str, torch.Tensor]:
    """Logits ``{name: [M, K]}`` of every scene, in chunks of scenes."""
    model.eval()
    n = batch["poses"].shape[0]
    parts = [model({k: v[i : i + chunk] for k, v in batch.items()}) for i in range(0, n, chunk)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def selected_scores(model: DrivoRFormScorer, ds: FCDataset, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """``[M]`` index of the candidate DrivoR's selection rule picks in every scene (padded ones never)."""
    scores = model.selection_scores(predict_logits(model, batch)).double()
    scores = scores.masked_fill(~torch.from_numpy(ds.candidate_mask), float("-inf"))
    return torch.argmax(scores, -1).numpy()


def train_scorer(
    train: FCDataset,
    val: FCDataset,
    config: ScorerConfig,
    optim: TrainConfig,
    *,
    fc_names: Sequence[str] | None = None,
    fc_head: FCHead | None = None,
    state_path: str | Path | None = None,
    resume: bool = False,
) -> tuple[DrivoRFormScorer, TrainResult, dict[str, Any]]:
    """Fit a scorer; returns ``(model with the best validation epoch's weights, losses, info)`` where info holds the
    FC input names and the validation mean of each true sub-score (and PDMS) of the selected candidates."""
    x_tr, names = fc_inputs(train, config.fc, fc_names, fc_head)
    x_va, _ = fc_inputs(val, config.fc, fc_names, fc_head)
    config.fc_dim, config.fc_names = (0 if x_tr is None else int(x_tr.shape[-1])), names
    config.__post_init__()
    unlabelled = [o for o in config.outputs or () if o not in labelled_outputs(train, config)]
    config.outputs = [o for o in config.outputs or () if o not in unlabelled]
    torch.manual_seed(optim.seed)
    model = DrivoRFormScorer(config)
    batch_tr, batch_va = scorer_batch(train, config, x_tr), scorer_batch(val, config, x_va)
    model.fit_normalization(batch_tr, torch.from_numpy(train.candidate_mask))
    result = train_heads(model, batch_tr, scorer_targets(train, config.outputs, config.targets), optim,
                         val=(batch_va, scorer_targets(val, config.outputs, config.targets)), state_path=state_path,
                         resume=resume)
    pick = selected_scores(model, val, batch_va)
    chosen = {k: float(np.take_along_axis(v, pick[:, None], 1).mean()) for k, v in val.subscores.items()}
    return model, result, {"fc_names": names, "val_selected": chosen, "not_trained": unlabelled}


def train_scorer_from_config(cfg: Any) -> dict[str, Any]:
    """``inspatio-drive train-scorer`` (configs/train_scorer.yaml): writes ``scorer.safetensors`` (weights + config),
    ``metrics.json``, ``loss.png`` and the resume state ``state.pt`` into ``cfg.output_dir``; returns the metrics.

    Raises:
        ValueError: no ``dataset``; a privileged dataset without ``allow_privileged``; ``fc=features+head``
        without ``fc_head``.
    """
    dataset_path, data = load_training_dataset(cfg, "FC dataset NPZ with poses and scene arrays")
    if cfg.get("threads") is not None:
        torch.set_num_threads(int(cfg.threads))
    fc = str(cfg.fc)
    head = None
    if fc == "features+head":
        if not cfg.get("fc_head"):
            raise ValueError("fc=features+head needs fc_head=<train-fc checkpoint (fc_head.safetensors)>")
        head, _ = load_head(cfg.fc_head)
    m = cfg.model
    targets = dataset_targets(data, None if cfg.get("targets") is None else str(cfg.targets))
    config = ScorerConfig(dim=int(m.dim), layers=int(m.layers), heads=int(m.heads), horizon=int(m.horizon),
                          bev_channels=int(m.bev_channels), bev_cells=int(m.bev_cells), patch=int(m.patch),
                          rule_dim=int(m.rule_dim), fc=fc, fc_dim=0 if fc == "none" else 1,
                          outputs=None if m.get("outputs") is None else list(m.outputs), targets=targets,
                          selection=None if cfg.get("selection") is None else str(cfg.selection))
    o = cfg.optim
    optim = TrainConfig(epochs=int(o.epochs), batch_size=int(o.batch_size), lr=float(o.lr),
                        weight_decay=float(o.weight_decay), warmup_fraction=float(o.warmup_fraction),
                        seed=int(cfg.seed), progress=bool(cfg.progress), patience=o.patience)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, result, info = train_scorer(
        data.subset(cfg.train_split), data.subset(cfg.val_split), config, optim,
        fc_names=None if cfg.fc_features is None else list(cfg.fc_features), fc_head=head,
        state_path=out / "state.pt", resume=bool(cfg.resume))
    metrics = {
        "dataset": str(dataset_path), "fc": fc, "seed": int(cfg.seed), "config": asdict(model.config),
        "best_epoch": result.best_epoch, "epochs_run": len(result.train_loss),
        "train_loss": result.train_loss[result.best_epoch], "val_loss": result.val_loss[result.best_epoch],
        "val_parts": result.val_parts[result.best_epoch], "val_selected": info["val_selected"],
        "targets": model.config.targets, "not_trained": info["not_trained"],
        "train_loss_curve": result.train_loss, "val_loss_curve": result.val_loss,
        "mode": "privileged" if data.privileged else "honest",
    }
    ckpt = save_scorer(out / "scorer.safetensors", model,
                       extra={"config": portable_paths(OmegaConf.to_container(cfg)), "best_epoch": result.best_epoch})
    if cfg.plot:
        plot_losses(result, out / "loss.png", title=f"DrivoR-form scorer (fc={fc})")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if info["not_trained"]:
        print(f"train-scorer: no label of {info['not_trained']} in the train split: not predicted, and left out of "
              "the selection", file=sys.stderr)
    what = "PDMS" if targets == "v1" else "EPDMS (frame, without EC)"
    print(f"train-scorer [fc={fc}, targets={targets}]: val loss {metrics['val_loss']:.4f} (epoch {result.best_epoch}), "
          f"val {what} of the selected {info['val_selected'].get('score', float('nan')):.4f} → {ckpt}", file=sys.stderr)
    return metrics
