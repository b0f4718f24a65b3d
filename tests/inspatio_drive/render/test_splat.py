import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inspatio_drive.render.splat import (
    EMPTY_KEY,
    fill_holes,
    frustum_cull,
    pack_keys,
    project,
    unpack_keys,
    zbuffer_keys,
    zbuffer_world,
)

K = torch.tensor([[50.0, 0, 15.5], [0, 50.0, 11.5], [0, 0, 1]])  # 32 × 24 image


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0625, 8192.0, width=32), st.integers(0, 2**31 - 1)), min_size=2, max_size=20
    )
)
def test_packed_keys_order_by_depth_then_index_and_round_trip(pairs):
    depth = torch.tensor([p[0] for p in pairs], dtype=torch.float32)
    index = torch.tensor([p[1] for p in pairs], dtype=torch.int64)
    keys = pack_keys(depth, index)
    d, i, v = unpack_keys(keys)
    torch.testing.assert_close(d, depth)
    assert torch.equal(i.long(), index) and bool(v.all())
    order = sorted(range(len(pairs)), key=lambda j: (depth[j].item(), index[j].item()))
    assert torch.argmin(keys).item() == order[0]
    assert bool((keys < EMPTY_KEY).all())
    d, i, v = unpack_keys(torch.full((2,), EMPTY_KEY))
    assert torch.isinf(d).all() and (i == -1).all() and not v.any()


def test_projection_matches_pinhole_and_culls_depth():
    pts = torch.tensor([[1.0, -0.5, 10.0], [0.0, 0.0, 0.05], [0.0, 0.0, -3.0]])
    u, v, z = project(pts, K, near=0.1, far=100.0)
    assert u[0].item() == pytest.approx(15.5 + 5.0) and v[0].item() == pytest.approx(11.5 - 2.5)
    assert z[0].item() == 10.0 and torch.isinf(z[1:]).all()


def test_nearest_point_wins_regardless_of_order():
    # two points on the same ray: the near one must win whichever comes first
    pts = torch.tensor([[[0.0, 0.0, 20.0], [0.0, 0.0, 5.0], [0.0, 0.0, 9.0]]])
    for perm in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        keys = zbuffer_keys(pts[:, perm], K[None], (32, 24), point_ids=torch.tensor(perm))
        d, i, v = unpack_keys(keys)
        assert v.sum() == 1
        assert d[v].tolist() == [5.0] and i[v].tolist() == [1]


def _wall_and_background(spacing: float):
    """A dense near wall at z = 5 covering the image and a far plane at z = 30 behind it."""
    a = torch.arange(-3.0, 3.0, spacing)
    y, x = torch.meshgrid(a, a, indexing="ij")
    wall = torch.stack([x.ravel(), y.ravel(), torch.full_like(x.ravel(), 5.0)], -1)
    b = torch.arange(-20.0, 20.0, 0.5)
    y, x = torch.meshgrid(b, b, indexing="ij")
    far = torch.stack([x.ravel(), y.ravel(), torch.full_like(x.ravel(), 30.0)], -1)
    return torch.cat([far, wall]), len(far)


@pytest.mark.parametrize("splat", [1, 2, 3])
def test_no_bleed_through_of_far_points_behind_a_dense_surface(splat):
    pts, n_far = _wall_and_background(0.05)  # 0.05 m at 5 m = 0.5 px: dense
    keys = zbuffer_keys(pts[None], K[None], (32, 24), splat=splat)
    d, i, v = unpack_keys(keys)
    inner = (slice(None), slice(2, 22), slice(2, 30))
    assert bool(v[inner].all())
    assert bool((i[inner] >= n_far).all())  # only wall points visible
    torch.testing.assert_close(d[inner], torch.full_like(d[inner], 5.0))


def test_splat_size_grows_coverage_and_keeps_nearest():
    pts = torch.tensor([[[0.1, 0.0, 10.0], [0.2, 0.0, 4.0]]])  # u = 16 and 18, v = 11.5
    cover = []
    for s in (1, 2, 3, 5):
        _d, i, v = unpack_keys(zbuffer_keys(pts, K[None], (32, 24), splat=s))
        cover.append(int(v.sum()))
        if s >= 3:
            assert i[0, 12, 17].item() == 1  # overlap region: the nearer point wins
    assert cover == [2, 8, 15, 35]


def test_points_outside_the_image_whose_splat_overlaps_it_are_drawn():
    pts = torch.tensor([[[-(15.5 + 1.0) / 50 * 10, 0.0, 10.0]]])  # u = −1
    assert int(unpack_keys(zbuffer_keys(pts, K[None], (32, 24), splat=1))[2].sum()) == 0
    assert int(unpack_keys(zbuffer_keys(pts, K[None], (32, 24), splat=3))[2].sum()) == 3


def test_fill_holes_fills_only_empty_pixels_with_the_nearest_neighbour():
    keys = torch.full((1, 5, 5), EMPTY_KEY)
    keys[0, 2, 1] = pack_keys(torch.tensor(3.0), torch.tensor(7))
    keys[0, 2, 3] = pack_keys(torch.tensor(9.0), torch.tensor(8))
    out = fill_holes(keys, 1)
    _d, i, v = unpack_keys(out)
    assert i[0, 2, 2].item() == 7  # between both: the nearer wins
    assert i[0, 2, 3].item() == 8  # existing pixels never change
    assert int(v.sum()) == 15
    assert int(unpack_keys(fill_holes(keys, 3))[2].sum()) == 25


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.6), st.floats(0.0, 3.0))
def test_frustum_culling_never_changes_the_image(seed, yaw_spread, shift):
    g = torch.Generator().manual_seed(seed)
    xyz = (torch.rand(3000, 3, generator=g) - 0.5) * torch.tensor([60.0, 60.0, 6.0])
    yaw = (torch.rand(6, generator=g, dtype=torch.float64) - 0.5) * yaw_spread
    # cameras looking along +x from around the origin (OpenCV axes)
    c, s = torch.cos(yaw), torch.sin(yaw)
    r_world_cam = torch.zeros(6, 3, 3, dtype=torch.float64)
    r_world_cam[:, :, 2] = torch.stack([c, s, torch.zeros_like(c)], -1)
    r_world_cam[:, :, 0] = torch.stack([s, -c, torch.zeros_like(c)], -1)
    r_world_cam[:, 2, 1] = -1.0
    centres = torch.rand(6, 3, generator=g, dtype=torch.float64) * shift
    t = torch.eye(4, dtype=torch.float64).repeat(6, 1, 1)
    t[:, :3, :3] = r_world_cam.transpose(1, 2)
    t[:, :3, 3] = -(r_world_cam.transpose(1, 2) @ centres[..., None])[..., 0]
    k = K.expand(6, 3, 3)
    culled = zbuffer_world(xyz, t, k, (32, 24), splat=2, cull=True)
    full = zbuffer_world(xyz, t, k, (32, 24), splat=2, cull=False)
    assert torch.equal(culled, full)
    assert len(frustum_cull(xyz, t, k, (32, 24))) < len(xyz)


def test_world_and_camera_paths_agree():
    xyz = torch.tensor(np.random.default_rng(0).uniform(-5, 5, (500, 3)), dtype=torch.float32) + torch.tensor(
        [0, 0, 8.0]
    )
    t = torch.eye(4, dtype=torch.float64)[None]
    a = zbuffer_world(xyz, t, K[None], (32, 24), cull=False)
    b = zbuffer_keys(xyz[None], K[None], (32, 24))
    assert torch.equal(a, b)
