"""Large CPU output tensors backed by transparent huge pages.

The renderer's outputs for the DrivoR workload are ~3 GB per scene; with 4 KiB pages, the first write
to a fresh ``torch.empty`` costs one page fault per 4 KiB (≈ 0.8 s per scene on 2 cores, more than
the z-buffer itself). An anonymous private mapping advised ``MADV_HUGEPAGE`` faults 2 MiB at a time.
Falls back to ``torch.empty`` where ``mmap.MADV_HUGEPAGE`` does not exist (non-Linux) or for small sizes.
"""

from __future__ import annotations

import math
import mmap

import torch

HUGE_MIN_BYTES = 32 << 20  # below this, torch.empty


def empty_cpu(shape: tuple[int, ...], dtype: torch.dtype, huge_pages: bool = True) -> torch.Tensor:
    """Uninitialised contiguous CPU tensor of ``shape`` / ``dtype`` (huge-page backed when large)."""
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if not huge_pages or advice is None or nbytes < HUGE_MIN_BYTES or not flags:
        return torch.empty(shape, dtype=dtype)
    try:
        buf = mmap.mmap(-1, nbytes, flags=flags)
        buf.madvise(advice)
    except (OSError, ValueError):  # pragma: no cover - kernel without THP support
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(buf, dtype=dtype).view(shape)  # the tensor keeps `buf` alive
