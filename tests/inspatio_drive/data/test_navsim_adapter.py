"""Converters against a fake ``navsim`` package with navsim's documented field names (v1.1 and v2)."""

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspatio_drive.data import SceneFilter, SceneLoader, SensorConfig
from inspatio_drive.data import navsim_adapter as na

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "pdms"


def _fake_navsim(v2: bool) -> dict[str, types.ModuleType]:
    @dataclass
    class TrajectorySampling:
        num_poses: int | None = None
        time_horizon: float | None = None
        interval_length: float | None = None

        def __post_init__(self):
            if self.num_poses is None:
                self.num_poses = round(self.time_horizon / self.interval_length)

    if v2:

        @dataclass
        class Camera:
            image: Any = None
            sensor2lidar_rotation: Any = None
            sensor2lidar_translation: Any = None
            intrinsics: Any = None
            distortion: Any = None
            camera_path: Any = None

    else:

        @dataclass
        class Camera:
            image: Any = None
            sensor2lidar_rotation: Any = None
            sensor2lidar_translation: Any = None
            intrinsics: Any = None
            distortion: Any = None

    @dataclass
    class Cameras:
        cam_f0: Camera
        cam_l0: Camera
        cam_l1: Camera
        cam_l2: Camera
        cam_r0: Camera
        cam_r1: Camera
        cam_r2: Camera
        cam_b0: Camera

    @dataclass
    class Lidar:
        lidar_pc: Any = None

    @dataclass
    class EgoStatus:
        ego_pose: Any
        ego_velocity: Any
        ego_acceleration: Any
        driving_command: Any
        in_global_frame: bool = False

    @dataclass
    class AgentInput:
        ego_statuses: list
        cameras: list
        lidars: list

    @dataclass
    class Annotations:
        boxes: Any
        names: list
        velocity_3d: Any
        instance_tokens: list
        track_tokens: list

        def __post_init__(self):
            assert len({len(v) for v in vars(self).values()}) == 1

    @dataclass
    class Trajectory:
        poses: Any
        trajectory_sampling: TrajectorySampling = field(default_factory=lambda: TrajectorySampling(time_horizon=4, interval_length=0.5))

        def __post_init__(self):
            assert self.poses.ndim == 2 and self.poses.shape[0] == self.trajectory_sampling.num_poses and self.poses.shape[1] == 3

    @dataclass
    class SceneMetadata:
        log_name: str
        scene_token: str
        map_name: str
        initial_token: str
        num_history_frames: int
        num_future_frames: int
        if v2:
            corresponding_original_scene: str | None = None
            corresponding_original_initial_token: str | None = None

    @dataclass
    class Frame:
        token: str
        timestamp: int
        roadblock_ids: list
        traffic_lights: list
        annotations: Annotations
        ego_status: EgoStatus
        lidar: Lidar
        cameras: Cameras

    @dataclass
    class Scene:
        scene_metadata: SceneMetadata
        map_api: Any
        frames: list
        if v2:
            extended_traffic_light_data: list | None = None
            extended_detections_tracks: list | None = None

    dc = types.ModuleType("navsim.common.dataclasses")
    for cls in (Camera, Cameras, Lidar, EgoStatus, AgentInput, Annotations, Trajectory, SceneMetadata, Frame, Scene):
        setattr(dc, cls.__name__, cls)
    ts = types.ModuleType("nuplan.planning.simulation.trajectory.trajectory_sampling")
    ts.TrajectorySampling = TrajectorySampling
    mods = {"navsim": types.ModuleType("navsim"), "navsim.common": types.ModuleType("navsim.common"), "navsim.common.dataclasses": dc}
    for name in ("nuplan", "nuplan.planning", "nuplan.planning.simulation", "nuplan.planning.simulation.trajectory"):
        mods[name] = types.ModuleType(name)
    mods[ts.__name__] = ts
    return mods


@pytest.fixture(params=[False, True], ids=["v1.1", "v2"])
def fake_navsim(request, monkeypatch):
    mods = _fake_navsim(request.param)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return mods["navsim.common.dataclasses"], request.param


def _loader():
    return SceneLoader(
        GOLDEN / "navsim_logs" / "golden_a", GOLDEN / "sensor_blobs" / "golden_a", SceneFilter(),
        SensorConfig.build_drivor(), show_progress=False,
    )


def test_unavailable_navsim_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "navsim", None)
    assert not na.is_navsim_available()
    with pytest.raises(ImportError, match="navsim is not installed"):
        na.trajectory_to_navsim(np.zeros((8, 3)))


def test_agent_input_round_trip(fake_navsim):
    nd, v2 = fake_navsim
    assert na.is_navsim_available()
    loader = _loader()
    ours = loader.get_agent_input_from_token(loader.tokens[0])
    theirs = na.agent_input_to_navsim(ours)
    assert isinstance(theirs, nd.AgentInput) and len(theirs.ego_statuses) == 4
    cur = theirs.cameras[3]
    assert cur.cam_f0.image.shape == (9, 16, 3) and cur.cam_b0.image is not None
    assert cur.cam_l1 == nd.Camera() and theirs.cameras[0].cam_f0 == nd.Camera()  # not requested → empty
    np.testing.assert_array_equal(cur.cam_r0.sensor2lidar_rotation, ours.cameras[3]["CAM_R0"].sensor2ego_rotation)
    np.testing.assert_array_equal(cur.cam_f0.intrinsics, ours.cameras[3]["CAM_F0"].intrinsics)
    if v2:
        assert cur.cam_f0.camera_path == Path(ours.cameras[3]["CAM_F0"].data_path)
    assert theirs.lidars[0] == nd.Lidar()
    assert theirs.ego_statuses[3].ego_pose.tolist() == [0.0, 0.0, 0.0] and not theirs.ego_statuses[3].in_global_frame
    back = na.agent_input_from_navsim(theirs)
    assert sorted(back.cameras[3]) == ["CAM_B0", "CAM_F0", "CAM_L0", "CAM_R0"] and back.cameras[0] == {}
    np.testing.assert_array_equal(back.cameras[3]["CAM_L0"].image, ours.cameras[3]["CAM_L0"].image)
    for a, b in zip(back.ego_statuses, ours.ego_statuses):
        np.testing.assert_array_equal(a.ego_pose, b.ego_pose)
        np.testing.assert_array_equal(a.ego_velocity, b.ego_velocity)
        np.testing.assert_array_equal(a.driving_command, b.driving_command)
    kept = na.agent_input_to_navsim(ours, keep_calibration=True)
    assert kept.cameras[0].cam_l2.intrinsics is not None and kept.cameras[0].cam_l2.image is None


def test_scene_round_trip_and_future(fake_navsim):
    nd, _ = fake_navsim
    loader = _loader()
    ours = loader.get_scene_from_token(loader.tokens[0])
    theirs = na.scene_to_navsim(ours, map_api="MAP")
    assert isinstance(theirs, nd.Scene) and theirs.map_api == "MAP" and len(theirs.frames) == 14
    assert theirs.scene_metadata.initial_token == "6a0246071aa0fcae"
    assert theirs.frames[3].ego_status.in_global_frame
    assert theirs.frames[3].traffic_lights == [(50002, False), (50003, False)]
    assert theirs.frames[6].annotations.names == ours.frames[6].annotations.names
    back = na.scene_from_navsim(theirs)
    np.testing.assert_array_equal(back.get_future_trajectory(8), ours.get_future_trajectory(8))
    assert back.frames[3].roadblock_ids == ours.frames[3].roadblock_ids
    np.testing.assert_array_equal(back.frames[5].annotations.boxes, ours.frames[5].annotations.boxes)


def test_trajectory_conversion(fake_navsim):
    nd, _ = fake_navsim
    poses = np.arange(24, dtype=np.float64).reshape(8, 3) / 7
    traj = na.trajectory_to_navsim(poses)
    assert isinstance(traj, nd.Trajectory) and traj.poses.dtype == np.float32 and traj.trajectory_sampling.num_poses == 8
    np.testing.assert_array_equal(na.trajectory_from_navsim(traj), poses.astype(np.float32).astype(np.float64))
    long = na.trajectory_to_navsim(np.zeros((10, 3)))
    assert long.trajectory_sampling.num_poses == 10 and long.trajectory_sampling.interval_length == 0.5
    with pytest.raises(ValueError, match=r"\[T, 3\]"):
        na.trajectory_to_navsim(np.zeros((8, 2)))


def test_scene_without_annotations_refused(fake_navsim):
    loader = _loader()
    scene = loader.get_scene_from_token(loader.tokens[0])
    scene.frames[2].annotations = None
    with pytest.raises(ValueError, match=r"frame 2.*no annotations"):
        na.scene_to_navsim(scene)
