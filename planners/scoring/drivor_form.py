"""The learned scorer in DrivoR's form (issue 21): scene tokens from the agent input, one token per candidate
from its poses, DrivoR's scorer decoder, one logit per sub-score, DrivoR's selection rule.

``DrivoRFormScorer(batch) -> {name: logits [B, K]}`` with ``batch``:

| key | shape | meaning |
|---|---|---|
| ``bev`` | float ``[B, 2, H, W]`` | LiDAR BEV grid of the current frame (:mod:`planners.scoring.scene_inputs`) |
| ``ego`` | float ``[B, 8]`` | velocity, acceleration, driving command |
| ``poses`` | float ``[B, K, T, 3]`` | candidates (x, y m; heading rad; current rear axle frame) |
| ``rule`` | float ``[B, K, R]`` | optional (``rule_dim > 0``): the rule scorer's honest per-candidate features |
| ``fc`` | float ``[B, K, F]`` | optional (``fc != none``): FC features (and, ``features+head``, the FC head's logits) |

Scene tokens: a patchifying convolution of the BEV grid (``(H / patch)²`` tokens) plus one ego-status token, with
learned position embeddings. Candidate tokens: an MLP of the flattened, standardised poses, plus (added, as the
issue's seed describes) MLP embeddings of the rule features and of the FC inputs. DrivoR's decoder blocks
(:class:`planners.drivor.decoder.TransformerDecoder`: self-attention over candidates, cross-attention to the scene)
and a LayerNorm + linear head give one logit per sub-score. Inputs are standardised with training-set statistics
stored as buffers (:meth:`DrivoRFormScorer.fit_normalization`). Padded candidates (if any) still attend; their
logits are masked out of the loss and never selected.

Targets (``ScorerConfig.targets``): ``v1`` — one logit per NAVSIM v1.1 sub-score (``NC DAC DDC TTC EP C``), trained
on PDMS dumps, selected with DrivoR's v1 preset; ``v2`` — one logit per NAVSIM v2.2 EPDMS sub-score in the EPDMS
code's order (``NC DAC DDC TLC EP TTC LK HC EC``: :data:`inspatio_drive.pdm.v2.SUBMETRICS` then EC), trained on
``evaluate metric=epdms`` dumps, selected with DrivoR's v2 weights on those logits
(:data:`~inspatio_drive.contracts.selection.DRIVOR_V2_TARGETS`). EC is the one optional v2 output: a training set
with no EC label (no scene 0.5 s earlier in its logs, e.g. the sandbox's one-scene logs) trains no EC logit, and
the selection then leaves the EC term out, as EPDMS drops EC's weight on such a frame.

Checkpoint: safetensors with the :class:`ScorerConfig` as JSON metadata (:func:`save_scorer`, :func:`load_scorer`);
a checkpoint written before ``targets`` existed is a v1 one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from inspatio_drive.contracts import SUBSCORE_TO_NAVSIM
from inspatio_drive.contracts.selection import (
    DRIVOR_V1,
    DRIVOR_V2_TARGETS,
    SelectionWeights,
    needed_logits,
    selection_score,
)
from inspatio_drive.pdm.v2 import EC_COLUMN, SUBMETRICS
from inspatio_drive.pdm.v2.knobs import EPDMS_SHORT
from planners.drivor.checkpoint import load_state_dict_strict
from planners.drivor.decoder import TransformerDecoder
from planners.scoring.scene_inputs import EGO_DIM

FORMAT = "inspatio-drive/drivor-form-scorer/1"
FC_MODES = ("none", "features", "features+head")
TARGET_COLUMNS: dict[str, dict[str, str]] = {
    "v1": dict(SUBSCORE_TO_NAVSIM),
    "v2": {EPDMS_SHORT[c]: c for c in (*SUBMETRICS, EC_COLUMN)},
}
"""Per target set: logit name → the navsim column of its true sub-score (v1.1 PDM / v2.2 EPDMS), in output order."""
TARGETS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in TARGET_COLUMNS.items()}
OPTIONAL_OUTPUTS: dict[str, tuple[str, ...]] = {"v1": (), "v2": ("EC",)}
"""Outputs a scorer of that target set may lack (not trained where the training data has no label)."""
SELECTION_PRESETS: dict[str, SelectionWeights] = {"v1": DRIVOR_V1, "v2": DRIVOR_V2_TARGETS}
"""DrivoR's selection preset of each target set (``ScorerConfig.selection`` names one; it must match the targets)."""
PLANNER_SELECTION: dict[str, str] = {"v1": "v1", "v2": "v2_targets"}
"""The ``configs/planner/selection`` preset holding the same weights as each :data:`SELECTION_PRESETS` entry (a
planner with ``scorer=drivor_form`` selects with it as the scorer's own ``selection_scores`` do)."""


@dataclass
class ScorerConfig:
    """Architecture of :class:`DrivoRFormScorer` (stored in its checkpoint).

    Attributes:
        dim, layers, heads: token width, decoder blocks, attention heads.
        horizon: poses per candidate (T). bev_channels, bev_cells, patch: BEV grid and its patch size (cells).
        rule_dim: rule features per candidate (0: none). fc: ``none`` | ``features`` | ``features+head``.
        fc_dim: FC inputs per candidate (feature columns, plus the FC head's logits with ``features+head``).
        fc_names: names of those inputs (checked against the data).
        targets: ``v1`` (NAVSIM v1.1 sub-scores) | ``v2`` (NAVSIM v2.2 EPDMS sub-scores), module docstring.
        outputs: sub-score logits predicted (``None``: every name of ``targets``; a subset of them otherwise).
        selection: DrivoR's selection preset of the logits (``v1`` / ``v2``; ``None``: the one of ``targets``); a
            preset of the other target set is a ``ValueError``.
    """

    dim: int = 64
    layers: int = 2
    heads: int = 4
    horizon: int = 8
    bev_channels: int = 2
    bev_cells: int = 32
    patch: int = 4
    rule_dim: int = 7
    fc: str = "none"
    fc_dim: int = 0
    fc_names: list[str] = field(default_factory=list)
    outputs: list[str] | None = None
    selection: str | None = None
    targets: str = "v1"

    def __post_init__(self) -> None:
        if self.targets not in TARGETS:
            raise ValueError(f"scorer targets must be one of {sorted(TARGETS)}, got {self.targets!r}")
        if self.outputs is None:
            self.outputs = list(TARGETS[self.targets])
        self.outputs = list(self.outputs)
        unknown = [o for o in self.outputs if o not in TARGETS[self.targets]]
        if unknown or not self.outputs:
            raise ValueError(f"scorer outputs {self.outputs} must be names of targets={self.targets} "
                             f"{list(TARGETS[self.targets])}")
        if self.selection is None:
            self.selection = self.targets
        if self.fc not in FC_MODES:
            raise ValueError(f"scorer fc must be one of {list(FC_MODES)}, got {self.fc!r}")
        if (self.fc == "none") != (self.fc_dim == 0):
            raise ValueError(f"scorer fc={self.fc!r} needs fc_dim {'0' if self.fc == 'none' else '> 0'}, got {self.fc_dim}")
        if self.selection not in SELECTION_PRESETS:
            raise ValueError(f"scorer selection must be one of {sorted(SELECTION_PRESETS)}, got {self.selection!r}")
        if self.selection != self.targets:
            raise ValueError(f"scorer selection={self.selection} needs a scorer trained with targets={self.selection} "
                             f"(this one: targets={self.targets}, logits {self.outputs})")
        if self.bev_cells % self.patch:
            raise ValueError(f"scorer bev_cells ({self.bev_cells}) must be a multiple of patch ({self.patch})")
        if self.dim % self.heads:
            raise ValueError(f"scorer dim ({self.dim}) must be a multiple of heads ({self.heads})")


def _mlp(d_in: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, dim), nn.GELU(), nn.Linear(dim, dim))


class DrivoRFormScorer(nn.Module):
    """See the module docstring; ``forward(batch) -> {name: [B, K]}``, :meth:`selection_scores` ``[B, K]``."""

    def __init__(self, config: ScorerConfig) -> None:
        super().__init__()
        c = self.config = config
        n_scene = (c.bev_cells // c.patch) ** 2
        self.bev_stem = nn.Conv2d(c.bev_channels, c.dim, kernel_size=c.patch, stride=c.patch)
        self.scene_pos = nn.Parameter(torch.zeros(n_scene + 1, c.dim))
        self.ego_embed = nn.Linear(EGO_DIM, c.dim)
        self.pose_embed = _mlp(c.horizon * 3, c.dim)
        self.rule_embed = _mlp(c.rule_dim, c.dim) if c.rule_dim else None
        self.fc_embed = _mlp(c.fc_dim, c.dim) if c.fc_dim else None
        self.decoder = TransformerDecoder(c.layers, c.dim, c.heads)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, len(c.outputs))
        nn.init.normal_(self.scene_pos, std=0.02)
        for name, d in (("poses", c.horizon * 3), ("rule", c.rule_dim), ("fc", c.fc_dim), ("ego", EGO_DIM)):
            self.register_buffer(f"{name}_mean", torch.zeros(d))
            self.register_buffer(f"{name}_std", torch.ones(d))

    def _norm(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    @torch.no_grad()
    def fit_normalization(self, batch: Mapping[str, torch.Tensor], mask: torch.Tensor | None = None) -> None:
        """Input mean / std from training inputs (``mask [N, K]``: the real candidates)."""
        flat = {"poses": batch["poses"].flatten(-2), "ego": batch["ego"][:, None]}
        if self.config.rule_dim:
            flat["rule"] = batch["rule"]
        if self.config.fc_dim:
            flat["fc"] = batch["fc"]
        for name, x in flat.items():
            rows = x.reshape(-1, x.shape[-1]) if mask is None or name == "ego" else x[mask]
            getattr(self, f"{name}_mean").copy_(rows.float().mean(0))
            getattr(self, f"{name}_std").copy_(rows.float().std(0, unbiased=False).clamp_min(1e-3))

    def _check(self, batch: Mapping[str, torch.Tensor]) -> None:
        c = self.config
        poses = batch["poses"]
        if poses.ndim != 4 or tuple(poses.shape[-2:]) != (c.horizon, 3):
            raise ValueError(f"DrivoRFormScorer: poses must be [B, K, {c.horizon}, 3], got {tuple(poses.shape)}")
        b, k = poses.shape[:2]
        want = {"bev": (b, c.bev_channels, c.bev_cells, c.bev_cells), "ego": (b, EGO_DIM)}
        if c.rule_dim:
            want["rule"] = (b, k, c.rule_dim)
        if c.fc_dim:
            want["fc"] = (b, k, c.fc_dim)
        for key, shape in want.items():
            if key not in batch:
                raise KeyError(f"DrivoRFormScorer: input {key!r} missing (config fc={c.fc!r}, rule_dim={c.rule_dim})")
            if tuple(batch[key].shape) != shape:
                raise ValueError(f"DrivoRFormScorer: {key} must be {list(shape)}, got {list(batch[key].shape)}")

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check(batch)
        scene = self.bev_stem(batch["bev"].float()).flatten(2).transpose(1, 2)  # [B, S, D]
        ego = self.ego_embed(self._norm("ego", batch["ego"]))[:, None]  # [B, 1, D]
        context = torch.cat([scene, ego], 1) + self.scene_pos
        tokens = self.pose_embed(self._norm("poses", batch["poses"].flatten(-2)))  # [B, K, D]
        if self.rule_embed is not None:
            tokens = tokens + self.rule_embed(self._norm("rule", batch["rule"]))
        if self.fc_embed is not None:
            tokens = tokens + self.fc_embed(self._norm("fc", batch["fc"]))
        out = self.head(self.norm(self.decoder(tokens, context)[-1]))  # [B, K, O]
        return {name: out[..., i] for i, name in enumerate(self.config.outputs)}

    def selection_scores(self, logits: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """DrivoR's selection score ``[B, K]`` of the logits (the config's preset, :func:`selection_weights`)."""
        return selection_score(logits, selection_weights(self.config))


def selection_weights(config: ScorerConfig, weights: SelectionWeights | None = None) -> SelectionWeights:
    """The selection weights a scorer of ``config`` selects with: ``weights`` (default: its own preset) with the term
    of an optional output it does not predict (v2's EC) left out.

    Raises:
        ValueError: (one line) the weights need a logit the scorer does not predict, e.g. a v2 selection on a
        scorer trained with ``targets=v1``.
    """
    w = SELECTION_PRESETS[str(config.selection)] if weights is None else weights
    outputs = list(config.outputs or ())
    dropped = [o for o in OPTIONAL_OUTPUTS[config.targets] if o not in outputs and o in needed_logits(w)]
    if dropped:
        w = replace(w, **{_WEIGHT_OF[o]: 0.0 for o in dropped})
    missing = [n for n in needed_logits(w) if n in _SUBSCORES and n not in outputs]
    if missing:
        want = "v2" if any(n in TARGETS["v2"] and n not in TARGETS["v1"] for n in missing) else "v1"
        raise ValueError(f"selection needs the logits {missing}, which a scorer trained with targets={config.targets} "
                         f"(logits {outputs}) does not give: use a targets={want} scorer or a selection preset of "
                         f"its targets ({config.targets})")
    return w


_WEIGHT_OF = {"EC": "ec"}
_SUBSCORES = frozenset(TARGETS["v1"]) | frozenset(TARGETS["v2"])


def save_scorer(path: str | Path, model: DrivoRFormScorer, extra: Mapping | None = None) -> Path:
    """Weights as safetensors, metadata: format, the :class:`ScorerConfig` JSON, ``extra`` JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "config": json.dumps(asdict(model.config)), "extra": json.dumps(dict(extra or {}))}
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    return path


def load_scorer(path: str | Path) -> tuple[DrivoRFormScorer, dict]:
    """``(model in eval mode, extra)`` of a :func:`save_scorer` checkpoint.

    Raises:
        FileNotFoundError, ValueError: missing file, another format, or tensors that do not match the config.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scorer checkpoint not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a DrivoR-form scorer checkpoint (format {meta.get('format')!r}, "
                         f"expected {FORMAT!r})")
    model = DrivoRFormScorer(ScorerConfig(**json.loads(meta["config"])))
    load_state_dict_strict(model, load_file(str(path)), source=f"scorer weights {path}")
    return model.eval(), json.loads(meta.get("extra", "{}"))


def stack_batch(items: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-scene inputs (no batch axis) → one batch (every key stacked on a new first axis)."""
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}
