"""The bundled sample: a few sandbox scenes shipped in ``inspatio_drive/sandbox/sample/`` for
``make demo`` and the tests. Regenerate it (identical logs) with :func:`write_sample`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from inspatio_drive.data.roots import SAMPLE_DIR, SAMPLE_SPLIT
from inspatio_drive.sandbox.oracle import LidarModel, RenderConfig
from inspatio_drive.sandbox.writer import write_split

SAMPLE_SCENARIOS = ("plain_cruising", "pedestrian_crossing", "unprotected_left_turn")
SAMPLE_SEED = 7
SAMPLE_NUM_FRAMES = 14
SAMPLE_JPEG_QUALITY = 85
SAMPLE_CONFIG = RenderConfig(width=480, height=270, lidar=LidarModel(channels=16, azimuths=240))


def write_sample(out: str | Path = SAMPLE_DIR, show_progress: bool = True) -> list[Path]:
    """(Re)write the sample under ``out`` (replaced)."""
    out = Path(out)
    for sub in ("navsim_logs", "sensor_blobs", "maps"):
        shutil.rmtree(out / sub, ignore_errors=True)
    return write_split(out, SAMPLE_SPLIT, len(SAMPLE_SCENARIOS), SAMPLE_SCENARIOS, SAMPLE_SEED,
                       num_frames=SAMPLE_NUM_FRAMES, config=SAMPLE_CONFIG, jpeg_quality=SAMPLE_JPEG_QUALITY,
                       show_progress=show_progress)
