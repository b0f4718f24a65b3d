"""Florence-2 captions (transformers' Florence2ForConditionalGeneration, tiny random config) -> umT5 cache -> generator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inspatio_drive.config import compose
from inspatio_drive.world_model.caption import Florence2Captioner, SceneCaptions, image_key, load_florence2
from inspatio_drive.world_model.factory import build_generator
from inspatio_drive.world_model.text import CaptionEmbeddingCache, save_caption_embedding

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_florence(tmp_path_factory):
    """A tiny random Florence-2 (DaViT + BART) with its processor, saved as a local folder."""
    from transformers import (
        BartConfig,
        BartTokenizer,
        CLIPImageProcessor,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
        Florence2VisionConfig,
    )

    d = tmp_path_factory.mktemp("florence2")
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<image>"])}
    for c in "Ġabcdefghijklmnopqrstuvwxyz.,?":
        vocab.setdefault(c, len(vocab))
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tok = BartTokenizer(str(d / "vocab.json"), str(d / "merges.txt"), extra_special_tokens={"image_token": "<image>"})
    images = CLIPImageProcessor(size={"height": 32, "width": 32}, do_center_crop=False)
    images.image_seq_length = 2  # a 32x32 image through the tiny DaViT: 1 spatial + 1 pooled token
    vision = Florence2VisionConfig(
        depths=(1, 1, 1, 1), embed_dim=(8, 16, 16, 32), num_heads=(1, 1, 1, 1), num_groups=(1, 1, 1, 1),
        window_size=2, projection_dim=32, drop_path_rate=0.0,
    )  # fmt: skip
    text = BartConfig(
        vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Florence2ForConditionalGeneration(
        Florence2Config(vision_config=vision, text_config=text, image_token_id=tok.image_token_id)
    ).eval()
    model.generation_config.min_new_tokens = 6  # random weights would stop at once: force a few tokens
    model.save_pretrained(d)
    Florence2Processor(image_processor=images, tokenizer=tok).save_pretrained(d)
    return d


def street_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (40, 64, 3), dtype=np.uint8)


def test_florence2_captions_from_local_weights(tiny_florence):
    cap = Florence2Captioner(tiny_florence, task="<CAPTION>", max_new_tokens=8)
    a = cap(street_image(0))
    assert isinstance(a, str) and len(a) > 0 and "<" not in a  # special tokens stripped
    assert cap(street_image(0)) == a  # greedy: deterministic
    as_float = torch.as_tensor(street_image(0)).permute(2, 0, 1).float() / 255
    assert cap(as_float) == a  # [3, H, W] in [0, 1] is the same image
    # the same greedy call straight through transformers
    processor, model = load_florence2(tiny_florence)
    inputs = processor(text="<CAPTION>", images=street_image(0), return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=8, do_sample=False, num_beams=1)
    assert " ".join(processor.batch_decode(ids, skip_special_tokens=True)[0].split()) == a


def test_florence2_loader_refuses_remote_code_and_missing(tiny_florence, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"generator\.captioner\.path"):
        load_florence2(tmp_path / "nothing")
    cfg = json.loads((tiny_florence / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "auto_map": {"AutoModelForCausalLM": "x.Y"}}))
    with pytest.raises(ValueError, match="trust_remote_code is not allowed"):
        load_florence2(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bart"}))
    with pytest.raises(ValueError, match="expected 'florence2'"):
        load_florence2(tmp_path)


def test_scene_captions_memoise_per_image(tmp_path):
    calls = []

    def fake(image):
        calls.append(image_key(image))
        return f"scene {int(image.mean())}"

    embeds = {}
    sc = SceneCaptions(fake, lambda c: embeds.setdefault(c, torch.randn(3, 4)), tmp_path)
    e0 = sc(street_image(1))
    assert torch.equal(sc(street_image(1)), e0) and len(calls) == 1
    sc(street_image(2))
    assert len(calls) == 2 and sc.last_caption.startswith("scene ")
    again = SceneCaptions(fake, embeds.__getitem__, tmp_path)  # a new process: captions read from disk
    assert torch.equal(again(street_image(1)), e0) and len(calls) == 2
    assert (tmp_path / "florence2" / f"{image_key(street_image(1))[:16]}.txt").is_file()


def test_generator_caption_florence2_conditions_each_scene(tiny_florence, tmp_path):
    """caption=florence2: the scene's caption goes through the umT5 cache; the result equals the fixed caption's."""
    source = torch.as_tensor(street_image(3)[:32, :48]).permute(2, 0, 1)[None].float() / 255
    caption = Florence2Captioner(tiny_florence, max_new_tokens=8)(source[0])
    save_caption_embedding(CaptionEmbeddingCache(tmp_path).path(caption), caption, torch.randn(4, 32))
    base = [
        "generator=inspatio", "generator.model=tiny", "generator.random_weights=true", "generator.vae=tiny-random",
        "generator.device=cpu", "generator.dtype=float32", f"generator.text_cache_dir={tmp_path}",
        "generator.max_batch=2",
    ]  # fmt: skip
    florence = [*base, "generator.caption=florence2", f"generator.captioner.path={tiny_florence}",
                "generator.captioner.max_new_tokens=8"]  # fmt: skip
    gen = build_generator(compose("bench_world_model", florence).generator)
    fixed = build_generator(compose("bench_world_model", [*base, f"generator.caption='{caption}'"]).generator)
    none = build_generator(compose("bench_world_model", [*base, "generator.caption=null"]).generator)
    render, mask = torch.rand(2, 9, 3, 32, 48), torch.ones(2, 9, 32, 48, dtype=torch.bool)
    (a,) = gen.generate(source, render, mask, decode=False)
    (b,) = fixed.generate(source, render, mask, decode=False)
    (c,) = none.generate(source, render, mask, decode=False)
    assert gen.scene_text.last_caption == caption
    torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=1e-6)
    assert (a.latents - c.latents).abs().max() > 1e-4  # the caption matters
    with pytest.raises(ValueError, match=r"generator\.captioner\.path"):
        build_generator(compose("bench_world_model", [*base, "generator.caption=florence2"]).generator)


def test_render_writes_the_caption_of_the_source_image(tiny_florence, tmp_path):
    """render caption.path=...: Florence-2 captions the current image of the camera into condition.json."""
    from inspatio_drive.commands.render import main
    from inspatio_drive.render.synthetic import make_street, synthetic_agent_input

    out = tmp_path / "out"
    rc = main([f"output_dir={out}", "data.synthetic_step=0.4", "data.history_image_size=[96,54]", "image_size=[64,48]",
               "fps=2", "grid.enabled=false", "point_cloud.voxel_size=0.2", f"caption.path={tiny_florence}",
               "caption.max_new_tokens=8", "caption.task=CAPTION"])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "condition.json").read_text())
    agent_input, _ = synthetic_agent_input(make_street(0.4), image_size=(96, 54))
    expected = Florence2Captioner(tiny_florence, task="<CAPTION>", max_new_tokens=8)(
        agent_input.cameras[-1]["CAM_F0"].image
    )
    assert meta["caption"] == expected and len(expected) > 0
