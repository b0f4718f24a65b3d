"""The FC training dataset: one NPZ file of per-scene candidate features and true PDM sub-scores.

Schema (``np.load(path, allow_pickle=False)``; M scenes, K candidates, F features):

| key | dtype / shape | meaning |
|---|---|---|
| ``features`` | float32 ``[M, K, F]`` | :func:`scorers.features.compute_features` values per candidate |
| ``feature_names`` | str ``[F]`` | column names (:data:`scorers.features.FEATURE_NAMES` order or a subset) |
| ``split`` | str ``[M]`` | ``train`` / ``val`` / ``test`` per scene |
| ``no_at_fault_collisions`` | float ``[M, K]`` | true NC sub-score of each candidate (0, 0.5 or 1) |
| ``drivable_area_compliance`` | float ``[M, K]`` | true DAC sub-score (0 or 1) |
| ``privileged`` | bool ``[]`` | True if any feature used privileged information |
| ``base_log_score`` | float ``[M, K]`` (optional) | the planner's own selection score (log domain) |
| ``score`` | float ``[M, K]`` (optional) | true PDMS of each candidate (needed to choose ``w_fc``) |
| ``ego_progress``, ``time_to_collision_within_bound``, ``comfort``, ``driving_direction_compliance`` | float ``[M, K]`` (optional) | other true sub-scores |
| ``candidate_mask`` | bool ``[M, K]`` (optional) | False for padded candidates (default all True) |
| ``scene_tokens`` | str ``[M]`` (optional) | scene ids |
| ``metric`` | str ``[]`` (optional) | label of the metric the sub-scores come from (v1.1 PDMS unless said) |
| ``poses``, ``planner_features``, ``logit_<NC…C>`` | ``[M, K, ...]`` (optional) | per-candidate arrays (padded
  like ``features``): poses ``[K, T, 3]`` (x, y, heading; current rear axle), the planner's own features / logits |
| ``scene_<name>`` | ``[M, ...]`` (optional) | per-scene agent-input arrays (``scene_bev [2, H, W]``,
  ``scene_ego [8]``: :mod:`planners.scoring.scene_inputs`) |

The label of a candidate is ``1`` iff ``no_at_fault_collisions == 1`` and ``drivable_area_compliance == 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from omegaconf.errors import MissingMandatoryValue

from inspatio_drive.contracts import NAVSIM_PDM_COLUMNS, SUBSCORE_TO_NAVSIM
from inspatio_drive.pdm.v2 import EC_COLUMN, SUBMETRICS

SUBSCORE_KEYS = NAVSIM_PDM_COLUMNS
TARGET_KEYS: tuple[str, ...] = tuple(dict.fromkeys((*NAVSIM_PDM_COLUMNS, *SUBMETRICS, EC_COLUMN)))
"""Every true-score column a dataset may hold: navsim v1.1 PDM columns, then v2's sub-metrics and EC."""
CANDIDATE_KEYS = ("poses", "planner_features")
CANDIDATE_PREFIX, SCENE_PREFIX = "logit_", "scene_"


def is_candidate_key(name: str) -> bool:
    """Whether ``name`` is an optional per-candidate array (padded ``[M, K, ...]``)."""
    return name in CANDIDATE_KEYS or name.startswith(CANDIDATE_PREFIX)
LABEL_KEYS = (SUBSCORE_TO_NAVSIM["NC"], SUBSCORE_TO_NAVSIM["DAC"])  # the label: NC == 1 and DAC == 1
REQUIRED = ("features", "feature_names", "split", *LABEL_KEYS, "privileged")


@dataclass
class FCDataset:
    """In-memory FC dataset (see module docstring for the fields)."""

    features: NDArray[np.float32]
    feature_names: tuple[str, ...]
    split: NDArray[np.str_]
    subscores: dict[str, NDArray[np.float64]]
    privileged: bool
    base_log_score: NDArray[np.float64] | None = None
    candidate_mask: NDArray[np.bool_] | None = None
    scene_tokens: NDArray[np.str_] | None = None
    source: str = "<memory>"
    extra: dict = field(default_factory=dict)
    candidate_arrays: dict[str, NDArray] = field(default_factory=dict)
    scene_arrays: dict[str, NDArray] = field(default_factory=dict)
    metric: str | None = None

    def __post_init__(self) -> None:
        if self.features.ndim != 3:
            raise ValueError(f"{self.source}: 'features' must be [M, K, F], got shape {self.features.shape}")
        M, K, F = self.features.shape
        if len(self.feature_names) != F:
            raise ValueError(f"{self.source}: 'feature_names' has {len(self.feature_names)} names for F={F}")
        if self.split.shape != (M,):
            raise ValueError(f"{self.source}: 'split' must be [M={M}], got {self.split.shape}")
        for k, v in self.subscores.items():
            if v.shape != (M, K):
                raise ValueError(f"{self.source}: {k!r} must be [M={M}, K={K}], got {v.shape}")
        for name, arr in (("base_log_score", self.base_log_score), ("candidate_mask", self.candidate_mask)):
            if arr is not None and arr.shape != (M, K):
                raise ValueError(f"{self.source}: {name!r} must be [M={M}, K={K}], got {arr.shape}")
        for name, arr in self.candidate_arrays.items():
            if arr.shape[:2] != (M, K):
                raise ValueError(f"{self.source}: {name!r} must be [M={M}, K={K}, ...], got {arr.shape}")
        for name, arr in self.scene_arrays.items():
            if arr.shape[:1] != (M,):
                raise ValueError(f"{self.source}: {SCENE_PREFIX}{name!r} must be [M={M}, ...], got {arr.shape}")
        if not np.isfinite(self.features).all():
            raise ValueError(f"{self.source}: 'features' contains NaN or inf")
        if self.candidate_mask is None:
            self.candidate_mask = np.ones((M, K), dtype=bool)

    @property
    def labels(self) -> NDArray[np.float32]:
        """``[M, K]`` 1.0 iff NC == 1 and DAC == 1."""
        nc, dac = self.subscores["no_at_fault_collisions"], self.subscores["drivable_area_compliance"]
        return ((nc >= 1.0) & (dac >= 1.0)).astype(np.float32)

    def subset(self, split: str) -> FCDataset:
        """Scenes of one split (ValueError if there are none)."""
        sel = self.split == split
        if not sel.any():
            raise ValueError(
                f"{self.source}: no scenes with split {split!r} (have {sorted(set(self.split.tolist()))})"
            )
        return FCDataset(
            features=self.features[sel],
            feature_names=self.feature_names,
            split=self.split[sel],
            subscores={k: v[sel] for k, v in self.subscores.items()},
            privileged=self.privileged,
            base_log_score=None if self.base_log_score is None else self.base_log_score[sel],
            candidate_mask=self.candidate_mask[sel],
            scene_tokens=None if self.scene_tokens is None else self.scene_tokens[sel],
            source=f"{self.source}[{split}]",
            candidate_arrays={k: v[sel] for k, v in self.candidate_arrays.items()},
            scene_arrays={k: v[sel] for k, v in self.scene_arrays.items()},
            metric=self.metric,
        )

    def save(self, path: str | Path) -> Path:
        """Write the NPZ (schema above)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "features": self.features.astype(np.float32),
            "feature_names": np.asarray(self.feature_names, dtype=str),
            "split": np.asarray(self.split, dtype=str),
            "privileged": np.asarray(bool(self.privileged)),
            "candidate_mask": np.asarray(self.candidate_mask, dtype=bool),
        }
        arrays.update({k: np.asarray(v, dtype=np.float64) for k, v in self.subscores.items()})
        if self.base_log_score is not None:
            arrays["base_log_score"] = np.asarray(self.base_log_score, dtype=np.float64)
        if self.scene_tokens is not None:
            arrays["scene_tokens"] = np.asarray(self.scene_tokens, dtype=str)
        if self.metric is not None:
            arrays["metric"] = np.asarray(str(self.metric))
        arrays.update(self.candidate_arrays)
        arrays.update({f"{SCENE_PREFIX}{k}": v for k, v in self.scene_arrays.items()})
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path


def load_dataset(path: str | Path) -> FCDataset:
    """Read and validate an FC dataset NPZ (no pickles).

    Raises:
        FileNotFoundError: missing file. ValueError: missing key / wrong shape / bad values, naming the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FC dataset not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _from_npz(npz, path)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"{path}: object arrays / pickles are refused in an FC dataset: {exc}") from exc
        raise


def _from_npz(npz, path: Path) -> FCDataset:
    """Validate the arrays of an open NPZ and build the dataset (errors name the file and key)."""
    missing = [k for k in REQUIRED if k not in npz.files]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; required {list(REQUIRED)}")
    subscores = {k: npz[k].astype(np.float64) for k in TARGET_KEYS if k in npz.files}
    for k in LABEL_KEYS:
        v = subscores[k]
        if not (np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()):
            raise ValueError(f"{path}: {k!r} must hold sub-scores in [0, 1]")
    return FCDataset(
        features=npz["features"].astype(np.float32),
        feature_names=tuple(str(n) for n in npz["feature_names"].tolist()),
        split=npz["split"].astype(str),
        subscores=subscores,
        privileged=bool(npz["privileged"]),
        base_log_score=npz["base_log_score"].astype(np.float64) if "base_log_score" in npz.files else None,
        candidate_mask=npz["candidate_mask"].astype(bool) if "candidate_mask" in npz.files else None,
        scene_tokens=npz["scene_tokens"].astype(str) if "scene_tokens" in npz.files else None,
        source=str(path),
        candidate_arrays={k: npz[k] for k in npz.files if is_candidate_key(k)},
        scene_arrays={k[len(SCENE_PREFIX):]: npz[k] for k in npz.files
                      if k.startswith(SCENE_PREFIX) and k != "scene_tokens"},
        metric=str(npz["metric"]) if "metric" in npz.files else None,
    )


class DatasetBuilder:
    """Accumulate scenes (feature table + true sub-scores per candidate) into an :class:`FCDataset`.

    Scenes may have different candidate counts; they are padded to the largest K with
    ``candidate_mask = False`` (features 0, sub-scores 0, per-candidate arrays 0). All scenes must share feature
    names, mode and which optional arrays they carry.

    Args:
        columns: the true-score columns kept (default :data:`TARGET_KEYS`: v1.1 and v2 names).
        metric: label of the metric the sub-scores come from (stored as ``metric``).
    """

    def __init__(self, columns: tuple[str, ...] = TARGET_KEYS, metric: str | None = None) -> None:
        self._rows: list[dict] = []
        self.columns = tuple(columns)
        self.metric = metric

    def __len__(self) -> int:
        return len(self._rows)

    def add_scene(
        self,
        token: str,
        split: str,
        features: NDArray | object,
        feature_names: tuple[str, ...] | None,
        subscores: dict[str, NDArray],
        *,
        privileged: bool,
        base_log_score: NDArray | None = None,
        candidate_arrays: dict[str, NDArray] | None = None,
        scene_arrays: dict[str, NDArray] | None = None,
    ) -> None:
        """Add one scene.

        Args:
            token: scene id. split: ``train`` / ``val`` / ``test``.
            features: ``[K, F]`` values, or a :class:`scorers.features.FeatureTable` (then
                ``feature_names`` and ``privileged`` must agree with it; pass ``feature_names=None``).
            subscores: name → ``[K]`` true sub-scores (NC and DAC required; ``score`` for ``w_fc``).
            privileged: whether the features used privileged inputs.
            base_log_score: ``[K]`` planner selection score.
            candidate_arrays: name → ``[K, ...]`` (``poses``, ``planner_features``, ``logit_<name>``).
            scene_arrays: name → per-scene array (e.g. ``bev``, ``ego``; stored as ``scene_<name>``).
        """
        if hasattr(features, "values") and hasattr(features, "names"):
            if getattr(features, "privileged", privileged) != privileged:
                raise ValueError(
                    f"scene {token}: FeatureTable privileged={features.privileged} but privileged={privileged}"
                )
            feature_names = tuple(features.names)
            features = features.values.numpy() if hasattr(features.values, "numpy") else features.values
        if feature_names is None:
            raise ValueError(f"scene {token}: feature_names required with a plain array")
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(feature_names):
            raise ValueError(f"scene {token}: features must be [K, {len(feature_names)}], got {x.shape}")
        K = x.shape[0]
        for key in LABEL_KEYS:
            if key not in subscores:
                raise ValueError(f"scene {token}: sub-score {key!r} missing")
        subs = {
            k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in subscores.items() if k in self.columns
        }
        cand = {k: np.asarray(v) for k, v in (candidate_arrays or {}).items()}
        for k, v in cand.items():
            if not is_candidate_key(k) or v.shape[:1] != (K,):
                raise ValueError(f"scene {token}: candidate array {k!r} must be named {list(CANDIDATE_KEYS)} or "
                                 f"{CANDIDATE_PREFIX}<name> and be [{K}, ...], got {v.shape}")
        scene = {k: np.asarray(v) for k, v in (scene_arrays or {}).items()}
        for k, v in subs.items():
            if v.shape != (K,):
                raise ValueError(f"scene {token}: sub-score {k!r} must be [{K}], got {v.shape}")
        if self._rows:
            first = self._rows[0]
            if first["names"] != tuple(feature_names) or first["privileged"] != privileged:
                raise ValueError(f"scene {token}: feature names / mode differ from the first scene")
            if set(first["subs"]) != set(subs) or (first["base"] is None) != (base_log_score is None):
                raise ValueError(
                    f"scene {token}: sub-score keys / base_log_score presence differ from the first scene"
                )
            if ({k: v.shape[1:] for k, v in first["cand"].items()} != {k: v.shape[1:] for k, v in cand.items()}
                    or {k: v.shape for k, v in first["scene"].items()} != {k: v.shape for k, v in scene.items()}):
                raise ValueError(f"scene {token}: candidate / scene arrays (names, shapes) differ from the first scene")
        base = None if base_log_score is None else np.asarray(base_log_score, dtype=np.float64).reshape(-1)
        if base is not None and base.shape != (K,):
            raise ValueError(f"scene {token}: base_log_score must be [{K}], got {base.shape}")
        self._rows.append(
            {"token": token, "split": split, "x": x, "names": tuple(feature_names), "subs": subs,
             "privileged": privileged, "base": base, "cand": cand, "scene": scene}
        )  # fmt: skip

    def build(self) -> FCDataset:
        """The padded dataset (ValueError if empty)."""
        if not self._rows:
            raise ValueError("DatasetBuilder: no scenes added")
        M, K = len(self._rows), max(r["x"].shape[0] for r in self._rows)
        F = self._rows[0]["x"].shape[1]
        feats = np.zeros((M, K, F), dtype=np.float32)
        mask = np.zeros((M, K), dtype=bool)
        subs = {k: np.zeros((M, K)) for k in self._rows[0]["subs"]}
        base = None if self._rows[0]["base"] is None else np.full((M, K), -np.inf)
        cand = {n: np.zeros((M, K, *v.shape[1:]), v.dtype) for n, v in self._rows[0]["cand"].items()}
        for i, r in enumerate(self._rows):
            k = r["x"].shape[0]
            feats[i, :k], mask[i, :k] = r["x"], True
            for name, v in r["cand"].items():
                cand[name][i, :k] = v
            for name, v in r["subs"].items():
                subs[name][i, :k] = v
            if base is not None:
                base[i, :k] = r["base"]
        if base is not None:
            base = np.where(mask, base, np.nan_to_num(base, neginf=-1e9))
        return FCDataset(
            features=feats,
            feature_names=self._rows[0]["names"],
            split=np.array([r["split"] for r in self._rows]),
            subscores=subs,
            privileged=self._rows[0]["privileged"],
            base_log_score=base,
            candidate_mask=mask,
            scene_tokens=np.array([r["token"] for r in self._rows]),
            candidate_arrays=cand,
            scene_arrays={n: np.stack([r["scene"][n] for r in self._rows]) for n in self._rows[0]["scene"]},
            metric=self.metric,
        )


def load_training_dataset(cfg, what: str = "path to the FC dataset NPZ") -> tuple[str, FCDataset]:
    """``(cfg.dataset, its FCDataset)`` for a trainer's config (``train-fc``, ``train-scorer``), with the two checks
    both trainers make: ``dataset`` is set (``ValueError`` naming ``what`` it should be) and privileged features
    are only used with ``cfg.allow_privileged``."""
    try:
        dataset_path = cfg.dataset
    except MissingMandatoryValue:
        raise ValueError(f"set dataset=<{what}> (schema: scorers/dataset.py)") from None
    data = load_dataset(dataset_path)
    if data.privileged and not cfg.allow_privileged:
        raise ValueError(f"{dataset_path} holds privileged features; pass allow_privileged=true to train on them")
    return dataset_path, data
