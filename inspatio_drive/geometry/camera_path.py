"""One camera's path for a condition video: a candidate trajectory, optionally with an InSpatio trajectory file.

Frames (see :mod:`inspatio_drive.geometry.camera_poses`): ``cam0`` = the chosen camera at t = 0 (OpenCV, the
world of the written pose files), ``ego0`` = the rear axle at t = 0. Per frame i:

* ``S_i``: the camera carried along the candidate, ``T_cam0_cam(i) = T_ego_cam^-1 · T_ego0_ego(t_i) · T_ego_cam``
  (the "source video" camera of InSpatio);
* ``O_i``: the offset from the file (identity without one): a 3-line pitch / yaw / displacement ``.txt`` through
  InSpatio's ``sphere2pose`` (:mod:`.inspatio_io`), or ``[N, 4, 4]`` c2w from a ``.npy``;
* the rendered camera ``c2w_i = S_i · O_i`` with ``relative_to_source`` (the offset rides along with the ego
  camera, InSpatio's ``--relative_to_source``), else ``S_0 · O_i = O_i`` (the camera orbits the t = 0 camera and
  ignores the ego motion: InSpatio's default, and a ``.npy`` of absolute poses in the ``cam0`` world).

Frame count: ``duration · fps + 1`` frames of the candidate (t = 0 included); ``freeze_repeat = R`` inserts R
copies of frame ``freeze_frame`` (time stands still, the offsets are laid over the longer sequence so the camera
keeps moving); ``adaptive_frames`` (3-line files only) then re-indexes everything jointly so the camera turns
0.3–0.8° per frame (:func:`~.inspatio_io.adaptive_frame_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from inspatio_drive.contracts.errors import TrajectoryFormatError
from inspatio_drive.geometry.camera_poses import camera_relative_to_source
from inspatio_drive.geometry.inspatio_io import (
    SPLINES,
    adaptive_frame_indices,
    freeze_indices,
    read_c2w_npy,
    read_trajectory_txt,
    resample_keyframes,
    sphere2pose,
    total_keyframe_angle,
)
from inspatio_drive.geometry.interpolation import interpolate_trajectory
from inspatio_drive.geometry.se3 import invert_se3


@dataclass(frozen=True)
class CameraPathOptions:
    """How a trajectory file is laid over the candidate (knobs of ``inspatio-drive render``).

    Attributes:
        trajectory_file: None, a 3-line ``.txt`` (pitch deg / yaw deg / displacement m keyframes) or a
            ``[N, 4, 4]`` float c2w ``.npy`` (OpenCV, ``cam0`` world).
        relative_to_source: offsets ride along with the candidate's camera (``S_i · O_i``), else ``O_i``.
        rotation_only: drop the offsets' translation (pan / tilt about the camera centre; InSpatio keeps a pure
            dolly, as here for 3-line files).
        spline: keyframe resampling of 3-line files, ``smoothing`` (InSpatio) or ``interpolating``.
        adaptive_frames: InSpatio's frame count from the total key angle (3-line files only).
        freeze_repeat: extra copies of frame ``freeze_frame`` (time stop); 0 = off.
        freeze_frame: the frozen frame index (None = the middle frame).
    """

    trajectory_file: str | None = None
    relative_to_source: bool = True
    rotation_only: bool = False
    spline: str = "smoothing"
    adaptive_frames: bool = False
    freeze_repeat: int = 0
    freeze_frame: int | None = None

    def __post_init__(self) -> None:
        if self.spline not in SPLINES:
            raise ValueError(f"spline: expected one of {SPLINES}, got {self.spline!r}")
        if self.freeze_repeat < 0:
            raise ValueError(f"freeze_repeat: expected >= 0 frames, got {self.freeze_repeat}")


@dataclass
class CameraPath:
    """Per-frame camera of one condition video (N frames).

    Attributes:
        times: ``[N]`` seconds of the world shown (repeats while frozen, ping-pongs when adapted).
        ego: ``[N, 3]`` (x, y, heading) of the candidate at ``times`` in the current rear-axle frame.
        c2w: ``[N, 4, 4]`` float64 rendered camera → ``cam0`` (OpenCV).
        meta: what was applied (file, counts, angle), for provenance.
    """

    times: NDArray[np.float64]
    ego: NDArray[np.float64]
    c2w: NDArray[np.float64]
    meta: dict[str, Any] = field(default_factory=dict)

    def w2c_ego0(self, T_ego_cam: ArrayLike | torch.Tensor) -> torch.Tensor:
        """``[N, 4, 4]`` float64 ego0 → camera (what the renderer projects with) for the ``[4, 4]`` extrinsics."""
        ext = torch.as_tensor(np.asarray(T_ego_cam, dtype=np.float64).reshape(4, 4))
        return invert_se3(ext @ torch.as_tensor(self.c2w))


def _offsets(opts: CameraPathOptions, n: int) -> tuple[NDArray[np.float64], dict[str, Any], float | None]:
    """``[n, 4, 4]`` offsets, provenance and (3-line files) the total key angle."""
    if opts.trajectory_file is None:
        return np.tile(np.eye(4), (n, 1, 1)), {}, None
    path = Path(str(opts.trajectory_file))
    if path.suffix.lower() == ".npy":
        if opts.adaptive_frames:
            raise TrajectoryFormatError(
                f"{path}: adaptive_frames needs a 3-line pitch / yaw / displacement .txt (a .npy has no angles)"
            )
        off = read_c2w_npy(path)
        if len(off) != n:
            raise TrajectoryFormatError(
                f"{path}: {len(off)} poses, but the render has {n} frames (duration x fps + 1 + freeze_repeat);"
                " write one pose per frame or change fps"
            )
        if opts.rotation_only:
            off = off.copy()
            off[:, :3, 3] = 0.0
        return off, {"trajectory_format": "c2w npy"}, None
    pitch, yaw, r = read_trajectory_txt(path)
    off = sphere2pose(
        resample_keyframes(pitch, n, opts.spline),
        resample_keyframes(yaw, n, opts.spline),
        resample_keyframes(r, n, opts.spline, pin_ends=True),
        rotation_only=opts.rotation_only,
    )
    meta = {"trajectory_format": "pitch/yaw/r txt", "keyframes": [len(pitch), len(yaw), len(r)]}
    return off, meta, total_keyframe_angle(pitch, yaw)


def build_camera_path(
    trajectory: ArrayLike,
    T_ego_cam: ArrayLike | torch.Tensor,
    fps: float,
    options: CameraPathOptions | None = None,
    interval: float = 0.5,
) -> CameraPath:
    """The camera path of one candidate (see the module docstring).

    Args:
        trajectory: ``[T, 3]`` (x, y, heading) at ``interval``, 2·``interval``, … (current rear-axle frame).
        T_ego_cam: ``[4, 4]`` camera → ego extrinsics of the rendered camera.
        fps: frame rate of the video.
    """
    opts = options or CameraPathOptions()
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or traj.shape[-1] != 3:
        raise ValueError(f"trajectory must be [T, 3] (x, y, heading), got {traj.shape}")
    times, ego = interpolate_trajectory(traj, fps, interval=interval)
    n_source = len(times)
    idx = freeze_indices(n_source, opts.freeze_repeat, opts.freeze_frame)
    times, ego = times[idx], ego[idx]
    offsets, meta, angle = _offsets(opts, len(times))
    if opts.adaptive_frames:
        sel = adaptive_frame_indices(len(times), angle or 0.0)
        times, ego, offsets = times[sel], ego[sel], offsets[sel]
        meta["total_angle_deg"] = angle
    ext = torch.as_tensor(np.asarray(T_ego_cam, dtype=np.float64).reshape(1, 4, 4))
    source = camera_relative_to_source(torch.as_tensor(ego), ext)[:, 0].numpy()  # S_i [N, 4, 4]
    c2w = source @ offsets if opts.relative_to_source else offsets
    meta.update(
        trajectory_file=opts.trajectory_file,
        relative_to_source=opts.relative_to_source,
        rotation_only=opts.rotation_only,
        spline=opts.spline,
        adaptive_frames=opts.adaptive_frames,
        freeze_repeat=opts.freeze_repeat,
        freeze_frame=None if not opts.freeze_repeat else int(idx[np.argmax(np.diff(idx) == 0)]),
        source_frames=n_source,
        num_frames=len(times),
    )
    return CameraPath(times=times, ego=ego, c2w=c2w, meta=meta)
