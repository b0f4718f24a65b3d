"""The generic training loop of per-candidate score heads: masked BCE against ``{name: [N, K]}`` targets
(NaN = no label), AdamW with warm-up + cosine, best validation epoch kept.

Shared by the future-consistency head (:mod:`scorers.train`, ``trainer=planners``) and the planners' learned
sub-score heads (:mod:`planners.training`); it knows no planner and no scene.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


def masked_bce(
    logits: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over heads of ``weight · mean BCE-with-logits`` over the non-NaN targets.

    Returns ``(loss, {name: head loss})``."""
    total = torch.zeros((), dtype=torch.float32)
    parts: dict[str, float] = {}
    for name, target in targets.items():
        if name not in logits:
            raise KeyError(f"masked_bce: the head gives no logit {name!r}; it gives {sorted(logits)}")
        valid = ~torch.isnan(target)
        if not bool(valid.any()):
            continue
        loss = F.binary_cross_entropy_with_logits(logits[name][valid].float(), target[valid].float())
        parts[name] = float(loss.detach())
        total = total + (1.0 if weights is None else float(weights.get(name, 1.0))) * loss
    return total, parts


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation knobs (DrivoR: AdamW, lr 2e-4 at batch 64, 10 % warm-up + cosine)."""

    epochs: int = 30
    batch_size: int = 16  # scenes per step
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    seed: int = 0
    device: str = "cpu"
    head_weights: Mapping[str, float] | None = None
    progress: bool = True


@dataclass
class TrainResult:
    """Per-epoch losses (``train``, ``val``; total and per head) and the epoch whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_parts: list[dict[str, float]] = field(default_factory=list)
    val_parts: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1


def _as_dict(out: Mapping[str, torch.Tensor] | torch.Tensor, names: list[str]) -> Mapping[str, torch.Tensor]:
    if isinstance(out, torch.Tensor):
        if len(names) != 1:
            raise ValueError(f"train_heads: the head returns one tensor but there are targets {names}")
        return {names[0]: out}
    return out


def _check(features: torch.Tensor, targets: Mapping[str, torch.Tensor], what: str) -> None:
    if features.ndim != 3:
        raise ValueError(f"train_heads: {what} features must be [N, K, D], got {tuple(features.shape)}")
    if not bool(torch.isfinite(features).all()):
        raise ValueError(f"train_heads: {what} features are not finite (NaN / inf)")
    for n, t in targets.items():
        if tuple(t.shape) != tuple(features.shape[:2]):
            raise ValueError(
                f"train_heads: {what} target {n!r} is {tuple(t.shape)}, expected {tuple(features.shape[:2])}"
            )


def evaluate_heads(
    head: nn.Module,
    features: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    config: TrainConfig = TrainConfig(),
) -> tuple[float, dict[str, float]]:
    """Loss of ``head`` on a data set (no gradient)."""
    head.eval()
    names = list(targets)
    with torch.no_grad():
        out = _as_dict(head(features.to(config.device)), names)
        loss, parts = masked_bce({k: v.cpu() for k, v in out.items()}, targets, config.head_weights)
    return float(loss), parts


def train_heads(
    head: nn.Module,
    features: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    config: TrainConfig = TrainConfig(),
    val: tuple[torch.Tensor, Mapping[str, torch.Tensor]] | None = None,
) -> TrainResult:
    """Train ``head`` (in place) on frozen ``features [N, K, D]`` against ``targets {name: [N, K]}``.

    With ``val``, the weights of the epoch with the lowest validation loss are restored at the end;
    without, the last epoch's are kept.
    """

    _check(features, targets, "training")
    if val is not None:
        _check(val[0], val[1], "validation")
    names = list(targets)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    head.to(config.device)
    params = [p for p in head.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    n = features.shape[0]
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    total = steps_per_epoch * config.epochs
    warm = max(1, int(config.warmup_fraction * total))

    def lr_factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    result = TrainResult()
    best, best_state = math.inf, None
    bar = tqdm(range(config.epochs), desc="training heads", disable=not config.progress)
    for epoch in bar:
        head.train()
        order = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        seen, epoch_loss = 0, 0.0
        for s in range(steps_per_epoch):
            idx = order[s * config.batch_size : (s + 1) * config.batch_size]
            if len(idx) == 0:
                continue
            out = _as_dict(head(features[idx].to(config.device)), names)
            loss, parts = masked_bce(
                {k: v.cpu() for k, v in out.items()},
                {k: v[idx] for k, v in targets.items()},
                config.head_weights,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            epoch_loss += float(loss.detach()) * len(idx)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            seen += len(idx)
        result.train_loss.append(epoch_loss / seen)
        result.train_parts.append({k: v / seen for k, v in sums.items()})
        if val is not None:
            vl, vp = evaluate_heads(head, val[0], val[1], config)
            result.val_loss.append(vl)
            result.val_parts.append(vp)
            if vl < best:
                best, best_state, result.best_epoch = vl, copy.deepcopy(head.state_dict()), epoch
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}", val=f"{vl:.4f}")
        else:
            result.best_epoch = epoch
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}")
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return result
