"""The installed-DrivoR wrapper: clear error when absent, same protocol around the official objects."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from inspatio_drive.data.types import AgentInput, Camera, EgoStatus, Lidar
from planners.drivor.installed import InstalledDrivoRPlanner, import_official
from planners.protocol import Planner


def test_absent_official_code_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "navsim", None)  # import navsim -> ImportError
    with pytest.raises(ImportError, match="pip install -e DrivoR"):
        import_official()
    with pytest.raises(ImportError, match="DrivoRPlanner"):
        InstalledDrivoRPlanner.from_config({"image_size": [224, 126]}, "missing.ckpt")


def _agent_input(golden_io, b: int) -> AgentInput:
    u8 = golden_io["in.image_uint8_hwc"].numpy()[b]
    cams = {
        n: Camera(n, u8[c], np.eye(3), np.eye(3), np.zeros(3))
        for c, n in enumerate(("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0"))
    }
    ego = golden_io["in.ego_status"][b].numpy()
    statuses = [EgoStatus(r[:3].astype(float), r[3:5], r[5:7], r[7:11]) for r in ego]
    return AgentInput(statuses, [cams] * 4, [Lidar(None)] * 4)


def test_fake_installed_agent_round_trip(monkeypatch, tmp_path, golden_model, golden_io):
    """A fake ``navsim.agents.drivoR.drivor_agent`` whose agent wraps the golden model (same output dict)."""
    created = {}

    class FakeAgent(torch.nn.Module):
        def __init__(self, config, lr_args, checkpoint_path):
            super().__init__()
            created.update(config=config, checkpoint_path=checkpoint_path)
            self._drivor_model = golden_model
            self.initialized = False

        def initialize(self):
            self.initialized = True

        def forward(self, features):
            return self._drivor_model(features)

    mod = types.ModuleType("navsim.agents.drivoR.drivor_agent")
    mod.DrivoRAgent = FakeAgent
    for name in ("navsim", "navsim.agents", "navsim.agents.drivoR"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "navsim.agents.drivoR.drivor_agent", mod)
    ckpt = tmp_path / "Nav1_25epochs.pth"
    ckpt.write_bytes(b"x")
    cfg = {"image_size": [224, 126], "cam_f0": [3], "cam_l0": [3], "cam_r0": [3], "cam_b0": [3], "cam_l1": []}
    planner = InstalledDrivoRPlanner.from_config(cfg, ckpt)
    assert isinstance(planner, Planner) and planner.model.initialized
    assert planner.cameras == ("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0") and created["checkpoint_path"] == str(
        ckpt
    )
    cands = planner.propose(_agent_input(golden_io, 1))
    torch.testing.assert_close(cands.poses, golden_io["out.proposals"][1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        cands.logits["NC"], golden_io["out.pred_logit.no_at_fault_collisions"][1], rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(
        cands.extras["official_trajectory"], golden_io["out.trajectory_v1"][1], rtol=1e-4, atol=1e-4
    )
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        InstalledDrivoRPlanner.from_config(cfg, tmp_path / "nope.ckpt")


def test_wrap_needs_forward():
    with pytest.raises(TypeError, match="no forward"):
        InstalledDrivoRPlanner(object())
