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
from scorers.dataset import SCENE_PREFIX, DatasetBuilder, is_candidate_key

_METRIC_OF_LABEL = {label: metric for metric, label in METRIC_LABEL.items()}


def _metric(z: Mapping[str, np.ndarray]) -> str:
    """The metric of one dump (dumps written before the ``metric`` knob are v1.1 PDMS)."""
    return _METRIC_OF_LABEL.get(str(z["metric"]), "pdms") if "metric" in z else "pdms"


def collect_fc_dataset(dumps: Mapping[str, str | Path], out: str | Path) -> Path:
    """``{split: dump folder}`` → one NPZ (``features [M, K, F]`` padded to the largest K with
    ``candidate_mask``; poses, planner logits / features and the scene inputs when the dumps have them), written
    atomically to ``out`` by :class:`scorers.dataset.DatasetBuilder` (the one builder of the FC dataset).

    Raises:
        ValueError: no files, or files whose feature names / metrics / arrays differ.
    """
    files: list[tuple[str, Path]] = [(split, f) for split, d in dumps.items() for f in sorted(Path(d).glob("*.npz"))]
    if not files:
        raise ValueError(f"collect_fc_dataset: no scene dumps in {dict(dumps)}")
    first = np.load(files[0][1], allow_pickle=False)
    metric = _metric(first)
    columns = metric_columns(metric)
    builder = DatasetBuilder(columns=columns, metric=METRIC_LABEL[metric])
    names = tuple(str(n) for n in first["feature_names"])
    for split, f in files:
        with np.load(f, allow_pickle=False) as z:
            if tuple(str(n) for n in z["feature_names"]) != names:
                raise ValueError(f"{f}: feature_names {list(z['feature_names'])} differ from {list(names)}")
            if _metric(z) != metric:
                raise ValueError(f"{f}: scored with metric={_metric(z)}, {files[0][1]} with metric={metric}; "
                                 "one dataset holds one metric's targets")
            builder.add_scene(
                str(z["token"]), split, z["features"], names, {c: z[c] for c in columns},
                privileged=bool(z["privileged"]), base_log_score=z["base_log_score"],
                candidate_arrays={k: z[k] for k in z.files if is_candidate_key(k)},
                scene_arrays={k[len(SCENE_PREFIX):]: z[k] for k in z.files if k.startswith(SCENE_PREFIX)},
            )
    return builder.build().save(out)
