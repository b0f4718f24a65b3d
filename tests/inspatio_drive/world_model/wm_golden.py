"""Helpers for the tiny golden InSpatio-World run."""

from __future__ import annotations

from pathlib import Path

import torch

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "inspatio_tiny"


def golden_noise(golden: dict[str, torch.Tensor]):
    """Noise source replaying the stored initial noise and re-noising eps of the golden run."""

    def draw(block: int, step: int, shape, dtype, device) -> torch.Tensor:
        if step == 0:
            return golden["in.noise"][:, 3 * block : 3 * block + 3].to(dtype)
        return golden[f"block{block}.step{step - 1}.renoise_eps"].to(dtype)

    return draw


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max|ours - ref| / max|ref|."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return ((ours.double() - ref.double()).abs().max() / ref.double().abs().max()).item()
