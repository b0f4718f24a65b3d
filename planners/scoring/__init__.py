"""Scorers for weight-free planners: attach DrivoR-style sub-score logits (NC, DAC, DDC, TTC, EP, C) to
candidates so that DrivoR's selection (:mod:`inspatio_drive.contracts.selection`) can pick one.

* :class:`PDMOracleScorer` — **privileged**: the true PDM sub-scores of every candidate (needs the scene's
  metric cache, i.e. the logged future); an upper bound for the selection, never leaderboard-comparable.
* :class:`RuleBasedScorer` — **honest**: only the agent input (current LiDAR, ego status, command).
* :class:`LearnedHeadScorer` — **honest**: heads trained with :mod:`planners.training` on honest features.
"""

from planners.scoring.learned import LearnedHeadScorer
from planners.scoring.oracle import PDM_FIELDS, PDMOracleScorer, probability_to_logit
from planners.scoring.rules import RULE_FEATURES, RuleBasedScorer, RuleConfig

__all__ = [
    "PDM_FIELDS",
    "RULE_FEATURES",
    "LearnedHeadScorer",
    "PDMOracleScorer",
    "RuleBasedScorer",
    "RuleConfig",
    "probability_to_logit",
]
