"""The vectorised ground-truth observation equals the track-by-track scipy reference bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
from pdm_cache_golden import load_golden_scene_input

from inspatio_drive.data import SceneLoader
from inspatio_drive.pdm.cache.observation import ground_truth_observation, ground_truth_observation_reference
from inspatio_drive.pdm.types import Observation


def _assert_same(got: Observation, expected: Observation) -> None:
    assert got.tokens == expected.tokens
    assert got.types == expected.types
    np.testing.assert_array_equal(got.corners, expected.corners)  # NaN where absent, in the same places
    np.testing.assert_array_equal(got.headings, expected.headings)
    np.testing.assert_array_equal(got.velocities, expected.velocities)
    np.testing.assert_array_equal(got.is_agent, expected.is_agent)


def test_golden_and_sample_scenes() -> None:
    from inspatio_drive.data.roots import SAMPLE_SPLIT, sample_root

    scenes = [load_golden_scene_input("a"), load_golden_scene_input("c")]
    loader = SceneLoader(sample_root() / "navsim_logs" / SAMPLE_SPLIT, None, show_progress=False)
    scenes += [loader.get_scene_from_token(t) for t in loader.tokens]
    for scene in scenes:
        expected = ground_truth_observation_reference(scene)
        assert expected.num_objects > 0
        _assert_same(ground_truth_observation(scene), expected)


def test_tracks_with_gaps_single_sightings_and_no_objects() -> None:
    scene = load_golden_scene_input("a")
    start = scene.current_index
    frames = list(scene.frames)
    # drop every object from two future frames (tracks with gaps, tracks seen only once or only later)
    for k in (start + 2, start + 5):
        ann = frames[k].annotations
        frames[k] = dataclasses.replace(
            frames[k], annotations=dataclasses.replace(ann, names=["ego"] * len(ann.names))
        )
    gappy = dataclasses.replace(scene, frames=frames)
    _assert_same(ground_truth_observation(gappy), ground_truth_observation_reference(gappy))
    # no objects at all ("ego" boxes are dropped)
    empty = dataclasses.replace(
        scene,
        frames=[
            f
            if f.annotations is None
            else dataclasses.replace(
                f, annotations=dataclasses.replace(f.annotations, names=["ego"] * len(f.annotations.names))
            )
            for f in scene.frames
        ],
    )
    got = ground_truth_observation(empty)
    assert got.num_objects == 0 and got.corners.shape == (0, 51, 4, 2)
    _assert_same(got, ground_truth_observation_reference(empty))
