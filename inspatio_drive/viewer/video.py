"""H.264 mp4 writing/reading through PyAV (what Chromium plays: yuv420p, even sizes, faststart)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _even(frames: np.ndarray) -> np.ndarray:
    """Crop ``[T, H, W, 3]`` to even H and W (yuv420p needs them)."""
    _, h, w, _ = frames.shape
    return frames[:, : h - h % 2, : w - w % 2]


def write_mp4(frames: np.ndarray, path: str | Path, fps: float = 10.0, crf: int = 20) -> Path:
    """Write ``frames`` uint8 ``[T, H, W, 3]`` RGB as an H.264 mp4 (yuv420p, ``+faststart``).

    Frame ``i`` is shown from ``i / fps`` to ``(i + 1) / fps`` seconds. Odd sizes are cropped by one pixel.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_mp4({path}): expected uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] < 2 or frames.shape[2] < 2:
        raise ValueError(f"write_mp4({path}): empty video {frames.shape}")
    frames = _even(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode())
    return path


def read_mp4(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode an mp4 → (uint8 ``[T, H, W, 3]`` RGB, fps)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"read_mp4({path}): no video frames")
    return np.stack(frames), fps
