"""Planners from hydra configs (configs/planners.yaml + configs/planner/*)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspatio_drive.config import ConfigError, compose
from inspatio_drive.contracts.selection import DRIVOR_V1, DRIVOR_V2
from planners.drivor.planner import DrivoRPlanner
from planners.factory import build_planner
from planners.protocol import ScoredPlanner
from planners.vocabulary import VocabularyPlanner, build_vocabulary


def test_constant_velocity_with_rules_and_v2():
    cfg = compose(
        "planners",
        [
            "planner.scorer=rules",
            "planner/selection=v2",
            "planner.yaw_rates=[-0.2,0,0.2]",
            "planner.rules.margin=0.5",
        ],
    )
    spec = build_planner(cfg.planner)
    assert isinstance(spec.planner, ScoredPlanner) and spec.weights == DRIVOR_V2 and not spec.privileged
    assert spec.planner.scorer.cfg.margin == 0.5
    assert spec.planner.planner.yaw_rates.tolist() == [-0.2, 0.0, 0.2]


def test_vocabulary_with_oracle(tmp_path):
    rng = np.random.default_rng(0)
    fut = rng.normal(size=(40, 8, 3))
    path = build_vocabulary(fut, rng.uniform(0, 10, 40), rng.integers(0, 3, 40), k=4, iters=3).save(
        tmp_path / "v.safetensors"
    )
    spec = build_planner(
        compose(
            "planners", ["planner=vocabulary", f"planner.vocabulary={path}", "planner.scorer=oracle"]
        ).planner
    )
    assert isinstance(spec.planner, VocabularyPlanner) and spec.planner.scorer is None
    assert spec.privileged and spec.weights == DRIVOR_V1
    with pytest.raises(ValueError, match="build-vocab"):
        build_planner(compose("planners", ["planner=vocabulary"]).planner)


def test_drivor_random_weights_only_when_asked(monkeypatch):
    monkeypatch.delenv("DRIVOR_CHECKPOINT", raising=False)
    small = ["planner=drivor", "planner.model.image_size=[224,126]", "planner/selection=v2"]
    with pytest.raises(ConfigError, match=r"planner\.checkpoint=.*DRIVOR_CHECKPOINT.*planner\.random_weights=true") as err:
        build_planner(compose("planners", small).planner)
    assert "\n" not in str(err.value)
    spec = build_planner(compose("planners", [*small, "planner.random_weights=true"]).planner)
    assert isinstance(spec.planner, DrivoRPlanner) and spec.planner.random_weights
    assert spec.planner.model.cfg.image_size == (224, 126) and spec.planner.weights == DRIVOR_V2
    assert spec.planner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # device: auto
    with pytest.raises(ConfigError, match="choose one"):
        build_planner(compose("planners", [*small, "planner.random_weights=true", "planner.checkpoint=x.pth"]).planner)
    cv = build_planner(compose("planners", ["planner=constant_velocity"]).planner).planner
    assert getattr(cv, "random_weights", False) is False


def test_drivor_checkpoint_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DRIVOR_CHECKPOINT", str(tmp_path / "from_env.pth"))
    with pytest.raises(FileNotFoundError, match=r"from_env\.pth"):
        build_planner(compose("planners", ["planner=drivor", "planner.model.image_size=[224,126]"]).planner)


def test_bad_configs():
    with pytest.raises(ValueError, match=r"planner\.type"):
        build_planner({"type": "nope"})
    with pytest.raises(ValueError, match=r"planner\.scorer"):
        build_planner({"type": "constant_velocity", "scorer": "magic"})
    with pytest.raises(ValueError, match=r"planner\.rules: unknown keys"):
        build_planner({"type": "constant_velocity", "scorer": "rules", "rules": {"marginn": 1}})
    with pytest.raises(ValueError, match="checkpoint"):
        build_planner({"type": "drivor_installed"})


def test_rules_yaml_matches_rule_config_defaults():
    from dataclasses import asdict

    from omegaconf import OmegaConf

    from planners.scoring import RuleConfig

    cfg = compose("planners", ["planner.scorer=rules"]).planner.rules
    yaml = {k: tuple(v) if isinstance(v, list) else v for k, v in OmegaConf.to_container(cfg).items()}
    assert yaml == asdict(RuleConfig())


def test_learned_scorer_from_config(tmp_path):
    from planners.scoring import LearnedHeadScorer
    from planners.training import ScoreHeads, save_heads

    path = save_heads(ScoreHeads(7, hidden=8), tmp_path / "h.safetensors")
    spec = build_planner(compose("planners", ["planner.scorer=learned", f"planner.head={path}"]).planner)
    assert isinstance(spec.planner.scorer, LearnedHeadScorer)
    import pickle  # planners go to process-pool workers

    clone = pickle.loads(pickle.dumps(spec.planner))
    assert clone.scorer.features.rules.cfg == spec.planner.scorer.features.rules.cfg
    with pytest.raises(ValueError, match="heads file"):
        build_planner(compose("planners", ["planner.scorer=learned"]).planner)


def test_drivor_without_checkpoint_is_a_setting_not_a_bad_override(monkeypatch, capsys, tmp_path):
    """The command line names what to set, without calling a correct command line a bad override."""
    from inspatio_drive.commands.evaluate import main

    monkeypatch.delenv("DRIVOR_CHECKPOINT", raising=False)
    rc = main(["planner=drivor", "eval.max_scenes=1", f"eval.output_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "DrivoR planner: no checkpoint" in err and "bad override" not in err
