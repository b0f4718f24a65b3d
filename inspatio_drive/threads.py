"""Compute-thread caps for torch and numba (one place for every process that must share cores)."""

from __future__ import annotations

import torch


def limit_threads(threads: int) -> None:
    """Cap this process's compute threads (torch intra-op, numba parallel kernels) at ``threads``.

    Parallel workers otherwise each start as many threads as the machine has cores; W workers then run
    W × cores spinning threads on ``cores`` cores, and the oversubscription slows parallel kernels (the numba
    z-buffer, torch reductions) by several times."""

    torch.set_num_threads(threads)
    try:
        import numba  # lazy: compiled kernels, compiled on first use
    except ImportError:
        return
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
