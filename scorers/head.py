"""The learned future-consistency (FC) head: features ``[..., F]`` → one logit per output. Logistic regression
(``hidden=[]``) or a small MLP; inputs are standardised with the training-set mean / std stored in the module.
Checkpoints are safetensors with JSON metadata.

Outputs:

* multi-output (default since issue 21, checkpoint format ``fc-head/2``): one logit per PDM sub-score
  (``NC, DAC, DDC, TTC, EP, C``), trained with a masked BCE per sub-score (:func:`scorers.train.train_head`). The
  single FC logit that fusion (``base + w_fc · logσ(FC)``) reads is ``logit(P)`` with ``log P`` DrivoR's
  selection surrogate of those sub-scores (``combine``: ``v1`` / ``v2`` weights) normalised to ``log P <= 0``:
  ``log P = Σ_m w_m logσ(X_m) + log(Σ_a w_a σ(X_a) / Σ_a w_a)`` (m: NC, DAC, DDC; a: TTC, EP, C).
* single-output ``("FC",)`` (format ``fc-head/1``, every checkpoint written before): the logit of
  P(NC == 1 and DAC == 1); these checkpoints keep loading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from inspatio_drive.contracts import SUBSCORE_NAMES
from inspatio_drive.contracts.selection import DRIVOR_V1, DRIVOR_V2, SelectionWeights, selection_score

FORMAT = "inspatio-drive/fc-head/2"
FORMAT_V1 = "inspatio-drive/fc-head/1"
SINGLE_OUTPUT = ("FC",)
"""Outputs of a format-1 head: the logit of P(NC == 1 and DAC == 1)."""
SUBSCORE_OUTPUTS: tuple[str, ...] = SUBSCORE_NAMES
COMBINE: dict[str, SelectionWeights] = {"v1": DRIVOR_V1, "v2": DRIVOR_V2}
"""How the sub-score logits of a multi-output head make its one FC logit (DrivoR's selection weights)."""


def combined_log_prob(logits: dict[str, Tensor], combine: str = "v1") -> Tensor:
    """``log P <= 0`` of DrivoR's selection surrogate (``combine`` weights) of sub-score logits ``{name: [...]}``,
    normalised by the sum of the additive weights (so ``P`` is in (0, 1])."""
    w = COMBINE[combine]
    additive = w.ttc + w.ep + w.comfort
    score = selection_score(logits, w)
    return (score - (math.log(additive) if additive > 0 else 0.0)).clamp(max=0.0)


def logit_from_log_prob(log_p: Tensor) -> Tensor:
    """``logit(P) = log P − log(1 − P)`` from ``log P <= 0`` (stable; P == 1 maps to a large finite logit)."""
    lp = log_p.clamp(max=-1e-12)
    return lp - torch.log(-torch.expm1(lp))


class FCHead(nn.Module):
    """Logistic / MLP head.

    Args:
        feature_names: names of the F input columns (order matters, checked at load / inference).
        hidden: hidden layer widths; ``[]`` = logistic regression.
        dropout: dropout after each hidden layer (training only).
        outputs: output names: :data:`SUBSCORE_OUTPUTS` (multi-output) or :data:`SINGLE_OUTPUT` (the legacy
            NC·DAC label).
        combine: ``v1`` / ``v2``: the selection weights that make a multi-output head's FC logit.
    """

    def __init__(self, feature_names: Sequence[str], hidden: Sequence[int] = (32,), dropout: float = 0.0,
                 outputs: Sequence[str] = SUBSCORE_OUTPUTS, combine: str = "v1"):
        super().__init__()
        self.feature_names = tuple(feature_names)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        self.outputs = tuple(str(o) for o in outputs)
        self.combine = str(combine)
        n = len(self.feature_names)
        if n == 0:
            raise ValueError("FCHead needs at least one feature")
        if self.outputs != SINGLE_OUTPUT and not set(self.outputs) <= set(SUBSCORE_OUTPUTS):
            raise ValueError(f"FCHead outputs must be {list(SINGLE_OUTPUT)} or sub-scores of {list(SUBSCORE_OUTPUTS)}, "
                             f"got {list(self.outputs)}")
        if self.combine not in COMBINE:
            raise ValueError(f"FCHead combine must be one of {sorted(COMBINE)}, got {self.combine!r}")
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        layers: list[nn.Module] = []
        width = n
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.GELU()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, len(self.outputs)))
        self.net = nn.Sequential(*layers)

    @property
    def multi_output(self) -> bool:
        return self.outputs != SINGLE_OUTPUT

    def set_normalisation(self, features: Tensor) -> None:
        """Set the input mean / std from training features ``[N, F]`` (std floored at 1e-6)."""
        x = features.reshape(-1, len(self.feature_names)).float()
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False).clamp_min(1e-6))

    def logits(self, features: Tensor) -> dict[str, Tensor]:
        """``[..., F]`` → ``{output name: logit [...]}`` (every output; what training fits)."""
        if features.shape[-1] != len(self.feature_names):
            raise ValueError(
                f"FCHead: expected {len(self.feature_names)} features, got shape {tuple(features.shape)}"
            )
        x = (features.float() - self.mean) / self.std
        out = self.net(x)
        return {name: out[..., i] for i, name in enumerate(self.outputs)}

    def forward(self, features: Tensor) -> Tensor:
        """``[..., F]`` → the FC logit ``[...]`` fusion reads: the single output, or ``logit(P)`` of the
        sub-scores combined with DrivoR's selection surrogate (module docstring)."""
        logits = self.logits(features)
        if not self.multi_output:
            return logits[SINGLE_OUTPUT[0]]
        return logit_from_log_prob(combined_log_prob(logits, self.combine))

    @torch.no_grad()
    def predict_proba(self, features: Tensor) -> Tensor:
        """``[..., F]`` → σ(logit) ``[...]`` in (0, 1), eval mode."""
        was = self.training
        self.eval()
        try:
            return torch.sigmoid(self(features))
        finally:
            self.train(was)


def save_head(path: str | Path, head: FCHead, *, privileged: bool, extra: dict | None = None) -> Path:
    """Write ``head`` to a safetensors file; metadata: format, feature names, hidden, privileged, extra JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "outputs": json.dumps(list(head.outputs)),
        "combine": head.combine,
        "feature_names": json.dumps(list(head.feature_names)),
        "hidden": json.dumps(list(head.hidden)),
        "dropout": repr(head.dropout),
        "privileged": "1" if privileged else "0",
        "extra": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)
    return path


def load_head(path: str | Path) -> tuple[FCHead, dict]:
    """Load a head saved by :func:`save_head`.

    Format-1 checkpoints (single NC·DAC output, written before issue 21) load as ``outputs=("FC",)``.

    Returns:
        ``(head in eval mode, info)`` with info keys ``feature_names``, ``hidden``, ``outputs``, ``privileged``
        (bool), ``extra``.

    Raises:
        FileNotFoundError, ValueError: missing file, not an FC-head checkpoint, or mismatched tensors.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FC head checkpoint not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") not in (FORMAT, FORMAT_V1):
        raise ValueError(
            f"{path}: not an FC-head checkpoint (metadata format {meta.get('format')!r}, expected {FORMAT!r} "
            f"or {FORMAT_V1!r})"
        )
    names = json.loads(meta["feature_names"])
    hidden = json.loads(meta["hidden"])
    outputs = SINGLE_OUTPUT if meta["format"] == FORMAT_V1 else tuple(json.loads(meta["outputs"]))
    head = FCHead(names, hidden, float(meta.get("dropout", "0.0")), outputs, meta.get("combine", "v1"))
    state = load_file(str(path))
    missing, unexpected = set(head.state_dict()) - set(state), set(state) - set(head.state_dict())
    if missing or unexpected:
        raise ValueError(
            f"{path}: tensors do not match the head (missing {sorted(missing)}, unexpected {sorted(unexpected)})"
        )
    head.load_state_dict(state)
    head.eval()
    info = {
        "feature_names": tuple(names),
        "hidden": tuple(hidden),
        "outputs": outputs,
        "privileged": meta.get("privileged") == "1",
        "extra": json.loads(meta.get("extra", "{}")),
    }
    return head, info
