"""Floor on the renderer's fidelity against the sandbox oracle (issue 3 deliverable 3)."""

import numpy as np
import pytest
import torch

from inspatio_drive.render.fidelity import PERTURBATIONS, perturb, sandbox_fidelity
from inspatio_drive.render.metrics import coverage, masked_psnr, masked_ssim

pytest.importorskip("embreex")


@pytest.fixture(scope="module")
def fidelity():
    from inspatio_drive.sandbox import LidarModel, Oracle, RenderConfig, generate_scene

    world = generate_scene("lead_vehicle_braking", 3, num_frames=14, density=0.5)
    oracle = Oracle(world, RenderConfig(96, 54, LidarModel(channels=32, azimuths=720), texture_res=0.25))
    return sandbox_fidelity(oracle, 1.5, ["logged", "left_1.5m"], splat=2, hole_fill=1)


def test_fidelity_floor_against_the_oracle(fidelity):
    """Measured (96×54, 32-beam LiDAR, splat 2, 1 hole-fill pass): logged 0.5 s = 17.9 dB / SSIM 0.51 /
    coverage 0.73 / depth AbsRel 0.056; 4 s = 14.8 dB / 0.33 / 0.22. Floors leave ~10 % margin."""
    rows = {(r["trajectory"], r["t"]): r for r in fidelity.table()}
    for name in ("logged", "left_1.5m"):
        near, far = rows[(name, 0.5)], rows[(name, 4.0)]
        assert near["psnr"] > 16.0 and near["ssim"] > 0.45 and near["coverage"] > 0.65
        assert far["psnr"] > 13.0 and far["ssim"] > 0.28 and far["coverage"] > 0.18
        assert near["depth_absrel"] < 0.07
        assert near["coverage"] > far["coverage"]  # the cloud covers less of the view as the car drives away
    assert fidelity.meta["dynamic_mode"] == "privileged"


def test_metrics_on_known_images():
    ref = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    valid = torch.ones(2, 32, 32, dtype=torch.bool)
    valid[1, :, 16:] = False
    assert torch.isinf(masked_psnr(ref, ref, valid)).all() or (masked_psnr(ref, ref, valid) > 100).all()
    torch.testing.assert_close(masked_ssim(ref, ref, valid), torch.ones(2, dtype=torch.float64))
    noisy = (ref.int() + 10).clamp(0, 255).to(torch.uint8)
    p = masked_psnr(noisy, ref, valid)
    assert 25 < float(p[0]) < 29  # ≈ 28 dB for +10 (clipped near white)
    bad = ref.clone()
    bad[1, :, 16:] = 0  # errors only where the render is not valid: ignored
    torch.testing.assert_close(masked_ssim(bad, ref, valid)[1], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(coverage(valid), torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert torch.isnan(masked_psnr(ref, ref, torch.zeros_like(valid))).all()


def test_perturbations():
    logged = np.stack([np.arange(1, 9) * 4.0, np.zeros(8), np.zeros(8)], -1)
    np.testing.assert_allclose(perturb(logged, *PERTURBATIONS["logged"]), logged)
    left = perturb(logged, *PERTURBATIONS["left_1.5m"])
    np.testing.assert_allclose(left[-1], [32.0, 1.5, 0.0])
    slow = perturb(logged, *PERTURBATIONS["slower_30%"])
    np.testing.assert_allclose(slow[:, 0], 0.7 * logged[:, 0])
