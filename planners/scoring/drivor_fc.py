"""FC inputs on the real DrivoR (issue 21, ``planner=drivor fc=features``): the frozen port's scorer tokens plus an
embedding of every candidate's FC features, into DrivoR's own sub-score heads.

``DrivoRFCHeads(batch) -> {NC, DAC, DDC, TTC, EP, C: logits [B, K]}`` with ``batch``:

* ``tokens`` float ``[B, K, d_model]`` — the frozen DrivoR's ``scorer_tokens`` (its heads' input;
  :class:`planners.drivor.model.DrivoRModel` returns them, :class:`~planners.drivor.planner.DrivoRPlanner` puts them in
  ``Candidates.features``);
* ``fc`` float ``[B, K, F]`` — FC features of the same candidates (:class:`scorers.geometric.GeometricFC`).

``logits = heads(tokens + fc_embed(standardise(fc)))``. The heads start as a copy of the checkpoint's
``scorer.pred_score`` and the embedding's last layer starts at zero, so before training the logits are DrivoR's own
(tested); training (:func:`scorers.head_training.train_heads` on frozen tokens, DrivoR's BCE per sub-score) changes
only the FC embedding and these heads — nothing of the port is trained.

Training command: ``inspatio-drive train-drivor-fc`` (:mod:`planners.scoring.train_drivor_fc`), which writes the
heads with :func:`save_fc_heads`. Evaluation: ``planner=drivor planner.scorer=drivor_fc planner.head=<file>``
(:func:`planners.factory.build_planner`) wraps the DrivoR planner in :class:`DrivoRFCScorer`, which computes the FC
features of DrivoR's candidates with the FC settings saved in the file and replaces DrivoR's logits by these heads'
(selection: DrivoR's rule on the new logits).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from inspatio_drive.contracts import DRIVOR_HEAD_TO_SUBSCORE, Candidates
from inspatio_drive.data.types import AgentInput
from planners.drivor.checkpoint import load_state_dict_strict
from planners.drivor.model import Scorer
from planners.protocol import SensorNeeds, sensor_needs

FILE_CLASS = "DrivoRFCHeads"
"""``class`` metadata of a :func:`save_fc_heads` file."""


class DrivoRFCHeads(nn.Module):
    """See the module docstring.

    Args:
        scorer: the DrivoR port's :class:`~planners.drivor.model.Scorer` (copied, so the port stays frozen).
        fc_names: names of the F FC features (their order in ``batch["fc"]``).
        hidden: width of the FC embedding MLP.
    """

    def __init__(self, scorer: Scorer, fc_names: Sequence[str], hidden: int = 128) -> None:
        super().__init__()
        self.fc_names = tuple(fc_names)
        if not self.fc_names:
            raise ValueError("DrivoRFCHeads needs at least one FC feature")
        first = next(iter(scorer.pred_score.values()))[0]
        self.d_model, self.d_ffn, self.hidden = int(first.in_features), int(first.out_features), int(hidden)
        self.heads = copy.deepcopy(scorer)
        f = len(self.fc_names)
        self.fc_embed = nn.Sequential(nn.Linear(f, hidden), nn.GELU(), nn.Linear(hidden, self.d_model))
        nn.init.zeros_(self.fc_embed[2].weight)
        nn.init.zeros_(self.fc_embed[2].bias)
        self.register_buffer("fc_mean", torch.zeros(f))
        self.register_buffer("fc_std", torch.ones(f))

    @torch.no_grad()
    def fit_normalization(self, fc: torch.Tensor) -> None:
        """FC mean / std from training features ``[..., F]``."""
        x = fc.reshape(-1, fc.shape[-1]).float()
        self.fc_mean.copy_(x.mean(0))
        self.fc_std.copy_(x.std(0, unbiased=False).clamp_min(1e-3))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tokens, fc = batch["tokens"], batch["fc"]
        if tokens.shape[-1] != self.d_model or tokens.shape[:-1] != fc.shape[:-1] or fc.shape[-1] != len(self.fc_names):
            raise ValueError(f"DrivoRFCHeads: tokens [B, K, {self.d_model}] and fc [B, K, {len(self.fc_names)}] expected, "
                             f"got {list(tokens.shape)} and {list(fc.shape)}")
        x = tokens.float() + self.fc_embed((fc.float() - self.fc_mean) / self.fc_std)
        return {DRIVOR_HEAD_TO_SUBSCORE[k]: v for k, v in self.heads(x).items()}


def port_digest(model: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, shapes, float32 bytes): tells whether the frozen DrivoR port changed,
    and which port a heads file was trained on."""
    h = hashlib.sha256()
    for name, v in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_fc_heads(path: str | Path, heads: DrivoRFCHeads, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``heads`` as safetensors; the metadata rebuilds it (``class``, ``fc_names``, ``hidden``, ``d_model``,
    ``d_ffn``, ``head_names``) and carries ``extra`` as JSON strings (e.g. the training config, the FC settings
    ``fc_model``, the port's ``port_digest``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"class": FILE_CLASS, "fc_names": json.dumps(list(heads.fc_names)), "hidden": str(heads.hidden),
            "d_model": str(heads.d_model), "d_ffn": str(heads.d_ffn),
            "head_names": json.dumps(list(heads.heads.pred_score.keys()))}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    save_file({k: v.detach().contiguous() for k, v in heads.state_dict().items()}, str(path), metadata=meta)
    return path


def load_fc_heads(path: str | Path) -> tuple[DrivoRFCHeads, dict[str, Any]]:
    """``(heads in eval mode, metadata with the JSON values decoded)`` of a :func:`save_fc_heads` file.

    Raises:
        FileNotFoundError: no such file. ValueError: not a DrivoRFCHeads file (one line, naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DrivoR FC heads {path}: no such file (write it with `inspatio-drive train-drivor-fc`)")
    with safe_open(str(path), framework="pt") as f:
        md = dict(f.metadata() or {})
    if md.get("class") != FILE_CLASS:
        raise ValueError(f"{path}: not a DrivoR FC heads file (metadata class {md.get('class')!r}, expected "
                         f"{FILE_CLASS!r}); write it with `inspatio-drive train-drivor-fc`")
    info = {k: (v if k == "class" else json.loads(v)) for k, v in md.items()}
    scorer = Scorer(int(info["d_model"]), int(info["d_ffn"]), tuple(info["head_names"]))
    heads = DrivoRFCHeads(scorer, info["fc_names"], hidden=int(info["hidden"]))
    load_state_dict_strict(heads, load_file(str(path)), source=f"DrivoR FC heads {path}")
    return heads.eval(), info


class DrivoRFCScorer:
    """``scorer(candidates, agent_input) -> candidates``: DrivoR's candidates re-scored by trained
    :class:`DrivoRFCHeads` (honest: the agent input only).

    ``candidates.features`` must be the DrivoR port's ``scorer_tokens [K, d_model]`` (:class:`DrivoRPlanner`
    gives them); ``fc_term(agent_input, candidates) -> FCOutput`` computes the FC features named by
    ``heads.fc_names`` (:class:`scorers.geometric.GeometricFC` with the settings the heads were trained with).
    The six logits are replaced by the heads'; DrivoR's own stay in ``extras["drivor_logits"]``.
    """

    name = "drivor_fc"
    privileged = False

    def __init__(self, heads: DrivoRFCHeads, fc_term: Any) -> None:
        self.heads = heads.eval()
        self.fc_term = fc_term

    def sensor_needs(self, num_history_frames: int) -> SensorNeeds | None:
        return sensor_needs(self.fc_term, num_history_frames)

    def fc_features(self, candidates: Candidates, agent_input: AgentInput) -> torch.Tensor:
        """``[K, F]`` FC features of the candidates, columns in ``heads.fc_names`` order.

        Raises:
            ValueError: the FC term lacks a feature the heads were trained on."""
        out = self.fc_term(agent_input, candidates)
        missing = [n for n in self.heads.fc_names if n not in out.features]
        if missing:
            raise ValueError(f"DrivoR FC heads: the FC term gives no {missing} (it gives {sorted(out.features)}); "
                             "build it with the FC settings the heads were trained with")
        return torch.stack([out.features[n].float().reshape(-1) for n in self.heads.fc_names], -1)

    @torch.no_grad()
    def __call__(self, candidates: Candidates, agent_input: AgentInput) -> Candidates:
        if candidates.features is None:
            raise ValueError("DrivoR FC heads: the candidates carry no scorer tokens (Candidates.features); "
                             "use them with planner=drivor")
        fc = self.fc_features(candidates, agent_input)
        logits = self.heads({"tokens": candidates.features.float()[None], "fc": fc[None]})
        scored = candidates.with_logits({k: v[0].float() for k, v in logits.items()})
        scored.extras["drivor_logits"] = dict(candidates.logits or {})
        for key in ("pdm_score", "selected_index"):  # DrivoR's own choice, no longer what selection uses
            if key in scored.extras:
                scored.extras[f"drivor_{key}"] = scored.extras.pop(key)
        scored.extras["scorer"] = self.name
        return scored
