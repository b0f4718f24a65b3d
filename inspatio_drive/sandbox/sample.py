"""The bundled sample: a few sandbox scenes shipped in ``inspatio_drive/sandbox/sample/`` for
``make demo`` and the tests. Regenerate it (identical logs) with::

    python -m inspatio_drive.sandbox.sample [OUT_DIR]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from inspatio_drive.sandbox.oracle import LidarModel, RenderConfig
from inspatio_drive.sandbox.writer import write_split

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_SPLIT = "sample"
SAMPLE_SCENARIOS = ("plain_cruising", "pedestrian_crossing", "unprotected_left_turn")
SAMPLE_SEED = 7
SAMPLE_NUM_FRAMES = 14
SAMPLE_JPEG_QUALITY = 85
SAMPLE_CONFIG = RenderConfig(width=480, height=270, lidar=LidarModel(channels=16, azimuths=240))


def sample_root() -> Path:
    """Data root of the bundled sample (``navsim_logs/sample``, ``sensor_blobs/sample``, ``maps``)."""
    if not (SAMPLE_DIR / "navsim_logs" / SAMPLE_SPLIT).is_dir():
        raise FileNotFoundError(f"{SAMPLE_DIR}: bundled sandbox sample missing; run python -m inspatio_drive.sandbox.sample")
    return SAMPLE_DIR


def write_sample(out: str | Path = SAMPLE_DIR, show_progress: bool = True) -> list[Path]:
    """(Re)write the sample under ``out`` (replaced)."""
    out = Path(out)
    for sub in ("navsim_logs", "sensor_blobs", "maps"):
        shutil.rmtree(out / sub, ignore_errors=True)
    return write_split(out, SAMPLE_SPLIT, len(SAMPLE_SCENARIOS), SAMPLE_SCENARIOS, SAMPLE_SEED,
                       num_frames=SAMPLE_NUM_FRAMES, config=SAMPLE_CONFIG, jpeg_quality=SAMPLE_JPEG_QUALITY,
                       show_progress=show_progress)


if __name__ == "__main__":
    paths = write_sample(sys.argv[1] if len(sys.argv) > 1 else SAMPLE_DIR)
    print("\n".join(str(p) for p in paths))
