"""Merge per-scene candidate dumps (``evaluate eval.dump_dir=...``) into the FC training dataset
(:mod:`scorers.dataset` NPZ schema), one split label per dump folder.

The target columns are those of the metric the dumps were scored with (``evaluate metric=pdms|epdms``: v1.1
PDM columns, or the v2 sub-metrics + ``score``); the dataset says which (``metric``) and dumps of different
metrics are refused."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from inspatio_drive.evaluation.epdms import METRIC_LABEL, metric_columns

_METRIC_OF_LABEL = {label: metric for metric, label in METRIC_LABEL.items()}


def _metric(z: Mapping[str, np.ndarray]) -> str:
    """The metric of one dump (dumps written before the ``metric`` knob are v1.1 PDMS)."""
    return _METRIC_OF_LABEL.get(str(z["metric"]), "pdms") if "metric" in z else "pdms"


def collect_fc_dataset(dumps: Mapping[str, str | Path], out: str | Path) -> Path:
    """``{split: dump folder}`` → one NPZ (``features [M, K, F]`` padded to the largest K with
    ``candidate_mask``), written atomically to ``out``.

    Raises:
        ValueError: no files, or files whose feature names differ.
    """
    files: list[tuple[str, Path]] = [(split, f) for split, d in dumps.items() for f in sorted(Path(d).glob("*.npz"))]
    if not files:
        raise ValueError(f"collect_fc_dataset: no scene dumps in {dict(dumps)}")
    scenes = [(split, f, np.load(f, allow_pickle=False)) for split, f in files]
    names = tuple(str(n) for n in scenes[0][2]["feature_names"])
    for _, f, z in scenes:
        if tuple(str(n) for n in z["feature_names"]) != names:
            raise ValueError(f"{f}: feature_names {list(z['feature_names'])} differ from {list(names)}")
    metric = _metric(scenes[0][2])
    for _, f, z in scenes:
        if _metric(z) != metric:
            raise ValueError(f"{f}: scored with metric={_metric(z)}, {files[0][1]} with metric={metric}; "
                             "one dataset holds one metric's targets")
    columns = metric_columns(metric)
    m, k, n_f = len(scenes), max(z["features"].shape[0] for _, _, z in scenes), len(names)
    feats = np.zeros((m, k, n_f), np.float32)
    mask = np.zeros((m, k), bool)
    subs = {s: np.zeros((m, k)) for s in columns}
    base = np.full((m, k), -np.inf)
    for i, (_, _, z) in enumerate(scenes):
        kk = z["features"].shape[0]
        feats[i, :kk], mask[i, :kk], base[i, :kk] = z["features"], True, z["base_log_score"]
        for s in columns:
            subs[s][i, :kk] = z[s]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.npz")
    np.savez(tmp, features=feats, feature_names=np.array(names, dtype=str),
             split=np.array([s for s, _, _ in scenes], dtype=str), privileged=np.array(any(bool(z["privileged"]) for *_, z in scenes)),
             base_log_score=base, candidate_mask=mask,
             scene_tokens=np.array([str(z["token"]) for *_, z in scenes], dtype=str),
             metric=np.array(METRIC_LABEL[metric]), **subs)
    tmp.replace(out)
    return out
