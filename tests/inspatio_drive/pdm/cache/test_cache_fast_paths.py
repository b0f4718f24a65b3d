"""Fast paths of the metric-cache builder equal their reference forms exactly."""

from __future__ import annotations

import numpy as np

from inspatio_drive.pdm.cache.path import PathBundle, ProposalPath, parallel_path


def _curvy_path(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0.0, 0.08, n)) + 3.0  # crosses ±π: exercises the unwrap / wrap
    step = rng.uniform(0.2, 1.0, n)
    step[n // 3] = 0.0  # a duplicated joint vertex (zero-length segment)
    xy = np.cumsum(np.stack([np.cos(heading) * step, np.sin(heading) * step], axis=1), axis=0)
    return np.column_stack([xy, heading])


def test_path_bundle_equals_per_path_interpolation() -> None:
    centre = _curvy_path(120, 0)
    paths = [ProposalPath(centre), ProposalPath(parallel_path(centre, 1.0)), ProposalPath(_curvy_path(80, 1))]
    bundle = PathBundle(paths)
    rng = np.random.default_rng(2)
    for _ in range(20):
        counts = rng.integers(0, 6, len(paths))
        index = np.repeat(np.arange(len(paths)), counts)
        # beyond both ends too (clipped), and exactly on vertices
        dist = np.concatenate(
            [
                rng.uniform(-5.0, p.length + 5.0, c) if k % 2 else p.progress[rng.integers(0, 80, c)]
                for k, (p, c) in enumerate(zip(paths, counts))
            ]
        )
        ref = [p.interpolate(dist[index == i]) for i, p in enumerate(paths)]
        np.testing.assert_array_equal(bundle.interpolate(index, dist), np.concatenate(ref).reshape(-1, 3))
