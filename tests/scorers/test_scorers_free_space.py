import numpy as np
import pytest
import shapely
import torch

from scorers.free_space import box_signed_distance, estimate_ground_z, free_space
from scorers.poses import interpolate_poses
from scorers.vehicle import PACIFICA, Footprint


def _straight(speed: float, T: int = 8, dt: float = 0.5, y: float = 0.0) -> torch.Tensor:
    t = dt * torch.arange(1, T + 1, dtype=torch.float64)
    return torch.stack([speed * t, torch.full_like(t, y), torch.zeros_like(t)], -1)


def test_pacifica_numbers():
    # nuplan get_pacifica_parameters: front 4.049, rear 1.127 from the rear axle
    assert PACIFICA.half_length + PACIFICA.rear_axle_to_center == pytest.approx(4.049, abs=1e-9)
    assert PACIFICA.half_length - PACIFICA.rear_axle_to_center == pytest.approx(1.127, abs=1e-9)
    with pytest.raises(ValueError):
        Footprint(length=-1.0)


@pytest.mark.parametrize("seed", range(3))
def test_signed_distance_matches_shapely(seed):
    rng = np.random.default_rng(seed)
    pose = torch.tensor([rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(-3, 3)], dtype=torch.float64)
    pts = torch.from_numpy(rng.uniform(-10, 10, size=(200, 2)))
    d = box_signed_distance(pts, pose).numpy()
    c, s = np.cos(pose[2].item()), np.sin(pose[2].item())
    cx, cy = (
        pose[0].item() + PACIFICA.rear_axle_to_center * c,
        pose[1].item() + PACIFICA.rear_axle_to_center * s,
    )
    corners = []
    for a, b in [(1, 1), (1, -1), (-1, -1), (-1, 1)]:
        lx, ly = a * PACIFICA.half_length, b * PACIFICA.half_width
        corners.append((cx + c * lx - s * ly, cy + s * lx + c * ly))
    poly = shapely.Polygon(corners)
    for p, dist in zip(pts.numpy(), d):
        point = shapely.Point(p)
        ref = -poly.exterior.distance(point) if poly.contains(point) else poly.distance(point)
        assert dist == pytest.approx(ref, abs=1e-9)


def test_interpolation_keeps_poses_and_wraps_heading():
    cand = torch.tensor([[[1.0, 0.0, 3.0], [2.0, 0.0, -3.0]]], dtype=torch.float64)
    out = interpolate_poses(cand, 2)
    assert out.shape == (1, 4, 3)
    torch.testing.assert_close(out[0, 1], cand[0, 0])
    # between 3.0 and -3.0 rad the short way passes through ±π, not 0
    assert abs(out[0, 2, 2].item()) > 3.0
    torch.testing.assert_close(interpolate_poses(cand, 1), cand)


def test_first_intrusion_time_and_clearance_straight_ahead():
    # one obstacle point 20 m ahead at 1 m height; ego drives straight at 4 m/s
    pts = torch.tensor(
        [[20.0, 0.0, 1.0], [20.0, 0.0, 0.05], [20.0, 0.0, 4.0]]
    )  # only the first is in the band
    res = free_space(_straight(4.0)[None], pts, substeps=4, method="exact")
    # the front bumper (rear axle + 4.049) reaches x = 20 at t = (20 - 4.049) / 4 = 3.98775 s → first sample after: 4.0
    assert res.first_intrusion_s.item() == pytest.approx(4.0)
    assert res.min_clearance.item() == pytest.approx(20.0 - 16.0 - 4.049)
    assert res.num_points == 1
    # slower: never reaches it; clearance = 20 - (2*4 + 4.049)
    slow = free_space(_straight(2.0)[None], pts, substeps=4, method="exact")
    assert torch.isinf(slow.first_intrusion_s).item()
    assert slow.min_clearance.item() == pytest.approx(20.0 - 8.0 - 4.049)


def test_vectorised_over_candidates_and_lateral_clearance():
    pts = torch.tensor([[10.0, 5.0, 1.0]])
    cands = torch.stack([_straight(3.0), _straight(3.0, y=2.0), _straight(3.0, y=5.0)])
    res = free_space(cands, pts, method="exact")
    assert res.min_clearance.shape == (3,)
    assert res.min_clearance[0].item() == pytest.approx(5.0 - PACIFICA.half_width)
    assert res.min_clearance[1].item() == pytest.approx(3.0 - PACIFICA.half_width)
    assert res.min_clearance[2].item() < 0  # drives through the point
    assert torch.isfinite(res.first_intrusion_s[2]) and torch.isinf(res.first_intrusion_s[:2]).all()
    # chunking over points does not change the result
    many = torch.cat(
        [pts, torch.rand(500, 3) * torch.tensor([40.0, 20.0, 2.0]) - torch.tensor([0.0, 10.0, 0.0])]
    )
    a = free_space(cands, many, method="exact")
    b = free_space(cands, many, method="exact", chunk_elems=50)
    torch.testing.assert_close(a.clearance, b.clearance)


def test_no_points_and_clipping():
    res = free_space(_straight(3.0)[None], torch.zeros(0, 3), max_clearance=7.5)
    assert res.min_clearance.item() == 7.5 and torch.isinf(res.first_intrusion_s).item()


def test_ground_estimate_and_band():
    rng = np.random.default_rng(0)
    ground = np.column_stack([rng.uniform(-15, 15, (2000, 2)), rng.normal(-1.8, 0.02, 2000)])
    pts = torch.from_numpy(ground)
    assert estimate_ground_z(pts) == pytest.approx(-1.8, abs=0.05)
    # ground points never count as obstacles once the ground is estimated
    res = free_space(_straight(3.0)[None], pts, ground_z=None)
    assert res.num_points == 0


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"\[K, T, 3\]"):
        free_space(torch.zeros(8, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="points"):
        free_space(torch.zeros(1, 8, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        free_space(torch.full((1, 8, 3), float("nan")), torch.zeros(1, 3))


@pytest.mark.parametrize("seed", range(3))
def test_grid_method_matches_exact(seed):
    rng = np.random.default_rng(seed)
    K = 12
    speed = rng.uniform(1, 10, (K, 1))
    curv = rng.uniform(-0.08, 0.08, (K, 1))
    t = 0.5 * np.arange(1, 9)[None]
    cands = torch.from_numpy(np.stack([speed * t, 0.5 * curv * (speed * t) ** 2, curv * speed * t], -1))
    pts = torch.from_numpy(
        np.column_stack([rng.uniform(-5, 45, 3000), rng.uniform(-15, 15, 3000), rng.uniform(0.3, 2, 3000)])
    )
    exact = free_space(cands, pts, method="exact")
    grid = free_space(cands, pts, method="grid", grid_resolution=0.1)
    err = (grid.clearance - exact.clearance).abs()
    assert err.max().item() < 0.2  # documented bound: 2 · grid_resolution
    assert err.mean().item() < 0.05
    # intrusion decisions agree except where the exact clearance is within the grid error of zero
    sure = exact.clearance.abs() > 0.2
    assert ((grid.clearance < 0) == (exact.clearance < 0))[sure].all()
    with pytest.raises(ValueError, match="method"):
        free_space(cands, pts, method="nope")


def test_bev_picture(tmp_path):
    from inspatio_drive.commands.figures import scorers_figure
    from scorers.viz import demo_scene, plot_candidates_bev

    cands, pts = demo_scene()
    res = free_space(cands, pts)
    assert torch.isfinite(res.first_intrusion_s).any() and torch.isinf(res.first_intrusion_s).any()
    out = plot_candidates_bev(cands, pts, res, tmp_path / "bev.png", fc_prob=torch.rand(cands.shape[0]))
    assert out.stat().st_size > 5000
    scorers_figure(tmp_path / "demo.png")
    assert (tmp_path / "demo.png").stat().st_size > 5000


def test_own_returns_are_excluded():
    own = torch.tensor([[1.0, 0.5, 1.0], [3.9, 0.0, 0.8]])  # inside the ego box at t = 0
    res = free_space(_straight(3.0)[None], own)
    assert res.num_points == 0 and torch.isinf(res.first_intrusion_s).item()
    kept = free_space(_straight(3.0)[None], own, exclude_ego_margin=None, method="exact")
    assert kept.num_points == 2 and kept.first_intrusion_s.item() == 0.25
