"""The numba z-buffer gives the torch path's keys bit for bit (and the renderer's outputs)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from inspatio_drive.geometry import nuplan_like_rig
from inspatio_drive.render import ColoredPoints, RenderCameras, render_candidates
from inspatio_drive.render.renderer import render_views, resolve_backend
from inspatio_drive.render.splat import EMPTY_KEY, zbuffer_world
from inspatio_drive.render.splat_numba import HAVE_NUMBA, zbuffer_world_numba
from inspatio_drive.render.types import STATIC

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

SIZE = (32, 24)


def _views(rng: np.random.Generator, v: int) -> torch.Tensor:
    """``[v, 4, 4]`` float64 world→camera transforms: random rotations, small translations."""
    t = torch.eye(4, dtype=torch.float64).repeat(v, 1, 1)
    t[:, :3, :3] = torch.as_tensor(Rotation.from_rotvec(rng.normal(0, 0.8, (v, 3))).as_matrix())
    t[:, :3, 3] = torch.as_tensor(rng.uniform(-1, 1, (v, 3)))
    return t


def _intrinsics(rng: np.random.Generator, v: int, skew: bool) -> torch.Tensor:
    k = torch.zeros(v, 3, 3)
    k[:, 0, 0] = torch.as_tensor(rng.uniform(20, 60, v), dtype=torch.float32)
    k[:, 1, 1] = torch.as_tensor(rng.uniform(20, 60, v), dtype=torch.float32)
    k[:, 0, 2] = torch.as_tensor(rng.uniform(10, 22, v), dtype=torch.float32)
    k[:, 1, 2] = torch.as_tensor(rng.uniform(8, 16, v), dtype=torch.float32)
    k[:, 0, 1] = torch.as_tensor(rng.uniform(-2, 2, v), dtype=torch.float32) if skew else 0.0
    k[:, 2, 2] = 1.0
    return k


@pytest.mark.parametrize("splat", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_numba_keys_equal_torch_keys(splat, seed):
    rng = np.random.default_rng(seed)
    xyz = torch.as_tensor(rng.uniform(-12, 12, (6000, 3)), dtype=torch.float32)
    xyz[:50] = xyz[50:100]  # exact duplicates: ties resolved by the lower index
    t, k = _views(rng, 7), _intrinsics(rng, 7, skew=seed == 1)
    ref = zbuffer_world(xyz, t, k, SIZE, splat=splat, near=0.5, far=9.0, cull=False)
    out = zbuffer_world_numba(xyz, t, k, SIZE, splat=splat, near=0.5, far=9.0)
    assert out.dtype == torch.int64 and out.shape == (7, SIZE[1], SIZE[0])
    assert int((ref != EMPTY_KEY).sum()) > 200  # the views see something
    assert torch.equal(out, ref)


@pytest.mark.parametrize("splat", [1, 3])
def test_near_far_edges_and_off_image_points(splat):
    near, far = 0.1, 50.0
    # points exactly at the float32 near / far planes (kept), one ulp outside (dropped), and off the image
    zs = [
        np.float32(near),
        np.nextafter(np.float32(near), np.float32(0)),
        np.float32(far),
        np.nextafter(np.float32(far), np.float32(100)),
        3.0,
        3.0,
        3.0,
        3.0,
    ]
    xy = [(0, 0), (0, 0), (1, 1), (1, 1), (-2.7, 0.0), (2.7, 0.0), (0.0, 2.1), (50.0, -50.0)]
    xyz = torch.tensor([[x, y, z] for (x, y), z in zip(xy, zs, strict=True)], dtype=torch.float32)
    t = torch.eye(4, dtype=torch.float64)[None]
    k = torch.tensor([[[16.0, 0, 15.5], [0, 16.0, 11.5], [0, 0, 1]]])
    ref = zbuffer_world(xyz, t, k, SIZE, splat=splat, near=near, far=far, cull=False)
    out = zbuffer_world_numba(xyz, t, k, SIZE, splat=splat, near=near, far=far)
    assert torch.equal(out, ref)
    ids = set((out & 0xFFFFFFFF)[out != EMPTY_KEY].tolist())
    assert 0 in ids and 2 in ids and 1 not in ids and 3 not in ids and 7 not in ids


def _points(xyz):
    xyz = torch.as_tensor(xyz, dtype=torch.float32)
    rgb = torch.as_tensor(np.random.default_rng(5).integers(0, 256, (len(xyz), 3)), dtype=torch.uint8)
    return ColoredPoints(xyz, rgb, torch.full((len(xyz),), STATIC))


@pytest.mark.parametrize(("splat", "hole_fill"), [(1, 0), (2, 0), (3, 1)])
def test_render_candidates_numba_equals_torch(splat, hole_fill):
    rng = np.random.default_rng(7)
    pts = _points(rng.uniform(-25, 25, (5000, 3)))
    traj = torch.tensor(rng.uniform(-2, 2, (5, 3, 3)))
    traj[..., 0] += 6.0
    rig = RenderCameras.from_rig(
        nuplan_like_rig(1920, 1080, ("CAM_F0", "CAM_L0", "CAM_R0", "CAM_B0")), (1920, 1080)
    ).resized((64, 36))
    a = render_candidates(pts, traj, rig, splat=splat, hole_fill=hole_fill, backend="numba", cull=False)
    b = render_candidates(pts, traj, rig, splat=splat, hole_fill=hole_fill, backend="torch", cull=False)
    assert a.meta["backend"] == "numba" and b.meta["backend"] == "torch"
    assert float(a.coverage().mean()) > 0.05
    for name in ("valid", "depth", "point_index", "rgb"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    lean = render_candidates(
        pts, traj, rig, splat=splat, hole_fill=hole_fill, outputs=("depth",), backend="numba"
    )
    assert lean.rgb is None and torch.equal(lean.depth, a.depth) and torch.equal(lean.valid, a.valid)


def test_backend_choice():
    assert resolve_backend("auto", torch.device("cpu")) == "numba"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("jax", torch.device("cpu"))
    with pytest.raises(ValueError, match="CPU only"):
        resolve_backend("numba", torch.device("cuda"))
    xyz = torch.zeros(0, 3)
    keys = render_views(xyz, torch.eye(4)[None], torch.eye(3)[None], SIZE, backend="numba")
    assert bool((keys == EMPTY_KEY).all())


@pytest.mark.parametrize("nbytes", [1000, 40 << 20])
def test_empty_cpu_gives_writable_contiguous_tensors(nbytes):
    from inspatio_drive.render.alloc import empty_cpu

    t = empty_cpu((nbytes // 4,), torch.float32)
    assert t.shape == (nbytes // 4,) and t.dtype == torch.float32 and t.is_contiguous()
    t.fill_(3.0)
    t[-1] = 7.0
    assert float(t[0]) == 3.0 and float(t[-1]) == 7.0
    u = empty_cpu((2, 3, 4), torch.uint8)
    assert u.shape == (2, 3, 4)


def test_moving_objects_numba_equals_torch(small_street):
    from inspatio_drive.render import build_point_cloud

    street, agent_input = small_street
    pc = build_point_cloud(agent_input, voxel_size=0.2, tracks=street.tracks(np.arange(-3, 9) * 0.5))
    assert bool((pc.instance >= 0).any())  # the scene's car moves with its track
    rig = RenderCameras.from_rig(nuplan_like_rig(1920, 1080, ("CAM_F0", "CAM_B0")), (1920, 1080)).resized(
        (80, 45)
    )
    traj = torch.tensor([[[3.0, 0.0, 0.0], [6.0, 0.2, 0.05], [9.0, 0.5, 0.1]]], dtype=torch.float64).repeat(
        2, 1, 1
    )
    traj[1, :, 1] *= -1
    a = render_candidates(pc, traj, rig, splat=2, dynamic_mode="privileged", backend="numba")
    b = render_candidates(pc, traj, rig, splat=2, dynamic_mode="privileged", backend="torch", cull=False)
    for name in ("valid", "depth", "point_index", "rgb"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
