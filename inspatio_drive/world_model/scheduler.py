"""The 4-step distilled flow-matching sampler of InSpatio-World (Self-Forcing / DMD style, no CFG).

Sigma table (``FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True)`` over 1000 training steps)::

    s_i = linspace(1, 0, 1001)[:-1][i]          (float32)
    sigma_i = shift·s_i / (1 + (shift - 1)·s_i)
    timestep_i = 1000·sigma_i

With ``warp_denoising_step`` the configured steps [1000, 750, 500, 250] select ``timestep[1000 - step]``,
i.e. timesteps [1000, 937.5, 833.33, 625] and sigmas [1, 0.9375, 0.8333, 0.625]. The model predicts the
flow ``v``; ``x0 = x_t - σ·v`` (float64 arithmetic), and between steps the latent is re-noised
``x_t' = (1 - σ')·x0 + σ'·ε`` with fresh Gaussian ``ε``. The result is the x0 of the last step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def flow_sigma_table(
    num_train_timesteps: int = 1000, shift: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigmas, timesteps), each [num_train_timesteps] float32, from σ = 1 (index 0) downwards."""
    s = torch.linspace(1.0, 0.0, num_train_timesteps + 1, dtype=torch.float32)[:-1]
    sigmas = shift * s / (1 + (shift - 1) * s)
    return sigmas, sigmas * num_train_timesteps


@dataclass(frozen=True)
class DistilledSampler:
    """Timesteps and sigmas of the distilled sampler.

    Attributes:
        denoising_step_list: configured steps (official ``[1000, 750, 500, 250]``).
        shift: flow-matching shift (official wrapper default 5.0; the yaml value is not read).
        num_train_timesteps: length of the training schedule.
        warp_denoising_step: map each step ``k`` to ``timesteps[num_train_timesteps - k]`` (official: on).
    """

    denoising_step_list: tuple[float, ...] = (1000, 750, 500, 250)
    shift: float = 5.0
    num_train_timesteps: int = 1000
    warp_denoising_step: bool = True

    def __post_init__(self) -> None:
        if not self.denoising_step_list:
            raise ValueError("denoising_step_list must not be empty")
        for k in self.denoising_step_list:
            if not 0 < k <= self.num_train_timesteps:
                raise ValueError(f"denoising step {k} outside (0, {self.num_train_timesteps}]")

    @classmethod
    def from_steps(cls, steps: Sequence[float], **kwargs: object) -> DistilledSampler:
        return cls(denoising_step_list=tuple(float(s) for s in steps), **kwargs)  # type: ignore[arg-type]

    def timesteps(self) -> torch.Tensor:
        """[S] float32 model timesteps, one per denoising step."""
        steps = torch.tensor(self.denoising_step_list, dtype=torch.float32)
        if not self.warp_denoising_step:
            return steps
        _, table = flow_sigma_table(self.num_train_timesteps, self.shift)
        return table[(self.num_train_timesteps - steps).long()]

    def sigmas(self) -> torch.Tensor:
        """[S] float32 noise levels σ of the steps (the table entry nearest each timestep)."""
        sig_table, t_table = flow_sigma_table(self.num_train_timesteps, self.shift)
        idx = (t_table[None, :] - self.timesteps()[:, None]).abs().argmin(dim=1)
        return sig_table[idx]


def flow_to_x0(x_t: torch.Tensor, flow: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """``x0 = x_t - σ·v`` computed in float64, returned in the dtype of ``x_t`` (any shape)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64, device=x_t.device)
    return (x_t.double() - sigma * flow.double()).to(x_t.dtype)


def renoise(x0: torch.Tensor, eps: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """``(1 - σ)·x0 + σ·ε`` in the dtype of ``x0``."""
    sigma = torch.as_tensor(sigma, dtype=x0.dtype, device=x0.device)
    return (1 - sigma) * x0 + sigma * eps.to(x0.dtype)
