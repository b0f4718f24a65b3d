"""Distillation to the 4-step sampler by ODE regression against a frozen teacher (CausVid / Self-Forcing's
"ODE initialisation"), in the same teacher-forced block layout as :mod:`.jdmd`.

For every block sample the frozen teacher integrates the flow ODE ``dx/dσ = v(x, σ)`` from pure noise ε (σ = 1)
to σ = 0 with ``ode_steps`` Euler steps on the shifted grid, which also passes through the sampler's own σ_k.
The student sees ``x_{σ_k}`` of that trajectory at a random sampler step k and regresses the teacher's end
point: target flow ``(x_{σ_k} - x0_teacher) / σ_k``, so its one-step ``x0 = x_t - σ_k·v̂`` jumps to where the
teacher's many steps lead. The condition, context and text are the teacher's.
"""

from __future__ import annotations

import itertools

import torch

from ..model import CausalWanDiT
from .jdmd import BlockGroup, JDMDObjective, teacher_forced_groups, valid_weight


def ode_sigma_grid(ode_steps: int, sampler_sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """Decreasing σ grid from 1 to 0: ``ode_steps`` shifted steps plus every sampler σ."""
    s = torch.linspace(1.0, 0.0, ode_steps + 1, dtype=torch.float64)
    grid = shift * s / (1 + (shift - 1) * s)
    return torch.unique(torch.cat([grid, sampler_sigmas.double()])).flip(0)


class ODEDistillObjective(JDMDObjective):
    """Student = ``dit`` (trained); ``teacher`` frozen (no gradients, eval mode, not a registered submodule so
    DDP and the EMA see only the student).

    Args:
        ode_steps: Euler steps of the teacher's ODE.
        Others: as :class:`~.jdmd.JDMDObjective` (``lambda_ctrl`` weighs the same valid-region term).
    """

    def __init__(self, dit: CausalWanDiT, teacher: CausalWanDiT, ode_steps: int = 16, **kwargs: object) -> None:
        super().__init__(dit, **kwargs)  # type: ignore[arg-type]
        self.__dict__["teacher"] = teacher.eval().requires_grad_(False)
        self.ode_steps = int(ode_steps)

    @torch.no_grad()
    def teacher_trajectory(
        self, group: BlockGroup, text: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(states at the sampler σ's [S, N, 3, C, h, w], teacher x0 [N, 3, C, h, w])."""
        teacher: CausalWanDiT = self.__dict__["teacher"]
        helper = JDMDObjective(teacher, context_grad=False)
        text_kv = teacher.text_kv(text)
        cache = helper.context_pass(group, text_kv)
        sampler_sig = self.sampler.sigmas()
        grid = ode_sigma_grid(self.ode_steps, sampler_sig, self.shift)
        x = torch.randn(group.clean.shape, generator=generator).to(group.clean.device)
        n = x.shape[0]
        states = {}
        for a, b in itertools.pairwise(grid.tolist()):
            for k, s in enumerate(sampler_sig.double()):
                if abs(float(a) - float(s)) < 1e-9:
                    states[k] = x.clone()
            v = helper.predict_flow(group, x, torch.full((n,), float(a), device=x.device), text_kv, cache)
            x = x + (float(b) - float(a)) * v
        return torch.stack([states[k] for k in range(len(sampler_sig))]), x

    def forward(  # type: ignore[override]
        self,
        ref: torch.Tensor,
        target: torch.Tensor,
        cond: torch.Tensor,
        text: torch.Tensor,
        is_v2v: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """ODE-regression loss of one batch (same arguments and outputs as :meth:`JDMDObjective.forward`;
        ``target`` only provides the clean previous block of the context)."""
        sig_table = self.sampler.sigmas().to(target.device)
        se_sum = torch.zeros((), device=target.device)
        count = 0
        ctrl_num = torch.zeros((), device=target.device)
        ctrl_den = torch.zeros((), device=target.device)
        for group in teacher_forced_groups(ref, target, cond):
            states, x0_teacher = self.teacher_trajectory(group, text[group.sample], generator)
            n = x0_teacher.shape[0]
            k = torch.randint(len(sig_table), (n,), generator=generator).to(target.device)
            sigma = sig_table[k]
            x_t = states[k, torch.arange(n, device=target.device)]
            text_kv = self.dit.text_kv(text[group.sample])
            cache = self.context_pass(group, text_kv)
            flow = self.predict_flow(group, x_t, sigma, text_kv, cache)
            goal = (x_t - x0_teacher) / sigma.view(n, 1, 1, 1, 1)
            err = (flow - goal).pow(2).mean(dim=2)
            se_sum = se_sum + err.sum()
            count += err.numel()
            w = valid_weight(group.cond.float()) * is_v2v[group.sample].to(err.dtype).view(n, 1, 1, 1)
            ctrl_num = ctrl_num + (w * err).sum()
            ctrl_den = ctrl_den + w.sum()
        vis = se_sum / count
        ctrl = ctrl_num / ctrl_den.clamp_min(1e-6)
        return {"loss": vis + self.lambda_ctrl * ctrl, "vis": vis.detach(), "ctrl": ctrl.detach()}
