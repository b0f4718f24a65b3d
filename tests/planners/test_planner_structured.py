"""Planners are built one way: hydra ``instantiate`` of the structured config of their ``type``."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from inspatio_drive.config import compose
from planners.drivor.model import DrivoRConfig
from planners.factory import (
    PLANNER_CONFIGS,
    PLANNER_TYPES,
    SHARED_KEYS,
    DrivoRModelConfig,
    RuleConfigNode,
    build_planner,
)
from planners.scoring import RuleConfig


@pytest.mark.parametrize("kind", PLANNER_TYPES)
def test_every_planner_yaml_fits_its_structured_config(kind):
    node = OmegaConf.to_container(compose("planners", [f"planner={kind}"]).planner, resolve=True)
    assert node["type"] == kind
    spec = PLANNER_CONFIGS[kind]
    known = {f.name for f in fields(spec.schema)}
    assert {spec.renamed.get(k, k) for k in node if k not in SHARED_KEYS} <= known
    assert OmegaConf.structured(spec.schema)._target_.rsplit(".", 1)[-1] in {
        "ConstantVelocityPlanner", "VocabularyPlanner", "from_checkpoint", "from_config"}


def test_value_configs_mirror_their_dataclasses():
    assert instantiate(OmegaConf.structured(DrivoRModelConfig), _convert_="all") == DrivoRConfig()
    assert instantiate(OmegaConf.structured(RuleConfigNode), _convert_="all") == RuleConfig()
    yaml_model = OmegaConf.to_container(compose("planners", ["planner=drivor"]).planner.model)
    built = instantiate(OmegaConf.merge(OmegaConf.structured(DrivoRModelConfig), yaml_model), _convert_="all")
    assert isinstance(built.image_size, tuple) and isinstance(built.cameras, tuple)
    assert built == DrivoRConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in yaml_model.items()})


def test_target_errors_are_not_wrapped_by_hydra(tmp_path):
    with pytest.raises(FileNotFoundError, match="build-vocab"):
        build_planner({"type": "vocabulary", "vocabulary": str(tmp_path / "missing.safetensors")})
    with pytest.raises(FileNotFoundError, match="DrivoR checkpoint"):
        build_planner({"type": "drivor", "checkpoint": str(tmp_path / "missing.pth"), "model": {"image_size": [224, 126]}})
    with pytest.raises(ValueError, match=r"planner\.model: unknown keys \['nope'\]"):
        build_planner({"type": "drivor", "model": {"nope": 1}})
    with pytest.raises(ValueError, match=r"planner: unknown keys \['nope'\]"):
        build_planner({"type": "constant_velocity", "nope": 1})
