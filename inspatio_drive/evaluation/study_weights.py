"""How the validation rule that picks ``w_fc`` changes the study's test result (offline re-selection).

The study's test step can dump every candidate of every test scene (``dump_test=true``: FC features, the
planner's own selection score, true PDM sub-scores). For each rule ``z`` of
:func:`scorers.fusion.choose_w_fc` (``z = 0``: a weight may lower no kept sub-score on validation at all;
``z = 1.645``: only significant drops count), this module re-chooses ``w_fc`` per seed on the validation part of
the FC dataset with that seed's head, re-selects every test scene with ``base + w_fc · logσ(FC)`` and reports
the mean over seeds of the per-seed scene means. Only validation data choose the weights; the test dumps are
read once the weights are fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from inspatio_drive.contracts.subscores import METRIC_LABELS as STUDY_METRICS
from inspatio_drive.evaluation.fc_data import collect_fc_dataset
from scorers.dataset import FCDataset, load_dataset
from scorers.fusion import ValidationData, choose_w_fc, select
from scorers.head import load_head

METRICS = tuple(k for k, _ in STUDY_METRICS)  # "score" first, then the sub-scores
KEEP = METRICS[1:]
SHORT = dict(STUDY_METRICS)


def _test_dataset(out: Path, seed: int) -> FCDataset:
    """One seed's test dumps merged into an FC dataset (``test/s<seed>/fc_dataset.npz``, padded with a mask)."""
    dump = out / "test" / f"s{seed}" / "dump"
    if not any(dump.glob("*.npz")):
        raise FileNotFoundError(f"{dump}: no test dumps (run the study's test step with dump_test=true)")
    return load_dataset(collect_fc_dataset({"test": dump}, out / "test" / f"s{seed}" / "fc_dataset.npz"))


def weight_rule_table(output_dir: str | Path, seeds: Sequence[int], zs: Sequence[float] = (0.0, 1.0, 1.645),
                      grid: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)) -> list[dict]:
    """Rows ``{method, w_fc: {seed: w}, metric: mean}`` for base, base+FC under each rule ``z``, and oracle@K."""
    out = Path(output_dir)
    ds = load_dataset(out / "fc_dataset.npz")
    val = ds.split == "val"
    if not val.any() or ds.base_log_score is None or "score" not in ds.subscores:
        raise ValueError(f"{out / 'fc_dataset.npz'}: needs a val split with base_log_score and score")
    per: dict[str, list[np.ndarray]] = {}
    weights: dict[str, dict[int, float]] = {}
    for s in seeds:
        head, _ = load_head(out / "heads" / f"s{s}" / "fc_head.safetensors")
        cols = [ds.feature_names.index(n) for n in head.feature_names]
        with torch.no_grad():
            p_val = torch.sigmoid(head.eval()(torch.as_tensor(ds.features[val][..., cols]))).double().numpy()
        test = _test_dataset(out, s)
        tcols = [test.feature_names.index(n) for n in head.feature_names]
        with torch.no_grad():
            logit = head(torch.as_tensor(test.features[..., tcols])).double()
        truth = np.stack([test.subscores[m] for m in METRICS], -1)  # [M, K, len(METRICS)]
        mask = test.candidate_mask

        def picked(idx: np.ndarray, truth: np.ndarray = truth) -> np.ndarray:
            return np.take_along_axis(truth, idx[:, None, None], axis=1)[:, 0].mean(0)

        per.setdefault("base", []).append(picked(select(test.base_log_score, mask)))
        per.setdefault("oracle@K", []).append(picked(select(test.subscores["score"], mask)))
        for z in zs:
            keep = {k: ds.subscores[k][val] for k in KEEP if k in ds.subscores}
            choice = choose_w_fc(ValidationData(ds.base_log_score[val], p_val, ds.subscores["score"][val],
                                                split="val", keep=keep), list(grid), z=z)
            label = f"base+FC, z = {z:g}"
            weights.setdefault(label, {})[int(s)] = choice.w_fc
            fused = torch.as_tensor(test.base_log_score) + choice.w_fc * torch.nn.functional.logsigmoid(logit)
            per.setdefault(label, []).append(picked(select(fused.numpy(), mask)))
    rows = []
    for label, vals in per.items():
        mean = np.mean(vals, axis=0)
        rows.append({"method": label, "w_fc": weights.get(label), **dict(zip(METRICS, map(float, mean), strict=True))})
    return rows


def weight_rule_markdown(rows: Sequence[dict]) -> str:
    """Markdown table of :func:`weight_rule_table` (values ×100) with the gap closed and what is lowered."""
    base = next(r for r in rows if r["method"] == "base")
    oracle = next(r for r in rows if r["method"] == "oracle@K")
    head = ["method", "w_fc per seed", *(SHORT[m] for m in METRICS), "gap closed", "lowered vs base"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        gap = ((r["score"] - base["score"]) / (oracle["score"] - base["score"])
               if abs(oracle["score"] - base["score"]) > 1e-12 else float("nan"))
        low = [SHORT[m] for m in KEEP if r[m] < base[m] - 1e-12] if r["method"].startswith("base+FC") else []
        w = "–" if r["w_fc"] is None else ", ".join(f"{v:g}" for _, v in sorted(r["w_fc"].items()))
        lines.append("| " + " | ".join([r["method"], w, *(f"{r[m] * 100:.1f}" for m in METRICS),
                                        f"{gap * 100:.0f} %" if r["method"].startswith("base+FC") else "–",
                                        ", ".join(low) if r["method"].startswith("base+FC") else "–"]) + " |")
    return "\n".join(lines)
