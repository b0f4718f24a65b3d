import json
import re

import numpy as np
import pytest
import torch

from inspatio_drive.geometry import read_c2w_npy, read_tcw_txt
from inspatio_drive.render import RenderCameras, build_point_cloud
from inspatio_drive.render.condition import (
    condition_frame_count,
    export_condition,
    read_video,
    render_condition,
    write_video,
)
from inspatio_drive.render.grid import candidate_grid


@pytest.fixture(scope="module")
def cloud(small_street):
    street, agent_input = small_street
    pc = build_point_cloud(agent_input, tracks=street.tracks(np.arange(-3, 9) * 0.5))
    rig = RenderCameras.from_cameras(agent_input.cameras[-1], image_size=(160, 90))
    logged = np.stack([street.ego_pose(0.5 * k) for k in range(1, 9)])
    return pc, rig, logged, agent_input


def test_condition_files_round_trip(cloud, tmp_path):
    pc, rig, logged, agent_input = cloud
    files = export_condition(
        tmp_path,
        pc,
        logged,
        rig,
        "CAM_F0",
        image_size=(64, 48),
        fps=4.0,
        dynamic_mode="privileged",
        source_image=agent_input.cameras[-1]["CAM_F0"].image,
        provenance={"scene": "synthetic"},
    )
    n = condition_frame_count(4.0, 4.0)
    assert n == 17 and condition_frame_count(4.0, 24.0) == 97
    render, mask = read_video(files["render"]), read_video(files["mask"])
    assert render.shape == (n, 48, 64, 3) and mask.shape == (n, 48, 64, 3)
    rb, _, c2w, _ = render_condition(pc, logged, rig, "CAM_F0", (64, 48), 4.0, dynamic_mode="privileged")
    valid = rb.valid[0, :, 0].numpy()
    assert np.array_equal(mask[..., 0] > 127, valid)  # lossless mask
    err = np.abs(render.astype(float) - rb.rgb[0, :, 0].permute(0, 2, 3, 1).numpy())[valid].mean()
    assert err < 16.0  # crf 18 H.264, yuv420p chroma blurs across the many hole edges at 64×48
    poses = read_c2w_npy(files["poses_c2w"])
    assert poses.shape == (n, 4, 4)
    np.testing.assert_array_equal(poses, c2w)
    np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-12)  # t = 0 is the source camera
    np.testing.assert_allclose(poses[-1, :3, 3], [0, 0, logged[-1, 0]], atol=1e-9)  # straight: +z
    np.testing.assert_allclose(
        read_tcw_txt(files["target_tcw"]) @ poses, np.broadcast_to(np.eye(4), poses.shape), atol=1e-9
    )
    meta = json.loads(files["meta"].read_text())
    assert meta["dynamic_mode"] == "privileged" and meta["num_frames"] == n and meta["scene"] == "synthetic"
    np.testing.assert_allclose(np.loadtxt(files["intrinsics"])[0, 0], 1545.0 * 64 / 1920)
    assert files["source"].is_file()


def test_video_round_trip_is_faithful_on_smooth_content(tmp_path):
    f = np.zeros((5, 48, 64, 3), np.uint8)
    f[...] = [200, 80, 30]
    f[:, :, 32:] = [20, 140, 220]
    g = read_video(write_video(tmp_path / "v.mp4", f, 24, crf=18)).astype(float)
    assert g.shape == f.shape
    assert np.abs(g[:, :, :28] - f[:, :, :28]).mean() < 3.0 and np.abs(g - f).mean() < 4.0


def test_video_writer_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 5, 6, 3), np.uint8), 24)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 4, 6, 3), np.float32), 24)


def test_grid_tiles_candidates_by_time(cloud):
    pc, rig, logged, _ = cloud
    from inspatio_drive.render import render_candidates

    trajs = torch.as_tensor(np.stack([logged, logged * [1, 0, 0]]))
    rb = render_candidates(pc, trajs[:, :3], rig.subset(["CAM_F0"]), (32, 18))
    g = candidate_grid(rb, "CAM_F0", gap=2)
    assert g.shape == (2 * 18 + 2, 3 * 32 + 4, 3)
    hole = ~rb.valid[1, 2, 0].numpy()
    assert (g[20:, 68:][hole] == [255, 0, 255]).all()


def test_cli_writes_condition_for_a_candidates_file(tmp_path, capsys):
    from inspatio_drive.commands.render import main

    cands = np.zeros((3, 8, 3))
    cands[..., 0] = np.arange(1, 9) * 3.0
    cands[1, :, 1] = np.linspace(0.2, 2.0, 8)
    np.save(tmp_path / "cands.npy", cands)
    out = tmp_path / "out"
    rc = main(
        [
            f"output_dir={out}",
            f"candidates={tmp_path / 'cands.npy'}",
            "candidate=1",
            "data.synthetic_step=0.4",
            "data.history_image_size=[96,54]",
            "image_size=[64,48]",
            "fps=2",
            "grid.image_size=[32,18]",
            "point_cloud.voxel_size=0.2",
            "dynamic_mode=constant_velocity",
        ]
    )
    assert rc == 0
    meta = json.loads((out / "condition.json").read_text())
    assert meta["candidate"] == 1 and meta["dynamic_mode"] == "constant_velocity" and meta["num_frames"] == 9
    assert meta["intrinsics_resize"] == "plain"  # the synthetic street renders every size natively
    np.testing.assert_allclose(meta["trajectory"], cands[1])
    for name in ("render.mp4", "mask.mp4", "poses_c2w.npy", "target_tcw.txt", "grid.png", "source.png"):
        assert (out / name).is_file()
    rc = main(
        [
            f"output_dir={out}",
            f"candidates={tmp_path / 'cands.npy'}",
            "candidate=5",
            "data.synthetic_step=0.4",
            "data.history_image_size=[96,54]",
        ]
    )
    assert rc == 2  # a user error: one line, exit 2
    assert "candidate: 5 out of range; expected 0..2" in capsys.readouterr().err


def test_candidates_file_must_be_8_poses_at_half_a_second(tmp_path):
    """render reads candidates as pdm-score does: [K, T != 8, 3] is refused, resampled only when asked."""
    from inspatio_drive.commands.render import load_candidates
    from inspatio_drive.contracts.errors import CandidateFormatError

    logged = np.zeros((8, 3))
    fine = np.zeros((2, 16, 3))
    fine[..., 0] = np.arange(1, 17) * 1.5
    np.save(tmp_path / "fine.npy", fine)
    with pytest.raises(CandidateFormatError, match=r"fine\.npy: expected \[K, 8, 3\] poses at 0\.5 s.*candidates_resample=true"):
        load_candidates(str(tmp_path / "fine.npy"), logged)
    out = load_candidates(str(tmp_path / "fine.npy"), logged, interval_s=0.25, resample=True)
    np.testing.assert_allclose(out, fine[:, 1::2], atol=1e-12)
    np.testing.assert_array_equal(load_candidates("logged", logged), logged[None])


def test_trajectory_file_renders_the_offset_camera(cloud, tmp_path):
    """A 3-line file turns the camera (the render changes); its written poses fed back as a .npy render the same."""
    from inspatio_drive.geometry import write_trajectory_txt
    from inspatio_drive.geometry.camera_path import CameraPathOptions

    pc, rig, logged, _ = cloud
    txt = write_trajectory_txt(tmp_path / "pan.txt", [0.0], [0, 25, 0, -25, 0], [0.0])
    opts = CameraPathOptions(str(txt), rotation_only=True)
    files = export_condition(tmp_path / "a", pc, logged, rig, "CAM_F0", (64, 48), 2.0, path_options=opts)
    plain, _, c2w_plain, _ = render_condition(pc, logged, rig, "CAM_F0", (64, 48), 2.0)
    rb, _, c2w, meta = render_condition(pc, logged, rig, "CAM_F0", (64, 48), 2.0, path_options=opts)
    assert meta["trajectory_file"] == str(txt) and meta["num_frames"] == 9
    np.testing.assert_allclose(c2w[:, :3, 3], c2w_plain[:, :3, 3], atol=1e-9)  # rotation only: same centres
    turned = (rb.rgb != plain.rgb).float().mean(dim=(0, 2, 3, 4, 5))
    assert turned[0] == 0 and turned[2] > 0.05  # frame 0 (yaw ~0) equal, the panned frames differ
    back = CameraPathOptions(str(files["poses_c2w"]), relative_to_source=False)
    again, _, c2w_again, _ = render_condition(pc, logged, rig, "CAM_F0", (64, 48), 2.0, path_options=back)
    np.testing.assert_allclose(c2w_again, c2w, atol=1e-12)
    assert torch.equal(again.rgb, rb.rgb) and torch.equal(again.valid, rb.valid)
    assert json.loads(files["meta"].read_text())["camera_path"]["rotation_only"] is True


def test_cli_trajectory_file_knobs_and_bad_files(tmp_path, capsys):
    from inspatio_drive.commands.render import main

    base = ["data.synthetic_step=0.4", "data.history_image_size=[96,54]", "image_size=[64,48]", "fps=2",
            "grid.enabled=false", "point_cloud.voxel_size=0.2"]  # fmt: skip
    (tmp_path / "orbit.txt").write_text("0 5 0 -5\n0 20 0 -20 0\n1\n")
    out = tmp_path / "out"
    args = [f"output_dir={out}", f"path.trajectory_file={tmp_path / 'orbit.txt'}", "path.freeze_repeat=4",
            "path.freeze_frame=2", "path.spline=interpolating"]  # fmt: skip
    assert main(base + args) == 0
    meta = json.loads((out / "condition.json").read_text())
    assert meta["num_frames"] == 9 + 4 and meta["camera_path"]["freeze_frame"] == 2
    assert meta["times"][2:7] == [1.0] * 5  # time frozen at frame 2 for 4 more frames
    assert main([*base, f"output_dir={out}", f"path.trajectory_file={tmp_path / 'orbit.txt'}", "path.adaptive_frames=true"]) == 0  # fmt: skip
    assert json.loads((out / "condition.json").read_text())["num_frames"] == 121  # 80° → [101, 267] frames; 9 < 121: ping-pong to 121
    capsys.readouterr()
    for content, pattern in [
        ("0 5\n0 x\n1\n", r"bad\.txt:2: line 'yaw': value 2 'x' is not a number"),
        ("0 5\n0 1\n", r"bad\.txt:2: expected 3 lines"),
        ("0 5\n0 1\n1\n2\n", r"bad\.txt:4: expected 3 lines"),
    ]:
        (tmp_path / "bad.txt").write_text(content)
        rc = main([*base, f"output_dir={out}", f"path.trajectory_file={tmp_path / 'bad.txt'}"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert re.search(pattern, err), err
    for knob, pattern in [("path.spline=akima", "spline: expected one of"), ("path.freeze_repeat=-2", "freeze_repeat"),
                          ("intrinsics_resize=bilinear", "intrinsics_resize: expected auto")]:  # fmt: skip
        assert main([*base, f"output_dir={out}", knob]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and pattern in err, err
