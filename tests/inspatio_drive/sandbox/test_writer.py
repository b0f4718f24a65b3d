"""A written split is read by the data layer, and its images / LiDAR are the oracle's truth."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inspatio_drive.data import (
    CAMERA_NAMES,
    SceneFilter,
    SceneLoader,
    SensorConfig,
    read_log,
    read_pcd,
    safe_load,
)
from inspatio_drive.maps import load_map
from inspatio_drive.maps.layers import SemanticMapLayer
from inspatio_drive.sandbox import Oracle
from inspatio_drive.sandbox.oracle import load_world
from inspatio_drive.sandbox.writer import write_split


def test_reader_loads_generated_split(tiny_split):
    root, paths = tiny_split
    frames = read_log(paths[0])
    assert len(frames) == 6
    f = frames[3]
    assert set(f.cameras) == set(CAMERA_NAMES)
    assert f.roadblock_ids and f.traffic_lights and f.annotations is not None
    assert f.ego_status.in_global_frame and f.ego_status.driving_command.sum() == 1
    loader = SceneLoader(root / "navsim_logs" / "tiny", root / "sensor_blobs" / "tiny",
                         SceneFilter(num_history_frames=2, num_future_frames=3),
                         SensorConfig.build_all_sensors(), show_progress=False)
    assert len(loader.tokens) == 1
    agent_input = loader.get_agent_input_from_token(loader.tokens[0])
    cam = agent_input.cameras[-1]["CAM_F0"]
    assert cam.image.shape == (54, 96, 3)
    np.testing.assert_allclose(cam.intrinsics[0, 0], 1545.0 * 96 / 1920)
    assert agent_input.lidars[-1].points.shape[0] == 6 and agent_input.lidars[-1].points.shape[1] > 100
    scene = loader.get_scene_from_token(loader.tokens[0])
    fut = scene.get_future_trajectory()
    assert fut.shape == (3, 3) and fut[-1, 0] > fut[0, 0] > 0  # driving forward


def test_map_of_the_log_matches_its_route(tiny_split):
    root, paths = tiny_split
    frames = read_log(paths[0])
    m = load_map(root / "maps", safe_load(paths[0])[0]["map_location"])
    for rb in frames[0].roadblock_ids:
        assert (m.get_map_object(rb, SemanticMapLayer.ROADBLOCK) or
                m.get_map_object(rb, SemanticMapLayer.ROADBLOCK_CONNECTOR)) is not None
    ego = frames[0].ego_status.ego_pose
    assert m.is_in_layer(ego[:2], SemanticMapLayer.ROADBLOCK)
    for conn_id, _ in frames[0].traffic_lights:
        assert m.get_map_object(conn_id, SemanticMapLayer.LANE_CONNECTOR) is not None


def test_oracle_at_logged_pose_equals_logged_image(tiny_split):
    root, paths = tiny_split
    frames = read_log(paths[0])
    log = paths[0].stem
    oracle = Oracle(root / "sensor_blobs" / "tiny" / log)  # regenerated from sandbox_world.json
    assert oracle.config.width == 96
    assert Oracle(paths[0]).world.name == log  # or from the log pickle
    for i in (0, 4):
        f = frames[i]
        t = oracle.time_of(f.timestamp)
        assert t == pytest.approx(0.5 * i)
        views = oracle.render_rig(f.ego_status.ego_pose, t)
        for name in ("CAM_F0", "CAM_B0"):
            logged = np.asarray(Image.open(root / "sensor_blobs" / "tiny" / f.cameras[name].data_path))
            # bit-exact once the oracle view goes through the same JPEG encoder (quality 90)
            buf = io.BytesIO()
            Image.fromarray(views[name].rgb).save(buf, format="JPEG", quality=90)
            np.testing.assert_array_equal(np.asarray(Image.open(buf)), logged)
            assert np.abs(logged.astype(np.float64) - views[name].rgb).mean() < 10.0
        pc = read_pcd(root / "sensor_blobs" / "tiny" / f.lidar.data_path)
        np.testing.assert_array_equal(pc, oracle.lidar(f.ego_status.ego_pose, t))


def test_world_spec_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sandbox_world\.json"):
        load_world(tmp_path)
    (tmp_path / "sandbox_world.json").write_text('{"seed": 1}')
    with pytest.raises(ValueError, match="malformed"):
        load_world(tmp_path)


def test_write_split_rejects_unknown_scenarios(tmp_path):
    with pytest.raises(KeyError, match="unknown scenario"):
        write_split(tmp_path, "x", 1, ["nope"], show_progress=False)


def test_cli_writes_a_split(tmp_path, capsys):
    from inspatio_drive.commands.cli import main

    rc = main(["sandbox", f"root={tmp_path}", "split=cli", "n=1", "num_frames=2", "scenarios=[narrow_gap]",
               "image.width=32", "image.height=18", "lidar.channels=4", "lidar.azimuths=32", "texture_res=0.5",
               "density=0.0", "progress=false"])
    assert rc == 0 and "wrote 1 logs" in capsys.readouterr().out
    (log,) = (tmp_path / "navsim_logs" / "cli").glob("*.pkl")
    assert len(read_log(log)) == 2
    assert len(list((tmp_path / "sensor_blobs" / "cli" / log.stem / "CAM_F0").glob("*.jpg"))) == 2
    assert (tmp_path / "maps" / "nuplan-maps-v1.0.json").is_file()
