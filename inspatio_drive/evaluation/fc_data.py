"""Merge per-scene candidate dumps (``evaluate eval.dump_dir=...``) into the FC training dataset
(:mod:`scorers.dataset` NPZ schema), one split label per dump folder.

The target columns are those of the metric the dumps were scored with (``evaluate metric=pdms|epdms``: v1.1
PDM columns, or the v2 sub-metrics + ``score``); the dataset says which (``metric``) and dumps of different
metrics are refused.

EC (``two_frame_extended_comfort``) of every candidate, for EPDMS dumps that carry the candidates' simulated states
(:func:`~inspatio_drive.evaluation.task.epdms_frame`): the candidate's plan against the plan the planner chose
(``argmax base_log_score``) in the dumped scene 0.5 s earlier in the same log (navsim's pairing,
:func:`~inspatio_drive.pdm.v2.adjacent_previous`); NaN where there is no such scene."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from inspatio_drive.evaluation.epdms import METRIC_LABEL, metric_columns
from inspatio_drive.pdm.v2 import EC_COLUMN, FrameResult, adjacent_previous
from inspatio_drive.pdm.v2.comfort import extended_comfort
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
    ec = ec_labels([f for _, f in files]) if metric == "epdms" and "epdms_states" in first.files else None
    builder = DatasetBuilder(columns=(*columns, EC_COLUMN) if ec is not None else columns,
                             metric=METRIC_LABEL[metric])
    names = tuple(str(n) for n in first["feature_names"])
    for split, f in files:
        with np.load(f, allow_pickle=False) as z:
            if tuple(str(n) for n in z["feature_names"]) != names:
                raise ValueError(f"{f}: feature_names {list(z['feature_names'])} differ from {list(names)}")
            if _metric(z) != metric:
                raise ValueError(f"{f}: scored with metric={_metric(z)}, {files[0][1]} with metric={metric}; "
                                 "one dataset holds one metric's targets")
            subs = {c: z[c] for c in columns}
            if ec is not None:
                subs[EC_COLUMN] = ec[f]
            builder.add_scene(
                str(z["token"]), split, z["features"], names, subs,
                privileged=bool(z["privileged"]), base_log_score=z["base_log_score"],
                candidate_arrays={k: z[k] for k in z.files if is_candidate_key(k)},
                scene_arrays={k[len(SCENE_PREFIX):]: z[k] for k in z.files if k.startswith(SCENE_PREFIX)},
            )
    return builder.build().save(out)


def ec_labels(files: list[Path]) -> dict[Path, np.ndarray]:
    """``{dump: EC [K]}`` of EPDMS dumps with simulated states (module docstring); ``ValueError`` naming a dump
    without them."""
    frames, states, meta = [], {}, {}
    for f in files:
        with np.load(f, allow_pickle=False) as z:
            if "epdms_states" not in z.files:
                raise ValueError(f"{f}: an EPDMS dump without epdms_states among dumps with them; re-run evaluate")
            states[f] = np.asarray(z["epdms_states"], np.float64)
            chosen = int(np.argmax(np.nan_to_num(z["base_log_score"], nan=-np.inf)))
            meta[str(z["token"])] = (f, float(z["time_point_s"]))
            frames.append(FrameResult(str(z["token"]), str(z["log_name"]), float(z["time_point_s"]),
                                      str(z["scene_type"]), {}, states[f][chosen]))
    by_token = {fr.token: fr for fr in frames}
    out = {f: np.full(len(states[f]), np.nan) for f in files}
    for token, prev in adjacent_previous(frames).items():
        f, t = meta[token]
        dt = t - by_token[prev].time_s
        if 0.0 < dt:
            out[f] = extended_comfort(states[f], by_token[prev].states, dt)[0].astype(np.float64)
    return out
