"""InSpatio-World trajectory files.

* 3-line txt (InSpatio-World v1 ``traj/*.txt``): line 1 pitch keyframes (deg), line 2 yaw keyframes (deg),
  line 3 displacement ``r`` keyframes; lines may differ in length. ``sphere2pose`` maps (pitch, yaw, r)
  to an OpenCV c2w that orbits the look-at point (0, 0, r) in front of the reference camera:
  ``R = Ry(yaw) · Rx'(pitch)`` with ``Ry = [[c,0,s],[0,1,0],[-s,0,c]]``, ``Rx' = [[1,0,0],[0,c,s],[0,-s,c]]``,
  ``t = [−r·cos p·sin y, −r·sin p, r − r·cos p·cos y]``; if every pitch and yaw is 0 the pose is a dolly
  ``t = [0, 0, r]``; ``rotation_only`` zeroes ``t`` (except for the dolly, as in InSpatio).
  Positive pitch = orbit up, positive yaw = orbit left.
* ``.npy`` ``[T, 4, 4]`` float64 c2w (the FORK's ``--target_pose_path``).
* v1.5 ``target_tcw.txt``: one line per frame, 16 row-major numbers of an OpenCV world-to-camera matrix.

Readers are strict: UTF-8 text, finite numbers, no blank line between rows (trailing blank lines are
ignored); anything else raises :class:`~inspatio_drive.contracts.errors.TrajectoryFormatError` naming the file
and the line.

Keyframes are resampled as InSpatio does by default (``spline="smoothing"``): ``UnivariateSpline(k=3)`` with
scipy's default smoothing factor (``s = K``) over ``linspace(0, 1, K)`` for K > 3 keys, linear for 2–3 keys,
constant for 1; only the displacement ``r`` is pinned to its first and last key. The smoothing fit misses its
keys (InSpatio's ``x_y_circle_cycle`` starts at pitch −0.07° / yaw +0.16° instead of 0 and peaks at 19.3°
instead of 20°), so a file renders the same camera path as upstream. ``spline="interpolating"`` (a not-a-knot
``CubicSpline`` through every key) is kept for pose files written by this project (``pose2sphere`` output),
whose keys are the poses themselves and must be hit exactly.

Frame-count helpers (InSpatio's dataset, applied to source, render and mask jointly):
:func:`adaptive_frame_indices` (0.3–0.8° per frame, ping-pong up to 121 frames) and :func:`freeze_indices`
(time stop: one frame repeated while the camera keeps moving).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline, UnivariateSpline, interp1d

from inspatio_drive.contracts.errors import TrajectoryFormatError


def _text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file with strict checks, each failure naming the file and the line.

    Refused: a missing or unreadable file, NUL bytes or invalid UTF-8 (a binary file), and blank lines
    between content lines (trailing blank lines at the end of the file are dropped).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrajectoryFormatError(f"{path}: cannot read the trajectory file ({exc.strerror or exc})") from exc
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise TrajectoryFormatError(f"{path}:{line}: NUL byte: a binary file, expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TrajectoryFormatError(f"{path}:{line}: invalid UTF-8 (byte {exc.start}): a binary file, expected text") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for i, ln in enumerate(lines):
        if not ln.strip():
            raise TrajectoryFormatError(f"{path}:{i + 1}: blank line; expected one line of numbers per row")
    return lines


def _numbers(path: Path, lineno: int, line: str, what: str) -> list[float]:
    """Whitespace-separated finite numbers of one line (1-based ``lineno``), or an error naming file and line."""
    out = []
    for col, tok in enumerate(line.split(), 1):
        try:
            v = float(tok)
        except ValueError:
            raise TrajectoryFormatError(f"{path}:{lineno}: {what}: value {col} {tok[:20]!r} is not a number") from None
        if not np.isfinite(v):
            raise TrajectoryFormatError(f"{path}:{lineno}: {what}: value {col} is {tok[:20]!r}; expected a finite number")
        out.append(v)
    return out


def read_trajectory_txt(
    path: str | Path,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Read a 3-line InSpatio trajectory file → ``(pitch_deg [Kp], yaw_deg [Ky], r [Kr])``.

    Raises:
        TrajectoryFormatError: not three lines of finite numbers (NaN / inf, a blank line between the rows,
            a binary file, a missing file); the message names the file and the line.
    """
    path = Path(path)
    lines = _text_lines(path)
    if len(lines) != 3:
        where = f"{path}:{len(lines)}" if len(lines) < 3 else f"{path}:4"
        raise TrajectoryFormatError(
            f"{where}: expected 3 lines (pitch, yaw, displacement keyframes), found {len(lines)}"
        )
    out = []
    for i, (name, line) in enumerate(zip(("pitch", "yaw", "displacement"), lines, strict=True)):
        out.append(np.array(_numbers(path, i + 1, line, f"line '{name}'"), dtype=np.float64))
    return out[0], out[1], out[2]


def write_trajectory_txt(path: str | Path, pitch_deg: ArrayLike, yaw_deg: ArrayLike, r: ArrayLike) -> Path:
    """Write the 3-line InSpatio trajectory file (full float precision)."""
    path = Path(path)
    rows = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (pitch_deg, yaw_deg, r)]
    path.write_text("\n".join(" ".join(repr(float(x)) for x in row) for row in rows) + "\n")
    return path


SPLINES = ("smoothing", "interpolating")


def resample_keyframes(
    values: ArrayLike, num_frames: int, spline: str = "smoothing", pin_ends: bool = False
) -> NDArray[np.float64]:
    """Keyframes spread over [0, 1] → ``num_frames`` samples at ``linspace(0, 1, num_frames)``.

    Args:
        values: ``[K]`` keyframes (K >= 1).
        spline: ``smoothing`` (InSpatio: ``UnivariateSpline(k=3)`` with the default ``s``, K > 3) or
            ``interpolating`` (``CubicSpline`` not-a-knot through every key). 2–3 keys: linear; 1 key: constant.
        pin_ends: set the first and last sample to the first and last key (InSpatio does this for ``r`` only).
    """
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if spline not in SPLINES:
        raise ValueError(f"spline must be one of {SPLINES}, got {spline!r}")
    if len(v) == 1:
        return np.full(num_frames, v[0])
    x, q = np.linspace(0.0, 1.0, len(v)), np.linspace(0.0, 1.0, num_frames)
    if len(v) <= 3:
        out = interp1d(x, v)(q)
    elif spline == "smoothing":
        out = UnivariateSpline(x, v, k=3)(q)
    else:
        out = CubicSpline(x, v, bc_type="not-a-knot")(q)
    out = np.asarray(out, dtype=np.float64)
    if pin_ends:
        out[0], out[-1] = v[0], v[-1]
    return out


MIN_DEG_PER_FRAME = 0.3
MAX_DEG_PER_FRAME = 0.8
MIN_ADAPTIVE_FRAMES = 121


def total_keyframe_angle(pitch_deg: ArrayLike, yaw_deg: ArrayLike) -> float:
    """InSpatio's total angle (deg): ``max(Σ|Δpitch|, Σ|Δyaw|)`` over the *keyframes*."""
    p = np.atleast_1d(np.asarray(pitch_deg, dtype=np.float64))
    y = np.atleast_1d(np.asarray(yaw_deg, dtype=np.float64))
    return float(max(np.abs(np.diff(p)).sum(), np.abs(np.diff(y)).sum()))


def adaptive_frame_range(num_frames: int, total_angle_deg: float) -> tuple[int, int]:
    """``(min_needed, max_needed)`` frames so that the camera turns 0.3–0.8° per frame (``num_frames`` for
    both when the trajectory does not turn, total <= 1e-3°)."""
    if total_angle_deg <= 1e-3:
        return num_frames, num_frames
    lo = max(2, int(np.ceil(total_angle_deg / MAX_DEG_PER_FRAME)) + 1)
    hi = max(2, int(np.floor(total_angle_deg / MIN_DEG_PER_FRAME)) + 1)
    return lo, hi


def adaptive_frame_indices(num_frames: int, total_angle_deg: float) -> NDArray[np.int64]:
    """InSpatio's adaptive frame count as indices into ``num_frames`` frames.

    With ``(lo, hi) = adaptive_frame_range``: fewer than ``max(lo, 121)`` frames are extended by ping-pong
    (0, 1, …, n−1, n−2, …, 0, 1, …) to ``max(lo, 121)``; more than ``hi`` are subsampled uniformly to ``hi``;
    otherwise all frames are kept. Applied jointly to the time line, the source camera path and the orbit.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    lo, hi = adaptive_frame_range(num_frames, total_angle_deg)
    target = max(lo, MIN_ADAPTIVE_FRAMES)
    if num_frames < target:
        if num_frames == 1:
            return np.zeros(target, dtype=np.int64)
        period = np.concatenate([np.arange(num_frames), np.arange(num_frames - 2, 0, -1)])
        return np.resize(period, target).astype(np.int64)
    if num_frames > hi:
        return np.round(np.linspace(0, num_frames - 1, hi)).astype(np.int64)
    return np.arange(num_frames, dtype=np.int64)


def freeze_indices(num_frames: int, repeat: int, frame: int | None = None) -> NDArray[np.int64]:
    """InSpatio's time stop: indices into ``num_frames`` source frames with frame ``frame`` (default
    ``num_frames // 2``, clamped) followed by ``repeat`` extra copies of itself → ``num_frames + repeat``.
    The camera trajectory is then laid over the new length, so it keeps moving while time stands still."""
    if repeat < 0:
        raise ValueError(f"freeze_repeat must be >= 0, got {repeat}")
    f = num_frames // 2 if frame is None else int(np.clip(frame, 0, num_frames - 1))
    idx = np.arange(num_frames, dtype=np.int64)
    return np.concatenate([idx[: f + 1], np.full(repeat, f, dtype=np.int64), idx[f + 1 :]])


def sphere2pose(
    pitch_deg: ArrayLike, yaw_deg: ArrayLike, r: ArrayLike, rotation_only: bool = False
) -> NDArray[np.float64]:
    """InSpatio's ``sphere2pose``: per-frame (pitch, yaw, r) → ``[N, 4, 4]`` OpenCV c2w (float64)."""
    p = np.deg2rad(np.atleast_1d(np.asarray(pitch_deg, dtype=np.float64)))
    y = np.deg2rad(np.atleast_1d(np.asarray(yaw_deg, dtype=np.float64)))
    rr = np.atleast_1d(np.asarray(r, dtype=np.float64))
    p, y, rr = np.broadcast_arrays(p, y, rr)
    cp, sp, cy, sy = np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    n = len(p)
    ry = np.zeros((n, 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1.0, -sy, cy
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1.0, cp, sp, -sp, cp
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = ry @ rx
    if not rotation_only:
        c2w[:, :3, 3] = np.stack([-rr * cp * sy, -rr * sp, rr - rr * cp * cy], axis=-1)
    if np.all(p == 0) and np.all(y == 0):  # pure dolly along +z (applied after rotation_only, as InSpatio)
        c2w[:, :3, 3] = np.stack([np.zeros(n), np.zeros(n), rr], axis=-1)
    return c2w


def pose2sphere(
    c2w: ArrayLike, atol: float = 1e-6
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`sphere2pose` for orbit poses → ``(pitch_deg, yaw_deg, r)`` per frame.

    Raises:
        ValueError: if a pose is not of the orbit form (roll present or translation off the orbit).
    """
    m = np.asarray(c2w, dtype=np.float64).reshape(-1, 4, 4)
    z = m[:, :3, 2]
    pitch = np.arcsin(np.clip(z[:, 1], -1, 1))
    yaw = np.arctan2(z[:, 0], z[:, 2])
    d = np.array([0.0, 0.0, 1.0]) - z
    dd = np.einsum("ni,ni->n", d, d)
    t = m[:, :3, 3]
    r = np.where(dd > 1e-12, np.einsum("ni,ni->n", t, d) / np.maximum(dd, 1e-300), t[:, 2])
    rebuilt = sphere2pose(np.rad2deg(pitch), np.rad2deg(yaw), r)
    dolly = dd <= 1e-12
    rebuilt[dolly, :3, 3] = np.stack([np.zeros(dolly.sum()), np.zeros(dolly.sum()), r[dolly]], -1)
    if not np.allclose(rebuilt, m, atol=atol):
        worst = int(np.abs(rebuilt - m).reshape(len(m), -1).max(-1).argmax())
        raise ValueError(f"pose {worst} is not an InSpatio orbit pose (sphere2pose cannot represent it)")
    return np.rad2deg(pitch), np.rad2deg(yaw), r


def trajectory_txt_to_poses(
    path: str | Path, num_frames: int, rotation_only: bool = False, spline: str = "smoothing"
) -> NDArray[np.float64]:
    """3-line file → ``[num_frames, 4, 4]`` c2w offsets from the reference camera (see :func:`resample_keyframes`)."""
    pitch, yaw, r = read_trajectory_txt(path)
    return sphere2pose(
        resample_keyframes(pitch, num_frames, spline),
        resample_keyframes(yaw, num_frames, spline),
        resample_keyframes(r, num_frames, spline, pin_ends=True),
        rotation_only=rotation_only,
    )


def _check_poses(poses: ArrayLike, what: str) -> NDArray[np.float64]:
    try:
        m = np.asarray(poses, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrajectoryFormatError(f"{what}: expected numeric [T, 4, 4] poses ({exc})") from None
    if m.ndim != 3 or m.shape[1:] != (4, 4) or len(m) == 0:
        raise TrajectoryFormatError(f"{what}: expected [T, 4, 4] poses with T >= 1, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise TrajectoryFormatError(f"{what}: poses contain non-finite values")
    return m


def write_c2w_npy(path: str | Path, c2w: ArrayLike) -> Path:
    """Write ``[T, 4, 4]`` float64 camera-to-world poses (FORK ``--target_pose_path``)."""
    path = Path(path)
    np.save(path, _check_poses(c2w, str(path)))
    return path


def read_c2w_npy(path: str | Path) -> NDArray[np.float64]:
    """Read ``[T, 4, 4]`` c2w poses (no pickles).

    Raises:
        TrajectoryFormatError: a missing, truncated or non-``.npy`` file, or not finite ``[T, 4, 4]`` poses.
    """
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        detail = " ".join(str(exc).split())[:120]
        raise TrajectoryFormatError(f"{path}: not a readable .npy array of [T, 4, 4] poses ({detail})") from None
    if not isinstance(arr, np.ndarray):
        raise TrajectoryFormatError(f"{path}: expected a .npy array of [T, 4, 4] poses, got an archive")
    return _check_poses(arr, str(path))


def write_tcw_txt(path: str | Path, w2c: ArrayLike) -> Path:
    """Write InSpatio v1.5 ``target_tcw.txt``: one line per frame, 16 row-major numbers (OpenCV w2c)."""
    path = Path(path)
    m = _check_poses(w2c, str(path))
    path.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in m.reshape(len(m), 16)))
    return path


def read_tcw_txt(path: str | Path) -> NDArray[np.float64]:
    """Read a v1.5 pose file → ``[T, 4, 4]`` world-to-camera matrices.

    Raises:
        TrajectoryFormatError: a line without exactly 16 finite numbers, a blank line between rows, a binary
            or missing file; the message names the file and the line.
    """
    path = Path(path)
    rows = []
    for i, line in enumerate(_text_lines(path)):
        vals = _numbers(path, i + 1, line, "pose row")
        if len(vals) != 16:
            raise TrajectoryFormatError(f"{path}:{i + 1}: expected 16 numbers per line, found {len(vals)}")
        rows.append(vals)
    return _check_poses(np.array(rows, dtype=np.float64).reshape(-1, 4, 4), str(path))
