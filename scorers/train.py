"""Training of the FC head: ``inspatio-drive train-fc dataset=<npz> [key=value ...]``.

Reads an FC dataset (:mod:`scorers.dataset`), trains :class:`scorers.head.FCHead` with a masked binary
cross-entropy per output against the true sub-scores of every candidate (multi-output head: NC, DAC, DDC, TTC,
EP, C, DrivoR's targets — NC and DDC 0.5 count as 0; legacy ``head.outputs=[FC]``: the label "collision-free and
on drivable area", NC == 1 and DAC == 1) on the train split, early-stops on the validation loss, chooses the fusion weight ``w_fc`` on the validation
split (:func:`scorers.fusion.choose_w_fc`), and writes ``fc_head.safetensors``, ``loss.png`` and
``metrics.json`` into ``output_dir``.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from scipy.stats import rankdata
from tqdm import tqdm

from inspatio_drive.config import portable_paths
from inspatio_drive.contracts import SUBSCORE_TO_NAVSIM
from scorers.dataset import FCDataset, load_training_dataset
from scorers.fusion import ValidationData, WeightChoice, choose_w_fc
from scorers.head import SINGLE_OUTPUT, SUBSCORE_OUTPUTS, FCHead, save_head
from scorers.head_training import TrainConfig, masked_bce, train_heads


def output_targets(ds: FCDataset, outputs: Sequence[str]) -> dict[str, np.ndarray]:
    """BCE targets ``{output: float32 [M, K]}`` of a dataset (NaN on padded candidates): ``FC`` → the NC·DAC
    label; a sub-score → its true value, with NC and DDC 0.5 counted as 0 (DrivoR's rule).

    Raises:
        ValueError: the dataset lacks a sub-score an output needs.
    """
    out = {}
    for name in outputs:
        if name == SINGLE_OUTPUT[0]:
            t = ds.labels.astype(np.float32)
        else:
            col = SUBSCORE_TO_NAVSIM[name]
            if col not in ds.subscores:
                raise ValueError(f"{ds.source}: no {col!r} column for the FC head output {name!r} "
                                 f"(has {sorted(ds.subscores)}); set head.outputs")
            t = ds.subscores[col].astype(np.float32)
            if name in ("NC", "DDC"):
                t = np.where(t == 0.5, np.float32(0.0), t)
        out[name] = np.where(ds.candidate_mask, t, np.nan).astype(np.float32)
    return out


class _AllOutputs(torch.nn.Module):
    """``head.logits`` as the module's forward (what the generic loop fits)."""

    def __init__(self, head: FCHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head.logits(x)


@dataclass
class TrainResult:
    """Trained head (best validation epoch), loss history per epoch and the best epoch index."""

    head: FCHead
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic, ties averaged); NaN if one class is absent."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")

    ranks = rankdata(s)  # average ranks over ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _flat(ds: FCDataset, columns: list[int], outputs: Sequence[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    m = ds.candidate_mask
    x = torch.from_numpy(ds.features[..., columns][m]).float()
    return x, {k: torch.from_numpy(v[m]) for k, v in output_targets(ds, outputs).items()}


def train_head(
    train: FCDataset,
    val: FCDataset | None,
    *,
    features: Sequence[str] | None = None,
    hidden: Sequence[int] = (32,),
    dropout: float = 0.0,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    epochs: int = 200,
    batch_size: int = 4096,
    patience: int = 20,
    seed: int = 0,
    progress: bool = True,
    trainer: str = "builtin",
    outputs: Sequence[str] = SUBSCORE_OUTPUTS,
    combine: str = "v1",
) -> TrainResult:
    """Fit an FC head with AdamW + BCE; keeps the weights of the best validation-loss epoch.

    Args:
        train, val: datasets (val may be None: then the last epoch is kept, no early stopping).
        features: names of the columns to use (default: all of ``train.feature_names``).
        trainer: ``builtin`` (this module's loop: candidate mini-batches, early stopping after ``patience``
            epochs) or ``planners`` (the planner room's generic ``planners.training.train_heads``: scene
            mini-batches of ``max(1, batch_size // K)`` scenes, warm-up + cosine schedule, padded
            candidates masked with NaN targets; no early stopping).
        outputs: the head's outputs (default every sub-score, a masked BCE each, summed; ``["FC"]``: the legacy
            NC·DAC label). combine: ``v1`` / ``v2``, how a multi-output head makes its FC logit.
    """
    if trainer == "planners":
        return _train_with_planners_loop(
            train, val, features=features, hidden=hidden, dropout=dropout, lr=lr, weight_decay=weight_decay,
            epochs=epochs, batch_size=batch_size, seed=seed, progress=progress, outputs=outputs, combine=combine,
        )  # fmt: skip
    if trainer != "builtin":
        raise ValueError(f"trainer must be 'builtin' or 'planners', got {trainer!r}")
    names = list(train.feature_names if features is None else features)
    unknown = [n for n in names if n not in train.feature_names]
    if unknown:
        raise KeyError(f"features {unknown} not in the dataset (has {list(train.feature_names)})")
    cols = [train.feature_names.index(n) for n in names]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = FCHead(names, hidden, dropout, outputs, combine)
    x, y = _flat(train, cols, head.outputs)
    if x.shape[0] == 0:
        raise ValueError("train split has no candidates")
    head.set_normalisation(x)
    xv, yv = _flat(val, cols, head.outputs) if val is not None else (None, None)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn(x_: torch.Tensor, y_: dict[str, torch.Tensor], idx: torch.Tensor | None = None) -> torch.Tensor:
        targets = y_ if idx is None else {k: v[idx] for k, v in y_.items()}
        return masked_bce(head.logits(x_ if idx is None else x_[idx]), targets)[0]
    result = TrainResult(head=head)
    best, best_state, since_best = float("inf"), copy.deepcopy(head.state_dict()), 0
    bar = tqdm(range(epochs), desc="train-fc", disable=not progress, file=sys.stderr)
    for epoch in bar:
        head.train()
        perm = torch.randperm(x.shape[0], generator=gen)
        total = 0.0
        for s in range(0, x.shape[0], batch_size):
            idx = perm[s : s + batch_size]
            loss = loss_fn(x, y, idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        result.train_loss.append(total / x.shape[0])
        if xv is not None and xv.shape[0] > 0:
            head.eval()
            with torch.no_grad():
                vl = float(loss_fn(xv, yv))
            result.val_loss.append(vl)
            if vl < best - 1e-7:
                best, best_state, since_best, result.best_epoch = (
                    vl,
                    copy.deepcopy(head.state_dict()),
                    0,
                    epoch,
                )
            else:
                since_best += 1
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}", val=f"{vl:.4f}")
            if since_best >= patience:
                break
        else:
            best_state, result.best_epoch = copy.deepcopy(head.state_dict()), epoch
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}")
    head.load_state_dict(best_state)
    head.eval()
    return result


def _train_with_planners_loop(
    train: FCDataset,
    val: FCDataset | None,
    *,
    features: Sequence[str] | None,
    hidden: Sequence[int],
    dropout: float,
    lr: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
    seed: int,
    progress: bool,
    outputs: Sequence[str] = SUBSCORE_OUTPUTS,
    combine: str = "v1",
) -> TrainResult:
    names = list(train.feature_names if features is None else features)
    unknown = [n for n in names if n not in train.feature_names]
    if unknown:
        raise KeyError(f"features {unknown} not in the dataset (has {list(train.feature_names)})")
    cols = [train.feature_names.index(n) for n in names]

    def tensors(ds: FCDataset) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = torch.from_numpy(ds.features[..., cols]).float()
        return x, {k: torch.from_numpy(v) for k, v in output_targets(ds, outputs).items()}

    torch.manual_seed(seed)
    head = FCHead(names, hidden, dropout, outputs, combine)
    x, y = tensors(train)
    head.set_normalisation(x[torch.from_numpy(train.candidate_mask)])
    cfg = TrainConfig(
        epochs=epochs, batch_size=max(1, batch_size // max(1, x.shape[1])), lr=lr, weight_decay=weight_decay,
        seed=seed, progress=progress,
    )  # fmt: skip
    res = train_heads(_AllOutputs(head), x, y, cfg, val=tensors(val) if val is not None else None)
    head.eval()
    return TrainResult(
        head=head, train_loss=list(res.train_loss), val_loss=list(res.val_loss), best_epoch=res.best_epoch
    )


def plot_losses(result: Any, path: str | Path, title: str = "FC head training") -> Path:
    """Write the train / validation loss curves (PNG) of a result with ``train_loss``, ``val_loss``, ``best_epoch``."""
    import matplotlib  # lazy: plotting only; the Agg backend is chosen first

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the Agg backend is chosen first

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(result.train_loss, label="train")
    if result.val_loss:
        ax.plot(result.val_loss, label="val")
        ax.axvline(result.best_epoch, color="gray", ls=":", lw=1, label="best")
    ax.set_xlabel("epoch")
    ax.set_ylabel("BCE loss (sum over outputs)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def predict_dataset(head: FCHead, ds: FCDataset) -> np.ndarray:
    """FC probabilities ``[M, K]`` for a dataset (columns picked by the head's feature names)."""
    cols = [ds.feature_names.index(n) for n in head.feature_names]
    return head.predict_proba(torch.from_numpy(ds.features[..., cols])).double().numpy()


def _output_aucs(head: FCHead, ds: FCDataset) -> dict[str, float]:
    """Validation ROC AUC of each output against its target binarised at 1 (NaN where one class is absent)."""
    cols = [ds.feature_names.index(n) for n in head.feature_names]
    with torch.no_grad():
        logits = head.eval().logits(torch.from_numpy(ds.features[..., cols]))
    m = ds.candidate_mask
    return {k: roc_auc(t[m] >= 1.0, logits[k].numpy()[m]) for k, t in output_targets(ds, head.outputs).items()}


def train_fc_from_config(cfg: Any) -> dict[str, Any]:
    """Train the FC head of a composed ``configs/scorer/train_fc.yaml`` (``inspatio-drive train-fc``): writes
    ``fc_head.safetensors``, ``metrics.json`` (and ``loss.png``) into ``cfg.output_dir``; returns the metrics.

    Raises:
        ValueError: no ``dataset`` set, or privileged features without ``allow_privileged``.
    """

    dataset_path, data = load_training_dataset(cfg)
    train, val = data.subset(cfg.train_split), data.subset(cfg.val_split)
    features = None if cfg.features is None else list(cfg.features)
    result = train_head(
        train, val, features=features, hidden=list(cfg.head.hidden), dropout=cfg.head.dropout,
        lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, epochs=cfg.optim.epochs,
        batch_size=cfg.optim.batch_size, patience=cfg.optim.patience, seed=cfg.seed, progress=cfg.progress,
        trainer=cfg.trainer, outputs=list(cfg.head.outputs), combine=str(cfg.head.combine),
    )  # fmt: skip
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    p_val = predict_dataset(result.head, val)
    metrics: dict = {
        "mode": "privileged" if data.privileged else "honest",
        "dataset": str(dataset_path),
        "seed": int(cfg.seed),
        "trainer": str(cfg.trainer),
        "features": list(result.head.feature_names),
        "outputs": list(result.head.outputs),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.train_loss),
        "train_loss": result.train_loss[result.best_epoch],
        "val_loss": result.val_loss[result.best_epoch] if result.val_loss else None,
        "val_auc": roc_auc(val.labels[val.candidate_mask], p_val[val.candidate_mask]),
        "val_positive_rate": float(val.labels[val.candidate_mask].mean()),
        "val_auc_per_output": _output_aucs(result.head, val),
    }
    choice: WeightChoice | None = None
    target = cfg.fusion.target
    if val.base_log_score is not None and target in val.subscores:
        keep_names = list(cfg.fusion.get("keep") or [])
        missing = [k for k in keep_names if k not in val.subscores]
        if missing:
            print(f"train-fc: fusion.keep {missing} not in the dataset's sub-scores {sorted(val.subscores)}; "
                  "those are not checked", file=sys.stderr)
            keep_names = [k for k in keep_names if k in val.subscores]
        choice = choose_w_fc(
            ValidationData(
                val.base_log_score, p_val, val.subscores[target], split=cfg.val_split, mask=val.candidate_mask,
                keep={k: val.subscores[k] for k in keep_names} or None,
            ),
            list(cfg.fusion.grid),
            tolerance=float(cfg.fusion.get("tolerance", 0.0)),
            z=float(cfg.fusion.get("z", 0.0)),
        )
        metrics["w_fc"] = choice.w_fc
        metrics["w_fc_grid"] = dict(zip(map(str, choice.grid), choice.mean_target))
        if choice.lowered is not None:
            metrics["w_fc_lowers"] = choice.lowered
    else:
        metrics["w_fc"] = None
        print(f"train-fc: no base_log_score / {target!r} in the val split; w_fc not chosen", file=sys.stderr)
    ckpt = save_head(
        out / "fc_head.safetensors", result.head, privileged=data.privileged,
        extra={"w_fc": metrics["w_fc"], "seed": int(cfg.seed),
               "config": portable_paths(OmegaConf.to_container(cfg))},
    )  # fmt: skip
    if cfg.plot:
        plot_losses(result, out / "loss.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(
        f"train-fc [{metrics['mode']}]: val loss {metrics['val_loss']:.4f}, val AUC {metrics['val_auc']:.3f}, "
        f"w_fc {metrics['w_fc']} → {ckpt}"
    )
    return metrics
