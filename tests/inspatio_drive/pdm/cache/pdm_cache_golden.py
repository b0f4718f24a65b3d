"""Golden NAVSIM scenes A and C (tests/data/golden/pdms) as :class:`Scene` objects, through the data layer."""

from __future__ import annotations

from pathlib import Path

from inspatio_drive.data import SceneLoader
from inspatio_drive.data.types import Scene

GOLDEN = Path(__file__).resolve().parents[3] / "data" / "golden" / "pdms"
SCENES = {"a": "golden_a", "c": "golden_c"}


def load_golden_scene_input(name: str) -> Scene:
    loader = SceneLoader(GOLDEN / "navsim_logs" / SCENES[name], None, show_progress=False)
    (token,) = loader.tokens
    return loader.get_scene_from_token(token)
