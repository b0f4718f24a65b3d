"""Picklable toy tasks for the evaluation-runner tests (imported by spawned worker processes too)."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path


def toy_score(token: str, variant: str) -> float:
    return (zlib.crc32(f"{token}/{variant}".encode()) % 1000) / 1000.0


@dataclass
class ToyTask:
    variants: tuple[str, ...] = ("base", "fc")
    fail_tokens: frozenset[str] = frozenset()
    die_once_token: str | None = None  # kills its worker process the first time it is run
    die_always_token: str | None = None
    marker_dir: str | None = None
    setup_calls: list[int] = field(default_factory=list)
    report_threads: bool = False  # add the worker's torch / numba thread counts to every row

    def setup(self) -> None:
        self.setup_calls.append(os.getpid())

    def __call__(self, token: str) -> list[dict]:
        if token in self.fail_tokens:
            raise ValueError(f"bad scene {token}")
        if token == self.die_always_token:
            os._exit(3)
        if token == self.die_once_token and self.marker_dir is not None:
            marker = Path(self.marker_dir) / f"died_{token}"
            if not marker.exists():
                marker.write_text("x")
                os._exit(3)
        threads = {}
        if self.report_threads:
            import numba
            import torch

            threads = {"torch_threads": torch.get_num_threads(), "numba_threads": numba.get_num_threads()}
        rows = []
        for v in self.variants:
            s = toy_score(token, v)
            rows.append({
                "token": token, "variant": v, "no_at_fault_collisions": 1.0, "drivable_area_compliance": 1.0,
                "ego_progress": s, "time_to_collision_within_bound": 1.0, "comfort": 1.0,
                "driving_direction_compliance": 1.0, "score": s, "mode": "honest", "pid": os.getpid(),
                **threads,
            })
        return rows
