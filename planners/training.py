"""Training scorer heads on frozen planner features with BCE against PDM sub-scores of every proposal.

As DrivoR trains its scorer (``drivor_loss.py``): every proposal of every scene gets the true PDM sub-scores
as targets, each head a binary cross-entropy with logits; NC and DDC targets of 0.5 count as 0
(:func:`pdm_targets`); NaN targets are masked out (DrivoR masks TTC where its target is the sentinel 2.0,
use NaN for that). The planner is frozen: its per-proposal features (``Candidates.features``, e.g. DrivoR's
scorer tokens ``[K, 256]`` or the rule features ``[K, 7]``) are computed once by :func:`collect_training_data`.

Generic entry point, also used for the future-consistency head::

    train_heads(head, features [N, K, D], targets {name: [N, K]}, config=TrainConfig(), val=None) -> TrainResult

``head`` maps a batch ``[B, K, D]`` to ``{name: logits [B, K]}`` (or a single ``[B, K]`` tensor when there is
exactly one target). Optimiser: AdamW, linear warm-up then cosine decay (DrivoR's schedule), mini-batches of
scenes, seeded; returns per-epoch train / validation losses (total and per head) and keeps the weights of
the best validation epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inspatio_drive.data.types import AgentInput
from planners.protocol import SUBSCORE_NAMES, Candidates, Planner

# ------------------------------------------------------------------------------------------- targets


def pdm_targets(
    subscores: Mapping[str, object], names: Iterable[str] = SUBSCORE_NAMES
) -> dict[str, torch.Tensor]:
    """BCE targets ``{name: float32 [..., K]}`` from PDM sub-scores (DrivoR's rule: NC and DDC 0.5 -> 0).

    Raises:
        KeyError / ValueError: a sub-score is missing or outside [0, 1] (NaN is allowed: masked).
    """
    out = {}
    for name in names:
        if name not in subscores:
            raise KeyError(f"pdm_targets: sub-score {name!r} missing; got {sorted(subscores)}")
        t = torch.as_tensor(np.asarray(subscores[name], dtype=np.float32))
        finite = t[~torch.isnan(t)]
        if len(finite) and ((finite < 0).any() or (finite > 1).any()):
            raise ValueError(f"pdm_targets: {name!r} must be in [0, 1] (or NaN = masked)")
        if name in ("NC", "DDC"):
            t = torch.where(t == 0.5, torch.zeros_like(t), t)
        out[name] = t
    return out


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


# ------------------------------------------------------------------------------------------- heads


class ScoreHeads(nn.Module):
    """DrivoR-style sub-score heads on per-proposal features: input standardisation (buffers ``mean`` /
    ``std``, set by :meth:`fit_normalization`), then per head ``Linear(D, hidden), ReLU, Linear(hidden, 1)``.

    ``forward(features [B, K, D]) -> {name: logits [B, K]}``."""

    def __init__(self, in_dim: int, hidden: int = 256, names: Iterable[str] = SUBSCORE_NAMES) -> None:
        super().__init__()
        self.names = tuple(names)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.heads = nn.ModuleDict(
            {n: nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)) for n in self.names}
        )

    def fit_normalization(self, features: torch.Tensor) -> None:
        """Set ``mean`` / ``std`` from training features ``[..., D]``."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp(min=1e-6))

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (features - self.mean) / self.std
        return {n: head(x).squeeze(-1) for n, head in self.heads.items()}


def save_heads(head: nn.Module, path: str | Path, meta: Mapping[str, str] | None = None) -> Path:
    """Write a head's state dict as safetensors (with string metadata)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().contiguous() for k, v in head.state_dict().items()},
        str(path),
        metadata=dict(meta or {}),
    )
    return path


def load_heads(head: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_heads` output strictly into ``head`` (clear error on mismatched keys)."""
    from safetensors.torch import load_file

    from planners.drivor.checkpoint import load_state_dict_strict

    load_state_dict_strict(head, load_file(str(path)), source=f"head weights {path}")
    return head


# ------------------------------------------------------------------------------------------- data


ContextScoreFn = Callable[[Candidates, object], Mapping[str, object]]
"""``(candidates of one scene, context) -> {NC … C: [K]}`` true sub-scores, e.g.
``lambda c, cache: PDMOracleScorer().subscores(c.poses, cache)``."""


def collect_training_data(
    items: Iterable[tuple[AgentInput, object]],
    planner: Planner,
    subscores_fn: ContextScoreFn,
    names: Iterable[str] = SUBSCORE_NAMES,
    progress: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Run the frozen planner on every scene and label every proposal.

    Args:
        items: ``(agent_input, context)`` per scene; ``context`` is what ``subscores_fn`` needs (a metric cache).
        planner: its candidates must carry ``features [K, D]`` (e.g. DrivoR, or a planner with the rule scorer).
        subscores_fn: true sub-scores of the candidates.

    Returns:
        ``features [N, K, D]``, ``targets {name: [N, K]}`` (:func:`pdm_targets`), ``poses [N, K, T, 3]``.

    Raises:
        ValueError: a planner gives no features, or scenes have different ``K``.
    """
    from tqdm import tqdm

    names = tuple(names)
    feats, poses, targets = [], [], {n: [] for n in names}
    for i, (agent_input, context) in enumerate(tqdm(items, desc="labelling proposals", disable=not progress)):
        cands = planner.propose(agent_input)
        if cands.features is None:
            raise ValueError(
                f"collect_training_data: planner {getattr(planner, 'name', planner)!r} gives no per-candidate "
                "features (Candidates.features); use DrivoR or attach RuleBasedScorer"
            )
        if feats and cands.features.shape != feats[0].shape:
            raise ValueError(
                f"collect_training_data: scene {i} features {tuple(cands.features.shape)} != {tuple(feats[0].shape)}"
            )
        feats.append(cands.features.float())
        poses.append(cands.poses.float())
        for n, t in pdm_targets(subscores_fn(cands, context), names).items():
            targets[n].append(t.reshape(-1))
    if not feats:
        raise ValueError("collect_training_data: no scenes")
    return torch.stack(feats), {n: torch.stack(v) for n, v in targets.items()}, torch.stack(poses)


# ------------------------------------------------------------------------------------------- loop


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
    from tqdm import tqdm

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


# ------------------------------------------------------------------------------------------- split helper


def scenes_with_metric_caches(
    data_root: str | Path,
    split: str,
    maps_root: str | Path | None = None,
    sensor_config: object = None,
    scene_filter: object = None,
    progress: bool = True,
) -> Iterable[tuple[AgentInput, object]]:
    """``(agent_input, metric_cache)`` for every scene of an OpenScene split (e.g. a sandbox split), the
    ``items`` of :func:`collect_training_data`. Metric caches are built on the fly with
    ``inspatio_drive.pdm.cache.build_metric_cache`` (maps from ``maps_root``, default ``<data_root>/maps``).

    Args:
        sensor_config: a data-room ``SensorConfig`` (default: LiDAR of the current frame, for the rule scorer;
            ``SensorConfig.build_drivor()`` for DrivoR).
        scene_filter: a data-room ``SceneFilter`` (default: navsim's, 4 history + 10 future frames).
    """
    from tqdm import tqdm

    from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig, load_map
    from inspatio_drive.pdm.cache import build_metric_cache

    root = Path(data_root)
    sf = scene_filter if scene_filter is not None else SceneFilter()
    if sensor_config is None:
        cur = [sf.num_history_frames - 1]  # type: ignore[attr-defined]
        sensor_config = SensorConfig.build_no_sensors()
        sensor_config.lidar_pc = cur
    loader = SceneLoader(
        root / "navsim_logs" / split, root / "sensor_blobs" / split, sf, sensor_config, show_progress=False
    )
    maps = Path(maps_root) if maps_root is not None else root / "maps"
    map_cache: dict[str, object] = {}
    for token in tqdm(loader.tokens, desc=f"scenes of {split}", disable=not progress):
        scene = loader.get_scene_from_token(token)
        name = scene.scene_metadata.map_name
        if name not in map_cache:
            map_cache[name] = load_map(maps, name)
        yield scene.get_agent_input(), build_metric_cache(scene, map_cache[name])  # type: ignore[arg-type]
