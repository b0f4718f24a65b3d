"""The generic training loop of per-candidate score heads: masked BCE against ``{name: [N, K]}`` targets
(NaN = no label), AdamW with warm-up + cosine, best validation epoch kept.

Shared by the future-consistency head (:mod:`scorers.train`, ``trainer=planners``), the planners' learned
sub-score heads (:mod:`planners.training`) and the learned DrivoR-form scorer (``train-scorer``); it knows no
planner and no scene. Inputs are one ``[N, K, D]`` tensor, or a mapping of per-scene tensors ``{name: [N, ...]}``
(the model is then called with the mini-batch mapping). Optional: early stopping (``TrainConfig.patience``) and
a resume state written after every epoch (``state_path``; loaded with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    patience: int | None = None  # stop after this many epochs without a lower validation loss (None: never)


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


Inputs = torch.Tensor | Mapping[str, torch.Tensor]
"""``[N, K, D]`` features, or per-scene tensors ``{name: [N, ...]}``."""


def _rows(x: Inputs, idx: torch.Tensor | None, device: str) -> Inputs:
    """Scenes ``idx`` (all when None) of the inputs, on ``device``."""
    if isinstance(x, torch.Tensor):
        return (x if idx is None else x[idx]).to(device)
    return {k: (v if idx is None else v[idx]).to(device) for k, v in x.items()}


def _num_scenes(x: Inputs) -> int:
    return int(x.shape[0]) if isinstance(x, torch.Tensor) else int(next(iter(x.values())).shape[0])


def _check(features: Inputs, targets: Mapping[str, torch.Tensor], what: str) -> None:
    if not isinstance(features, torch.Tensor):
        n = _num_scenes(features)
        for k, v in features.items():
            if v.shape[0] != n:
                raise ValueError(f"train_heads: {what} input {k!r} has {v.shape[0]} scenes, expected {n}")
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                raise ValueError(f"train_heads: {what} input {k!r} is not finite (NaN / inf)")
        for t_name, t in targets.items():
            if t.shape[0] != n:
                raise ValueError(f"train_heads: {what} target {t_name!r} has {t.shape[0]} scenes, expected {n}")
        return
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
    features: Inputs,
    targets: Mapping[str, torch.Tensor],
    config: TrainConfig = TrainConfig(),
) -> tuple[float, dict[str, float]]:
    """Loss of ``head`` on a data set (no gradient)."""
    head.eval()
    names = list(targets)
    with torch.no_grad():
        out = _as_dict(head(_rows(features, None, config.device)), names)
        loss, parts = masked_bce({k: v.cpu() for k, v in out.items()}, targets, config.head_weights)
    return float(loss), parts


def train_heads(
    head: nn.Module,
    features: Inputs,
    targets: Mapping[str, torch.Tensor],
    config: TrainConfig = TrainConfig(),
    val: tuple[Inputs, Mapping[str, torch.Tensor]] | None = None,
    state_path: str | Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train ``head`` (in place) on frozen ``features [N, K, D]`` (or per-scene inputs ``{name: [N, ...]}``)
    against ``targets {name: [N, K]}``.

    With ``val``, the weights of the epoch with the lowest validation loss are restored at the end (and
    ``config.patience`` stops early); without, the last epoch's are kept. With ``state_path``, the whole training
    state (weights, optimiser, schedule, random generators, history, best weights) is written after every epoch;
    ``resume=True`` continues from it when it exists, and gives the same weights as an uninterrupted run.
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
    n = _num_scenes(features)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    total = steps_per_epoch * config.epochs
    warm = max(1, int(config.warmup_fraction * total))

    def lr_factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    result = TrainResult()
    best, best_state, since_best, start = math.inf, None, 0, 0
    state_file = None if state_path is None else Path(state_path)
    if resume and state_file is not None and state_file.is_file():
        st = torch.load(state_file, weights_only=True)
        head.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        result = TrainResult(**st["result"])
        best, best_state, since_best, start = float(st["best"]), st["best_state"], int(st["since_best"]), int(st["epoch"])
    bar = tqdm(range(start, config.epochs), desc="training heads", disable=not config.progress,
               initial=start, total=config.epochs)
    for epoch in bar:
        if config.patience is not None and val is not None and since_best >= config.patience:
            break
        head.train()
        order = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        seen, epoch_loss = 0, 0.0
        for s in range(steps_per_epoch):
            idx = order[s * config.batch_size : (s + 1) * config.batch_size]
            if len(idx) == 0:
                continue
            out = _as_dict(head(_rows(features, idx, config.device)), names)
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
                best, best_state, result.best_epoch, since_best = vl, copy.deepcopy(head.state_dict()), epoch, 0
            else:
                since_best += 1
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}", val=f"{vl:.4f}")
        else:
            result.best_epoch = epoch
            bar.set_postfix(train=f"{result.train_loss[-1]:.4f}")
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = state_file.with_name(f".{state_file.name}.tmp")
            torch.save({"model": head.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "gen": gen.get_state(), "rng": torch.get_rng_state(), "result": asdict(result),
                        "best": best, "best_state": best_state, "since_best": since_best, "epoch": epoch + 1}, tmp)
            tmp.replace(state_file)
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return result
