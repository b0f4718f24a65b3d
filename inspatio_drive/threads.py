"""Compute-thread caps for torch and numba (one place for every process that must share cores), and the status
line of a slow phase (a timer thread)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

STATUS_AFTER_S = 1.0
"""A phase that lasts longer than this (seconds) gets its :func:`status_line`."""


@contextmanager
def status_line(on: bool, text: str, after_s: float | None = None) -> Iterator[None]:
    """Print ``text`` (e.g. ``evaluate: loading the planner ...``) on stderr once the ``with`` body has run for
    ``after_s`` seconds (default :data:`STATUS_AFTER_S`); a quick phase (or one that fails at once on a user error)
    prints nothing. ``on=False``: never."""
    delay = STATUS_AFTER_S if after_s is None else after_s
    timer = threading.Timer(delay, lambda: print(text, file=sys.stderr, flush=True))
    timer.daemon = True
    if on:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()


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
