"""Build a planner (and its selection weights / privileged scorer) from a hydra ``planner`` config node
(``configs/planner/<type>.yaml``).

The node's ``type`` picks a structured config in :data:`PLANNER_CONFIGS` (a dataclass with ``_target_``);
the node's planner keys are merged into it (unknown keys refused, types checked by OmegaConf) and hydra's
``instantiate`` builds the planner. The keys every type shares (``selection``, ``scorer``, ``head``, ``rules``)
say how its candidates are scored and selected; the rule scorer's knobs go through the structured config of
:class:`~planners.scoring.RuleConfig` the same way.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, make_dataclass
from typing import Any, Optional

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from inspatio_drive.config import CONFIG_DIR
from inspatio_drive.contracts.selection import SelectionWeights
from planners.drivor.model import DrivoRConfig
from planners.protocol import Planner, ScoredPlanner
from planners.scoring import LearnedHeadScorer, PDMOracleScorer, RuleBasedScorer, RuleConfig
from planners.scoring.drivor_fc import DrivoRFCScorer, load_fc_heads, port_digest
from planners.scoring.drivor_form import load_scorer
from planners.scoring.drivor_form import selection_weights as drivor_form_selection
from planners.scoring.learned import DrivoRFormLearnedScorer, RuleFeatures
from scorers.geometric import GeometricFC

SHARED_KEYS: tuple[str, ...] = ("type", "selection", "scorer", "head", "rules", "fc_model")
"""Keys of a ``planner`` node that are not arguments of the planner itself."""


def structured_config(cls: type, target: str) -> type:
    """A structured config (dataclass with ``_target_``) mirroring the frozen value dataclass ``cls``: same field
    names and defaults (tuples as lists, which ``cls.__post_init__`` turns back into tuples; a nested dataclass
    value as null, which ``cls`` replaces by its default)."""
    hints = typing.get_type_hints(cls)
    spec: list[tuple[str, Any, Any]] = [("_target_", str, field(default=target))]
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        kind = hints[f.name] if hints[f.name] in (int, float, bool, str) else Any
        if is_dataclass(default):  # a nested value (e.g. DrivoR's selection weights): null = cls's default
            spec.append((f.name, Any, field(default=None)))
        elif isinstance(default, tuple):
            spec.append((f.name, kind, field(default_factory=lambda d=default: list(d))))
        else:
            spec.append((f.name, kind, field(default=default)))
    return make_dataclass(f"{cls.__name__}Node", spec)


@dataclass
class ConstantVelocityPlannerConfig:
    """``configs/planner/constant_velocity.yaml``."""

    _target_: str = "planners.constant_velocity.ConstantVelocityPlanner"
    num_poses: int = 8
    interval_length: float = 0.5
    yaw_rates: list[float] = field(default_factory=lambda: [0.0])
    speed_factors: list[float] = field(default_factory=lambda: [1.0])


@dataclass
class VocabularyPlannerConfig:
    """``configs/planner/vocabulary.yaml`` (``scorer`` is built from the shared keys)."""

    _target_: str = "planners.vocabulary.VocabularyPlanner"
    vocabulary: Optional[str] = None  # noqa: UP045 - OmegaConf structured configs need Optional
    scorer: Any = None


DrivoRModelConfig = structured_config(DrivoRConfig, "planners.drivor.model.DrivoRConfig")
"""``configs/planner/drivor.yaml``'s ``model`` node (:class:`~planners.drivor.model.DrivoRConfig`)."""
RuleConfigNode = structured_config(RuleConfig, "planners.scoring.RuleConfig")
"""``configs/planner/rules/*.yaml`` (:class:`~planners.scoring.RuleConfig`)."""


@dataclass
class DrivoRPlannerConfig:
    """``configs/planner/drivor.yaml`` (yaml ``checkpoint`` → ``path``, ``model`` → ``config``)."""

    _target_: str = "planners.drivor.planner.DrivoRPlanner.from_checkpoint"
    path: Optional[str] = None  # noqa: UP045
    dinov2: Optional[str] = None  # noqa: UP045
    config: Any = field(default_factory=DrivoRModelConfig)
    device: str = "auto"
    allow_missing_cameras: bool = False
    amp_dtype: Optional[str] = None  # noqa: UP045
    random_weights: bool = False


@dataclass
class InstalledDrivoRPlannerConfig:
    """``configs/planner/drivor_installed.yaml`` (yaml ``checkpoint`` → ``checkpoint_path``)."""

    _target_: str = "planners.drivor.installed.InstalledDrivoRPlanner.from_config"
    config: dict[str, Any] = field(default_factory=dict)
    checkpoint_path: Optional[str] = None  # noqa: UP045
    device: str = "auto"


@dataclass(frozen=True)
class PlannerType:
    """A planner ``type``.

    Attributes:
        schema: its structured config.
        renamed: yaml key → argument of the target, where they differ.
        required: argument → error message when it is null.
        scorer: how the candidate scorer of ``planner.scorer`` joins: ``"argument"`` (the planner's ``scorer``
            argument), ``"wrap"`` (:class:`~planners.protocol.ScoredPlanner`) or ``None`` (not used).
        selection_in: ``(argument, schema)``: a nested model config that also gets the ``selection`` node.
    """

    schema: type
    renamed: Mapping[str, str] = field(default_factory=dict)
    required: Mapping[str, str] = field(default_factory=dict)
    scorer: str | None = None
    selection_in: tuple[str, type] | None = None


PLANNER_CONFIGS: dict[str, PlannerType] = {
    "constant_velocity": PlannerType(ConstantVelocityPlannerConfig, scorer="wrap"),
    "vocabulary": PlannerType(VocabularyPlannerConfig, scorer="argument", required={
        "vocabulary": "planner.vocabulary: set the vocabulary file (build it with `inspatio-drive build-vocab`)"}),
    "drivor": PlannerType(DrivoRPlannerConfig, renamed={"checkpoint": "path", "model": "config"},
                          selection_in=("config", DrivoRModelConfig)),
    "drivor_installed": PlannerType(InstalledDrivoRPlannerConfig, renamed={"checkpoint": "checkpoint_path"}, required={
        "checkpoint_path": "planner.checkpoint: the installed DrivoR needs a checkpoint file"}),
}
PLANNER_TYPES: tuple[str, ...] = tuple(PLANNER_CONFIGS)


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

    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)  # type: ignore[call-overload]


def structured_node(schema: type, values: Mapping[str, Any], where: str) -> Any:
    """``values`` merged into the structured config ``schema`` (an OmegaConf ``DictConfig``).

    Raises:
        ValueError: ``values`` has keys the schema does not know (``"<where>: unknown keys [...]"``).
    """

    known = {f.name for f in fields(schema)} - {"_target_"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected {sorted(known)}")
    return OmegaConf.merge(OmegaConf.structured(schema), dict(values))


def instantiate_node(node: Any, **kwargs: Any) -> Any:
    """hydra ``instantiate`` (lists as lists), re-raising the target's own error (e.g. ``FileNotFoundError`` for
    a missing checkpoint) instead of hydra's wrapper."""

    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        if exc.__cause__ is not None:
            raise exc.__cause__ from None
        raise


def _rule_config(values: Mapping[str, Any]) -> RuleConfig:
    return instantiate_node(structured_node(RuleConfigNode, values, "planner.rules"))


def build_planner(cfg: Mapping) -> PlannerSpec:
    """Planner from a config node with ``type`` in :data:`PLANNER_TYPES` (see ``configs/planner/``).

    Raises:
        ValueError: unknown type / scorer / key, or a required path missing.
    """
    c = _plain(cfg)
    kind = c.get("type")
    selection = _plain(c.get("selection"))
    weights = selection_weights(selection)
    scorer_name = c.get("scorer")
    if scorer_name not in (None, "rules", "learned", "drivor_form", "drivor_fc", "oracle"):
        raise ValueError(
            f"planner.scorer: expected null, 'rules', 'learned', 'drivor_form', 'drivor_fc' or 'oracle', "
            f"got {scorer_name!r}"
        )
    rules: RuleBasedScorer | LearnedHeadScorer | DrivoRFormLearnedScorer | None = None
    if scorer_name == "rules":
        rules = RuleBasedScorer(_rule_config(_plain(c.get("rules"))))
    elif scorer_name == "learned":
        if not c.get("head"):
            raise ValueError(
                "planner.head: the learned scorer needs a heads file (planners.training.save_heads)"
            )
        rules = LearnedHeadScorer.from_file(c["head"], RuleFeatures(_rule_config(_plain(c.get("rules")))))
    elif scorer_name == "drivor_form":
        if not c.get("head"):
            raise ValueError("planner.head: scorer=drivor_form needs a train-scorer checkpoint (scorer.safetensors)")
        rules = _drivor_form(c)
        weights = drivor_form_selection(rules.model.config, weights)  # one-line error on a mismatch (v2 on v1)
    oracle = PDMOracleScorer() if scorer_name == "oracle" else None
    if kind not in PLANNER_CONFIGS:
        raise ValueError(f"planner.type: expected one of {PLANNER_TYPES}, got {kind!r}")
    spec = PLANNER_CONFIGS[kind]
    values = {spec.renamed.get(k, k): v for k, v in c.items() if k not in SHARED_KEYS}
    for arg, message in spec.required.items():
        if not values.get(arg):
            raise ValueError(message)
    if spec.selection_in is not None:  # e.g. DrivoR's model config carries the weights it selects with
        arg, schema = spec.selection_in
        where = f"planner.{next((k for k, v in spec.renamed.items() if v == arg), arg)}"
        values[arg] = structured_node(schema, {**_plain(values.get(arg)), "selection": selection}, where)
    if scorer_name == "drivor_fc" and (kind != "drivor" or not c.get("head")):
        raise ValueError("planner.scorer=drivor_fc: needs planner=drivor and planner.head=<fc_heads.safetensors of "
                         f"`inspatio-drive train-drivor-fc`>; got planner={kind}, planner.head={c.get('head')!r}")
    extra = {"scorer": rules} if spec.scorer == "argument" else {}
    planner: Planner = instantiate_node(structured_node(spec.schema, values, "planner"), **extra)
    if spec.scorer == "wrap" and rules is not None:
        planner = ScoredPlanner(planner, rules)
    if scorer_name == "drivor_fc":
        planner = ScoredPlanner(planner, _drivor_fc(c, planner))
    return PlannerSpec(planner, weights, oracle)


def _drivor_fc(c: Mapping, planner: Any) -> DrivoRFCScorer:
    """``planner=drivor planner.scorer=drivor_fc planner.head=<file>``: the trained :class:`DrivoRFCHeads` of
    ``head`` with a ``GeometricFC`` built from the FC settings saved in it (``fc_model``; ``planner.fc_model`` keys
    override them, e.g. ``device``).

    Raises:
        ValueError: the heads were trained on another DrivoR port (weights digest) or another token width.
    """
    heads, info = load_fc_heads(c["head"])
    model = planner.model
    if heads.d_model != model.cfg.tf_d_model:
        raise ValueError(f"planner.head={c['head']}: heads for scorer tokens of width {heads.d_model}, the DrivoR "
                         f"planner gives {model.cfg.tf_d_model}")
    trained_on = info.get("port_digest")
    if trained_on is not None and trained_on != port_digest(model):
        raise ValueError(f"planner.head={c['head']}: trained on another DrivoR port (weights digest "
                         f"{str(trained_on)[:12]}…, this planner's {port_digest(model)[:12]}…); use the checkpoint it "
                         f"was trained with ({info.get('drivor_checkpoint')})")
    fc_kw = {**dict(info.get("fc_model") or {}), **dict(_plain(c.get("fc_model")) or {})}
    fc_kw["head"] = None  # the FC features only: the heads take them as inputs
    return DrivoRFCScorer(heads, GeometricFC(**fc_kw))


def _drivor_form(c: Mapping) -> DrivoRFormLearnedScorer:
    """``scorer=drivor_form``: the checkpoint ``head``; for a model trained with FC inputs, a ``GeometricFC`` from
    ``configs/scorer/geometric_fc.yaml`` with the overrides of ``fc_model`` (the settings the FC features were
    computed with, and ``head`` = the FC head for ``features+head``)."""
    model, _ = load_scorer(c["head"])
    fc_term = None
    if model.config.fc != "none":
        fc_term = GeometricFC(**dict(_plain(c.get("fc_model")) or {}))
    return DrivoRFormLearnedScorer(model, RuleFeatures(_rule_config(_plain(c.get("rules")))), fc_term)


def weights_preset(name: str) -> SelectionWeights:
    """Weights from ``configs/planner/selection/<name>.yaml`` (``v1``, ``v2`` or a file of yours there).

    Raises:
        FileNotFoundError: no such preset.
    """
    path = CONFIG_DIR / "planner" / "selection" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"selection weights preset {name!r}: expected {path}")
    return SelectionWeights.from_config(OmegaConf.to_container(OmegaConf.load(path)))  # type: ignore[arg-type]


def selection_weights(spec: str | Mapping[str, Any] | None) -> SelectionWeights:
    """Selection weights from a config value: a preset name (:func:`weights_preset`) or a mapping of weights."""
    return weights_preset(spec) if isinstance(spec, str) else SelectionWeights.from_config(spec or {})
