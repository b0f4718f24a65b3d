"""Build a planner (and its selection weights / privileged scorer) from a hydra ``planner`` config node
(``configs/planner/<type>.yaml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from inspatio_drive.contracts.selection import SelectionWeights
from planners.protocol import Planner, ScoredPlanner
from planners.scoring import LearnedHeadScorer, PDMOracleScorer, RuleBasedScorer, RuleConfig
from planners.scoring.learned import RuleFeatures

PLANNER_TYPES: tuple[str, ...] = ("constant_velocity", "vocabulary", "drivor", "drivor_installed")


@dataclass
class PlannerSpec:
    """What a run needs: the planner, DrivoR selection weights, and the privileged oracle when configured
    (``oracle(candidates, metric_cache)`` must then be applied before selection)."""

    planner: Planner
    weights: SelectionWeights
    oracle: PDMOracleScorer | None = None

    @property
    def privileged(self) -> bool:
        return self.oracle is not None


def _plain(node: object) -> dict:
    if node is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(node, DictConfig):
            return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return dict(node)  # type: ignore[call-overload]


def _rule_config(overrides: Mapping) -> RuleConfig:
    known = {f.name for f in fields(RuleConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"planner.rules: unknown keys {unknown}; expected {sorted(known)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return RuleConfig(**kwargs)


def build_planner(cfg: Mapping) -> PlannerSpec:
    """Planner from a config node with ``type`` in :data:`PLANNER_TYPES` (see ``configs/planner/``).

    Raises:
        ValueError: unknown type / scorer, or a required path missing.
    """
    c = _plain(cfg)
    kind = c.get("type")
    weights = SelectionWeights.from_config(_plain(c.get("selection")) or {})
    scorer_name = c.get("scorer")
    if scorer_name not in (None, "rules", "learned", "oracle"):
        raise ValueError(
            f"planner.scorer: expected null, 'rules', 'learned' or 'oracle', got {scorer_name!r}"
        )
    rules: RuleBasedScorer | LearnedHeadScorer | None = None
    if scorer_name == "rules":
        rules = RuleBasedScorer(_rule_config(_plain(c.get("rules"))))
    elif scorer_name == "learned":
        if not c.get("head"):
            raise ValueError(
                "planner.head: the learned scorer needs a heads file (planners.training.save_heads)"
            )
        features = RuleFeatures(_rule_config(_plain(c.get("rules"))))
        rules = LearnedHeadScorer.from_file(c["head"], features)
    oracle = PDMOracleScorer() if scorer_name == "oracle" else None
    planner: Planner
    if kind == "constant_velocity":
        from planners.constant_velocity import ConstantVelocityPlanner

        planner = ConstantVelocityPlanner(
            int(c.get("num_poses", 8)), float(c.get("interval_length", 0.5)),
            tuple(c.get("yaw_rates", (0.0,))), tuple(c.get("speed_factors", (1.0,))),
        )  # fmt: skip
        if rules is not None:
            planner = ScoredPlanner(planner, rules)
    elif kind == "vocabulary":
        from planners.vocabulary import VocabularyPlanner

        if not c.get("vocabulary"):
            raise ValueError(
                "planner.vocabulary: set the vocabulary file (build it with `inspatio-drive build-vocab`)"
            )
        planner = VocabularyPlanner(c["vocabulary"], scorer=rules)
    elif kind == "drivor":
        from planners.drivor.model import DrivoRConfig
        from planners.drivor.planner import DrivoRPlanner

        model_cfg = DrivoRConfig.from_mapping(
            {**_plain(c.get("model")), "selection": _plain(c.get("selection"))}
        )
        planner = DrivoRPlanner.from_checkpoint(
            c.get("checkpoint"), dinov2=c.get("dinov2"), config=model_cfg,
            weights=weights, device=c.get("device", "cpu"), allow_missing_cameras=bool(c.get("allow_missing_cameras")),
            amp_dtype=c.get("amp_dtype"),
        )  # fmt: skip
    elif kind == "drivor_installed":
        from planners.drivor.installed import InstalledDrivoRPlanner

        if not c.get("checkpoint"):
            raise ValueError("planner.checkpoint: the installed DrivoR needs a checkpoint file")
        planner = InstalledDrivoRPlanner.from_config(
            _plain(c.get("config")), c["checkpoint"], c.get("device", "cpu")
        )
    else:
        raise ValueError(f"planner.type: expected one of {PLANNER_TYPES}, got {kind!r}")
    return PlannerSpec(planner, weights, oracle)
