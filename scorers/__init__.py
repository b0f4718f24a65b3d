"""Scorers: future-consistency features, the learned FC head, and fusion into planner selection.

Public API (see ``docs/readme/scorers.md``)::

    from scorers import ScorerInputs, FeatureConfig, compute_features      # features [K, F]
    from scorers import FCHead, save_head, load_head                       # the FC head (safetensors)
    from scorers import fused_score, choose_w_fc                           # fusion into selection
    from scorers.geometric import GeometricFC                              # agent input → FC logit (production)
    from scorers import StudyInputs, run_study                             # the study table / plot
"""

from scorers.dataset import DatasetBuilder, FCDataset, load_dataset
from scorers.features import (
    FEATURE_NAMES,
    FEATURE_SPECS,
    FeatureConfig,
    FeatureTable,
    ScorerInputs,
    compute_features,
)
from scorers.fusion import ValidationData, choose_w_fc, fused_score, fused_score_from_logits, select
from scorers.head import FCHead, load_head, save_head
from scorers.study import StudyInputs, run_study

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SPECS",
    "DatasetBuilder",
    "FCDataset",
    "FCHead",
    "FeatureConfig",
    "FeatureTable",
    "ScorerInputs",
    "StudyInputs",
    "ValidationData",
    "choose_w_fc",
    "compute_features",
    "fused_score",
    "fused_score_from_logits",
    "load_dataset",
    "load_head",
    "run_study",
    "save_head",
    "select",
]
