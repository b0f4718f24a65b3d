"""Where a split lives: ``<data_root>/navsim_logs/<split>``, ``<data_root>/sensor_blobs/<split>`` and the maps
root, from a ``configs/data`` node; a null ``data_root`` is the sandbox sample bundled with the package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sandbox" / "sample"
"""Data root of the bundled sample (written by :func:`inspatio_drive.sandbox.sample.write_sample`)."""
SAMPLE_SPLIT = "sample"


def sample_root() -> Path:
    """Data root of the bundled sample (``navsim_logs/sample``, ``sensor_blobs/sample``, ``maps``)."""
    if not (SAMPLE_DIR / "navsim_logs" / SAMPLE_SPLIT).is_dir():
        raise FileNotFoundError(f"{SAMPLE_DIR}: bundled sandbox sample missing; regenerate it with "
                                "inspatio_drive.sandbox.sample.write_sample()")
    return SAMPLE_DIR


def resolve_data_paths(data: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    """``(navsim_logs/<split>, sensor_blobs/<split>, maps_root)`` from a ``configs/data`` node; a null
    ``data_root`` means the sandbox sample bundled with the package."""
    root = data.get("data_root")
    if root in (None, "", "null"):
        root = sample_root()
    root = Path(str(root)).expanduser()
    split = str(data["split"])
    logs, blobs = root / "navsim_logs" / split, root / "sensor_blobs" / split
    if not logs.is_dir():
        raise FileNotFoundError(f"data: {logs} not found (expected <data_root>/navsim_logs/<split>/*.pkl; "
                                f"data.data_root={root}, data.split={split})")
    maps = Path(str(data.get("maps_root") or root / "maps")).expanduser()
    return logs, blobs, maps
