"""Camera JPEG and LiDAR PCD loading for one frame, with clear errors or lenient empty sensors.

Images: ``np.array(PIL.Image.open(path))`` like navsim → uint8 ``[H, W, 3]`` RGB. Optionally a
reduced-size decode with Pillow's JPEG ``draft`` mode (DCT scaling by 1/2, 1/4 or 1/8): the decoder
then produces the smallest scaled image that is still at least the requested size, which is several
times faster than a full decode. The pixels differ from a full decode followed by a resize (DCT
scaling is a box-like filter), so use it only when the consumer resizes anyway and exact parity
with navsim's full-resolution pipeline is not needed.
"""

from __future__ import annotations

import io
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from inspatio_drive.contracts.errors import InputFormatError
from inspatio_drive.data.pcd import PCDError, parse_pcd


class SensorError(InputFormatError, RuntimeError):
    """A sensor file is missing or unreadable (message names the file and the frame token)."""


class SensorTimer:
    """Accumulates seconds spent per stage (``read``, ``decode``, ``to_array``, ``lidar``) for benchmarks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds
        self.counts[stage] += 1


def load_image(
    path: str | os.PathLike[str],
    frame_token: str = "?",
    draft_size: tuple[int, int] | None = None,
    timer: SensorTimer | None = None,
) -> NDArray[np.uint8]:
    """Decode a camera JPEG into uint8 ``[H, W, 3]`` RGB.

    Args:
        path: image file.
        frame_token: token of the frame, for error messages.
        draft_size: ``(W, H)``: allow a reduced-size JPEG decode (scale 1/2, 1/4, 1/8) that stays
            ``>= (W, H)``; ``None`` = full resolution (navsim behaviour).
        timer: optional stage timer (``read``, ``decode``, ``to_array``).

    Raises:
        SensorError: missing, unreadable or non-image file.
    """

    path = Path(path)
    try:
        t0 = time.perf_counter()
        data = path.read_bytes()
        t1 = time.perf_counter()
        with Image.open(io.BytesIO(data)) as img:
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", tuple(draft_size))
            img.load()
            if img.mode != "RGB":
                img = img.convert("RGB")
            t2 = time.perf_counter()
            array = np.array(img)  # writable copy, like navsim's np.array(Image.open(...))
        t3 = time.perf_counter()
    except FileNotFoundError as exc:
        raise SensorError(f"{path}: camera image of frame {frame_token} is missing") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise SensorError(f"{path}: cannot decode camera image of frame {frame_token}: {exc}") from exc
    if timer is not None:
        timer.add("read", t1 - t0)
        timer.add("decode", t2 - t1)
        timer.add("to_array", t3 - t2)
    return array


def load_lidar(path: str | os.PathLike[str], frame_token: str = "?", timer: SensorTimer | None = None) -> NDArray[np.float32]:
    """Read a MergedPointCloud PCD into float32 ``[6, N]`` (x, y, z, intensity, ring, lidar_id), ego frame.

    Raises:
        SensorError: missing or malformed file.
    """
    path = Path(path)
    t0 = time.perf_counter()
    try:
        points = parse_pcd(path.read_bytes(), str(path))
    except FileNotFoundError as exc:
        raise SensorError(f"{path}: LiDAR point cloud of frame {frame_token} is missing") from exc
    except (PCDError, OSError) as exc:
        raise SensorError(f"{path}: cannot read LiDAR point cloud of frame {frame_token}: {exc}") from exc
    if timer is not None:
        timer.add("lidar", time.perf_counter() - t0)
    return points
