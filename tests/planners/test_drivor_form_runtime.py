"""The trained DrivoR-form scorer as a planner scorer (``planner.scorer=drivor_form``) on the bundled sample scene."""

import pytest
import torch

from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from planners.constant_velocity import ConstantVelocityPlanner
from planners.factory import build_planner
from planners.scoring.drivor_form import DrivoRFormScorer, ScorerConfig, save_scorer
from planners.scoring.learned import DrivoRFormLearnedScorer
from planners.scoring.scene_inputs import scene_inputs
from scorers.geometric import GeometricFC


@pytest.fixture(scope="module")
def scene():
    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    agent_input = loader.get_agent_input_from_token(loader.tokens[0])
    return agent_input, ConstantVelocityPlanner(yaw_rates=(-0.3, 0.0, 0.3), speed_factors=(0.0, 1.0)).propose(agent_input)


def test_runtime_scorer_matches_the_model_on_its_inputs(scene, tmp_path):
    agent_input, candidates = scene
    fc_term = GeometricFC(image_size=(96, 54))
    fc = fc_term(agent_input, candidates)
    names = sorted(fc.features)[:3]
    torch.manual_seed(0)
    model = DrivoRFormScorer(ScorerConfig(dim=16, layers=1, heads=2, fc="features", fc_dim=3, fc_names=names)).eval()
    path = save_scorer(tmp_path / "scorer.safetensors", model)
    scorer = DrivoRFormLearnedScorer.from_file(path, fc_term=fc_term)
    scored = scorer(candidates, agent_input)
    assert set(scored.logits) == {"NC", "DAC", "DDC", "TTC", "EP", "C"} and scored.logits["EP"].shape == (6,)
    s = scene_inputs(agent_input)
    batch = {"poses": candidates.poses.float()[None], "bev": torch.from_numpy(s["bev"])[None],
             "ego": torch.from_numpy(s["ego"])[None], "rule": scorer.rules(candidates, agent_input).float()[None],
             "fc": torch.stack([fc.features[n].float() for n in names], -1)[None]}
    with torch.no_grad():
        torch.testing.assert_close(scored.logits["NC"], model(batch)["NC"][0])
    needs = scorer.sensor_needs(4)
    assert 3 in needs["lidar_pc"] and "cam_f0" in needs
    with pytest.raises(ValueError, match="fc_term"):
        DrivoRFormLearnedScorer(model)
    # the factory builds it from a planner node (GeometricFC from the yaml + fc_model overrides)
    spec = build_planner({"type": "constant_velocity", "yaw_rates": [-0.3, 0.0, 0.3], "speed_factors": [0.0, 1.0],
                          "scorer": "drivor_form", "head": str(path), "fc_model": {"image_size": [96, 54]},
                          "selection": {"name": "v1"}})
    again = spec.planner.propose(agent_input)
    torch.testing.assert_close(again.logits["NC"], scored.logits["NC"])
    with pytest.raises(ValueError, match=r"scorer\.safetensors"):
        build_planner({"type": "constant_velocity", "scorer": "drivor_form"})
