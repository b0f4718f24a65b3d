"""The learned future-consistency (FC) head: features ``[..., F]`` → logit of P(collision-free and on
drivable area). Logistic regression (``hidden=[]``) or a small MLP; inputs are standardised with the
training-set mean / std stored in the module. Checkpoints are safetensors with JSON metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

FORMAT = "inspatio-drive/fc-head/1"


class FCHead(nn.Module):
    """Logistic / MLP head.

    Args:
        feature_names: names of the F input columns (order matters, checked at load / inference).
        hidden: hidden layer widths; ``[]`` = logistic regression.
        dropout: dropout after each hidden layer (training only).
    """

    def __init__(self, feature_names: Sequence[str], hidden: Sequence[int] = (32,), dropout: float = 0.0):
        super().__init__()
        self.feature_names = tuple(feature_names)
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = float(dropout)
        n = len(self.feature_names)
        if n == 0:
            raise ValueError("FCHead needs at least one feature")
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        layers: list[nn.Module] = []
        width = n
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.GELU()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def set_normalisation(self, features: Tensor) -> None:
        """Set the input mean / std from training features ``[N, F]`` (std floored at 1e-6)."""
        x = features.reshape(-1, len(self.feature_names)).float()
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, features: Tensor) -> Tensor:
        """``[..., F]`` → logits ``[...]``."""
        if features.shape[-1] != len(self.feature_names):
            raise ValueError(
                f"FCHead: expected {len(self.feature_names)} features, got shape {tuple(features.shape)}"
            )
        x = (features.float() - self.mean) / self.std
        return self.net(x).squeeze(-1)

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

    Returns:
        ``(head in eval mode, info)`` with info keys ``feature_names``, ``hidden``, ``privileged`` (bool), ``extra``.

    Raises:
        FileNotFoundError, ValueError: missing file, not an FC-head checkpoint, or mismatched tensors.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FC head checkpoint not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not an FC-head checkpoint (metadata format {meta.get('format')!r}, expected {FORMAT!r})"
        )
    names = json.loads(meta["feature_names"])
    hidden = json.loads(meta["hidden"])
    head = FCHead(names, hidden, float(meta.get("dropout", "0.0")))
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
        "privileged": meta.get("privileged") == "1",
        "extra": json.loads(meta.get("extra", "{}")),
    }
    return head, info
