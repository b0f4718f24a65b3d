"""Small files shipped with the package: the sandbox trajectory vocabulary, FC head and learned DrivoR-form scorers
(without and with FC inputs) made by ``inspatio-drive study``, and the small sandbox world model made by ``train-world-model`` (see ``README.md`` in
this folder for how each one was made).

``asset("vocab_sandbox.safetensors")`` → its path; :data:`VOCAB_SANDBOX`, :data:`FC_HEAD_SANDBOX`,
:data:`SCORER_LEARNED_SANDBOX`, :data:`SCORER_LEARNED_FC_SANDBOX`.
"""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
VOCAB_SANDBOX = ASSETS_DIR / "vocab_sandbox.safetensors"      # planners.vocabulary file, K = 64 per cell
FC_HEAD_SANDBOX = ASSETS_DIR / "fc_head_sandbox.safetensors"  # scorers.head checkpoint (honest), w_fc in its metadata
# planners.scoring.drivor_form checkpoints (train-scorer, config + train-scorer config in the metadata), trained on the
# candidates of VOCAB_SANDBOX: fc=none and fc=features (the GeometricFC features of configs/scorer/geometric_fc.yaml)
SCORER_LEARNED_SANDBOX = ASSETS_DIR / "scorer_sandbox_learned.safetensors"
SCORER_LEARNED_FC_SANDBOX = ASSETS_DIR / "scorer_sandbox_learned_fc.safetensors"
WORLD_MODEL_SANDBOX = ASSETS_DIR / "world_model_sandbox_small.safetensors"  # DiT of generator.model=sandbox_small
WORLD_MODEL_SANDBOX_CODEC = ASSETS_DIR / "world_model_sandbox_small_codec.safetensors"  # its block-PCA codec + decoder refiner


def asset(name: str) -> Path:
    """Path of a shipped asset.

    Raises:
        FileNotFoundError: not shipped (lists what is).
    """
    path = ASSETS_DIR / name
    if not path.is_file():
        have = sorted(p.name for p in ASSETS_DIR.glob("*.safetensors"))
        raise FileNotFoundError(f"asset {name!r} not in {ASSETS_DIR} (shipped: {have})")
    return path
