"""GeometricFC on the bundled sandbox sample: honest features from the geometric futures of every candidate,
and — with the InSpatio generator (tiny random weights on CPU) — the generated-frame features of the top G."""

import numpy as np
import pytest
import torch

from inspatio_drive.config import compose
from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root
from planners.constant_velocity import ConstantVelocityPlanner
from planners.protocol import ScoredPlanner
from planners.scoring import RuleBasedScorer
from scorers.geometric import GeometricFC


@pytest.fixture(scope="module")
def scene_input():
    root = sample_root()
    loader = SceneLoader(root / "navsim_logs" / SAMPLE_SPLIT, root / "sensor_blobs" / SAMPLE_SPLIT, SceneFilter(),
                         SensorConfig.build_all_sensors(), show_progress=False)
    agent_input = loader.get_agent_input_from_token(loader.tokens[0])
    planner = ScoredPlanner(ConstantVelocityPlanner(yaw_rates=(-0.3, 0.0, 0.3), speed_factors=(0.0, 1.0)),
                            RuleBasedScorer())
    return agent_input, planner.propose(agent_input)


def test_geometric_features_without_head(scene_input):
    agent_input, candidates = scene_input
    out = GeometricFC(image_size=(96, 54))(agent_input, candidates)
    assert out.logit.shape == (6,) and torch.all(out.logit == 0) and not out.privileged
    assert out.extras["generator"] == "geometric" and out.extras["render"].shape[:3] == (6, 8, 4)
    obs = [v for k, v in out.features.items() if "observ" in k]
    assert obs and all(torch.all((v >= 0) & (v <= 1)) for v in obs)
    assert float(out.features["has_generated"].sum()) == 0


def test_inspatio_generator_adds_generated_features(scene_input, tmp_path):
    from inspatio_drive.world_model.text import CaptionEmbeddingCache, save_caption_embedding

    caption = "tiny caption"
    save_caption_embedding(CaptionEmbeddingCache(tmp_path).path(caption), caption, torch.randn(3, 32))
    gen_cfg = compose("bench_world_model", [
        "generator=inspatio", "generator.model=tiny", "generator.random_weights=true", "generator.vae=tiny-random",
        "generator.device=cpu", "generator.dtype=float32", f"generator.text_cache_dir={tmp_path}",
        f"generator.caption='{caption}'", "generator.max_batch=2"]).generator
    agent_input, candidates = scene_input
    fc = GeometricFC(image_size=(96, 54), generator=dict(gen_cfg), generate_top=2, generate_size=(64, 32))
    out = fc(agent_input, candidates)
    top = out.extras["generated_index"]
    assert top.shape == (2,) and out.extras["generator"] == "inspatio"
    has = out.features["has_generated"].numpy()
    assert has[top.numpy()].tolist() == [1.0, 1.0] and has.sum() == 2
    assert np.isfinite(out.features["generated_render_l1"].numpy()).all() if "generated_render_l1" in out.features else True


def test_geometric_fc_defaults_have_one_source():
    """Every GeometricFC default is the yaml's value (the class said splat=2 while the yaml said 1)."""
    import inspect

    from omegaconf import OmegaConf

    from inspatio_drive.config import CONFIG_DIR
    from scorers.geometric import GeometricFC, geometric_fc_defaults

    node = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "scorer" / "geometric_fc.yaml").model)
    node.pop("_target_")
    assert geometric_fc_defaults() == node
    params = inspect.signature(GeometricFC.__init__).parameters
    assert set(node) == set(params) - {"self"}
    assert all(p.default is None for name, p in params.items() if name != "self")  # no second copy in the class
    fc = GeometricFC()
    assert fc.splat == node["splat"] == 1 and fc.image_size == tuple(node["image_size"])
    assert fc.sweeps == node["sweeps"] and fc.cameras == tuple(node["cameras"])
    assert GeometricFC(splat=3).splat == 3


def test_world_model_frame_rate_substeps(scene_input, tmp_path):
    """generate_substeps=k: the world model gets 8k + 1 frames 0.5/k s apart; the features read the 0.5 s ones."""
    from scorers.geometric import check_substeps, densify_poses

    traj = torch.tensor([[[0.0, 0.0, 3.0], [2.0, 1.0, -3.0], [4.0, 4.0, -2.5]]], dtype=torch.float64)
    dense = densify_poses(traj, 4)
    assert dense.shape == (1, 9, 3)
    torch.testing.assert_close(dense[:, ::4, :2], traj[..., :2])
    torch.testing.assert_close(dense[0, 2, :2], torch.tensor([1.0, 0.5], dtype=torch.float64))
    # heading crosses ±π the short way: halfway between 3.0 and −3.0 is ±π, not 0
    assert abs(abs(float(dense[0, 2, 2])) - np.pi) < 1e-9
    assert [k for k in range(1, 12) if _fits(check_substeps, k)] == [1, 4, 7, 10]
    with pytest.raises(ValueError, match="use one of"):
        GeometricFC(generator={"name": "inspatio"}, generate_substeps=2)

    seen = []
    fc = GeometricFC(image_size=(96, 54), generate_substeps=4, generate_size=(64, 32))

    class Spy:  # a generator that returns its (masked) condition frames
        def generate(self, source, render, mask):
            seen.append(render.shape[1])
            from inspatio_drive.world_model.generator import GeneratedBlock

            return [GeneratedBlock(index=0, frame_indices=range(render.shape[1]), frames=render * mask[:, :, None])]

    fc.generator, fc.generator_name, fc.generate_top = Spy(), "spy", 2
    agent_input, candidates = scene_input
    out = fc(agent_input, candidates)
    assert seen and all(n == 33 for n in seen)  # 8 poses × 4 substeps + t = 0
    assert float(out.features["has_generated"].sum()) == 2


def _fits(check, k):
    try:
        check(k, 8)
        return True
    except ValueError:
        return False
