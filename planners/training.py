"""Training scorer heads on frozen planner features with BCE against PDM sub-scores of every proposal.

As DrivoR trains its scorer (``drivor_loss.py``): every proposal of every scene gets the true PDM sub-scores
as targets, each head a binary cross-entropy with logits; NC and DDC targets of 0.5 count as 0
(:func:`pdm_targets`); NaN targets are masked out (DrivoR masks TTC where its target is the sentinel 2.0,
use NaN for that). The planner is frozen: its per-proposal features (``Candidates.features``, e.g. DrivoR's
scorer tokens ``[K, 256]`` or the rule features ``[K, 7]``) are computed once by :func:`collect_training_data`.

The loop itself is generic and lives below the planners, in :mod:`scorers.head_training` (``train_heads``,
``TrainConfig``, ``masked_bce``), shared with the future-consistency head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from inspatio_drive.contracts import SUBSCORE_NAMES, Candidates
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig, load_map
from inspatio_drive.data.types import AgentInput
from inspatio_drive.pdm.cache import build_metric_cache
from planners.drivor.checkpoint import load_state_dict_strict
from planners.protocol import Planner

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


# ------------------------------------------------------------------------------------------- heads


class ScoreHeads(nn.Module):
    """DrivoR-style sub-score heads on per-proposal features: input standardisation (buffers ``mean`` /
    ``std``, set by :meth:`fit_normalization`), then per head ``Linear(D, hidden), ReLU, Linear(hidden, 1)``.

    ``forward(features [B, K, D]) -> {name: logits [B, K]}``."""

    def __init__(self, in_dim: int, hidden: int = 256, names: Iterable[str] = SUBSCORE_NAMES) -> None:
        super().__init__()
        self.names = tuple(names)
        self.in_dim, self.hidden = in_dim, hidden
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

    def architecture(self) -> dict[str, str]:
        """String metadata that rebuilds this module (stored by :func:`save_heads`)."""
        return {
            "class": "ScoreHeads",
            "in_dim": str(self.in_dim),
            "hidden": str(self.hidden),
            "names": ",".join(self.names),
        }

    @classmethod
    def from_file(cls, path: str | Path) -> ScoreHeads:
        """Rebuild and load heads written by :func:`save_heads`.

        Raises:
            ValueError: the file was not written from a :class:`ScoreHeads`.
        """

        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
        if md.get("class") != "ScoreHeads":
            raise ValueError(
                f"{path}: not a ScoreHeads file (metadata {md}); write it with planners.training.save_heads"
            )
        head = cls(int(md["in_dim"]), int(md["hidden"]), md["names"].split(","))
        return load_heads(head, path)  # type: ignore[return-value]

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (features - self.mean) / self.std
        return {n: head(x).squeeze(-1) for n, head in self.heads.items()}


def save_heads(head: nn.Module, path: str | Path, meta: Mapping[str, str] | None = None) -> Path:
    """Write a head's state dict as safetensors (with string metadata)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().contiguous() for k, v in head.state_dict().items()},
        str(path),
        metadata={**(head.architecture() if isinstance(head, ScoreHeads) else {}), **dict(meta or {})},
    )
    return path


def load_heads(head: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_heads` output strictly into ``head`` (clear error on mismatched keys)."""

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
    for _, agent_input, cache in loader_scenes_with_metric_caches(loader, maps, progress, f"scenes of {split}"):
        yield agent_input, cache


def loader_scenes_with_metric_caches(
    loader: SceneLoader, maps_root: str | Path, progress: bool = True, desc: str = "scenes"
) -> Iterator[tuple[str, AgentInput, object]]:
    """``(scene token, agent_input, metric_cache)`` for every scene of a built ``SceneLoader`` (e.g. from
    ``inspatio_drive.data.scene_loader_from_config``); metric caches built on the fly from the maps under
    ``maps_root`` (each map loaded once)."""
    map_cache: dict[str, object] = {}
    for token in tqdm(loader.tokens, desc=desc, disable=not progress):
        scene = loader.get_scene_from_token(token)
        name = scene.scene_metadata.map_name
        if name not in map_cache:
            map_cache[name] = load_map(Path(maps_root), name)
        yield str(token), scene.get_agent_input(), build_metric_cache(scene, map_cache[name])  # type: ignore[arg-type]
