"""OpenScene / NAVSIM log pickles → typed :class:`~inspatio_drive.data.types.Frame` objects.

A log pickle (``navsim_logs/<split>/<log_name>.pkl``) is a list of frame dicts at 2 Hz in time order
(schema: OpenScene ``create_openscene_metadata.py``). It is read through the restricted unpickler of
:mod:`inspatio_drive.data.safe_pickle`, and every field this package uses is checked: a malformed log
raises :class:`LogFormatError` naming the file, the frame index (and token), the field and what was
expected, instead of producing a silently wrong frame.

Conventions (navsim v1.1, ``navsim/common/dataclasses.py``):

* global ego pose = ``(ego2global_translation[0], ego2global_translation[1], yaw)`` with ``yaw`` =
  pyquaternion ``Quaternion(*ego2global_rotation).yaw_pitch_roll[0]``, quaternion order (w, x, y, z);
  float64, UTM metres / rad of the rear axle.
* ``ego_dynamic_state = [vx, vy, ax, ay]`` in the ego frame of that frame → float32 ``[2]`` + ``[2]``.
* ``cams[CAM_*].sensor2lidar_*`` = camera → ego (rear axle), OpenCV axes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyquaternion import Quaternion

from inspatio_drive.contracts.errors import LogFormatError, brief_repr
from inspatio_drive.data.safe_pickle import safe_load
from inspatio_drive.data.types import CAMERA_NAMES, Annotations, Camera, EgoStatus, Frame, Lidar

#: Frame-dict keys every reader needs (``anns`` is optional: absent in private test logs).
REQUIRED_FRAME_KEYS: tuple[str, ...] = (
    "token",
    "timestamp",
    "log_name",
    "map_location",
    "roadblock_ids",
    "ego2global_translation",
    "ego2global_rotation",
    "ego_dynamic_state",
    "driving_command",
    "traffic_lights",
    "cams",
    "lidar_path",
)
_CAMERA_KEYS = ("data_path", "sensor2lidar_rotation", "sensor2lidar_translation", "cam_intrinsic", "distortion")


def _where(source: str, index: int | None, frame: Mapping[str, Any] | None = None) -> str:
    if index is None:
        return source
    token = frame.get("token") if isinstance(frame, Mapping) else None
    return f"{source}: frame {index}" + (f" (token {token})" if isinstance(token, str) else "")


def _fail(source: str, index: int | None, frame: Mapping[str, Any] | None, field: str, expected: str, got: Any) -> None:
    shown = brief_repr(got, 80)
    raise LogFormatError(f"{_where(source, index, frame)}: field '{field}': expected {expected}, got {shown}")


def get_field(frame: Mapping[str, Any], key: str, source: str, index: int) -> Any:
    """``frame[key]`` or a :class:`LogFormatError` naming file, frame and the missing field."""
    try:
        return frame[key]
    except KeyError:
        raise LogFormatError(
            f"{_where(source, index, frame)}: missing field '{key}' (OpenScene frame dict expected)"
        ) from None


def float_array(
    value: Any, shape: tuple[int, ...], field: str, source: str, index: int, frame: Mapping[str, Any] | None = None
) -> NDArray[np.float64]:
    """Convert a field to a finite float64 array of the given shape (``-1`` = any length), or fail clearly."""
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "iuf":  # no strings parsed as numbers, no complex / bool / object values
            raise TypeError(raw.dtype)
        arr = raw.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        _fail(source, index, frame, field, f"numeric array of shape {shape}", value)
    got = arr.shape
    if got != shape and (len(got) != len(shape) or any(s != -1 and s != a for s, a in zip(shape, got))):
        _fail(source, index, frame, field, f"numeric array of shape {shape}", f"shape {got}")
    if not np.isfinite(arr).all():
        _fail(source, index, frame, field, "finite values", value)
    return arr


def global_ego_pose(frame: Mapping[str, Any], source: str = "<log>", index: int = 0) -> NDArray[np.float64]:
    """Global rear-axle pose float64 ``[3]`` (x, y, heading) of one frame dict, exactly as navsim computes it."""
    t = float_array(get_field(frame, "ego2global_translation", source, index), (-1,), "ego2global_translation", source, index, frame)
    if t.shape[0] < 2:
        _fail(source, index, frame, "ego2global_translation", "at least (x, y)", t)
    q = float_array(get_field(frame, "ego2global_rotation", source, index), (4,), "ego2global_rotation", source, index, frame)
    if not np.dot(q, q) > 1e-12:
        _fail(source, index, frame, "ego2global_rotation", "a non-zero quaternion (w, x, y, z)", q)
    yaw = Quaternion(*q).yaw_pitch_roll[0]
    return np.array([t[0], t[1], yaw], dtype=np.float64)


def ego_dynamics(frame: Mapping[str, Any], source: str = "<log>", index: int = 0) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(velocity [2], acceleration [2])`` float32 in the ego frame, from ``ego_dynamic_state``."""
    state = float_array(get_field(frame, "ego_dynamic_state", source, index), (4,), "ego_dynamic_state", source, index, frame)
    return np.array(state[:2], dtype=np.float32), np.array(state[2:], dtype=np.float32)


def driving_command(frame: Mapping[str, Any], source: str = "<log>", index: int = 0) -> NDArray[np.int64]:
    """One-hot ``[4]`` (left, straight, right, unknown) as int64."""
    value = get_field(frame, "driving_command", source, index)
    try:
        arr = np.asarray(value)
        ok = arr.shape == (4,) and np.issubdtype(arr.dtype, np.number) and bool(((arr == 0) | (arr == 1)).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        _fail(source, index, frame, "driving_command", "one-hot int array of shape (4,)", value)
    return arr.astype(np.int64)


def _str_field(frame: Mapping[str, Any], key: str, source: str, index: int) -> str:
    value = get_field(frame, key, source, index)
    if not isinstance(value, str):
        _fail(source, index, frame, key, "str", value)
    return value


def camera_from_dict(
    name: str, cam: Any, source: str, index: int, frame: Mapping[str, Any] | None = None
) -> Camera:
    """One ``cams[name]`` entry → :class:`Camera` with calibration, image not loaded."""
    field = f"cams.{name}"
    if not isinstance(cam, Mapping):
        _fail(source, index, frame, field, "dict with " + ", ".join(_CAMERA_KEYS), cam)
    missing = [k for k in _CAMERA_KEYS if k not in cam]
    if missing:
        _fail(source, index, frame, field, "keys " + ", ".join(_CAMERA_KEYS), f"dict missing {missing}")
    if not isinstance(cam["data_path"], str):
        _fail(source, index, frame, f"{field}.data_path", "str (path relative to sensor_blobs/<split>)", cam["data_path"])
    return Camera(
        name=name,
        image=None,
        intrinsics=float_array(cam["cam_intrinsic"], (3, 3), f"{field}.cam_intrinsic", source, index, frame),
        sensor2ego_rotation=float_array(cam["sensor2lidar_rotation"], (3, 3), f"{field}.sensor2lidar_rotation", source, index, frame),
        sensor2ego_translation=float_array(
            cam["sensor2lidar_translation"], (3,), f"{field}.sensor2lidar_translation", source, index, frame
        ),
        distortion=float_array(cam["distortion"], (5,), f"{field}.distortion", source, index, frame),
        data_path=cam["data_path"],
    )


def cameras_from_dict(frame: Mapping[str, Any], source: str, index: int, names: Sequence[str] = CAMERA_NAMES) -> dict[str, Camera]:
    """``frame["cams"]`` → ``{CAM_*: Camera}`` for ``names`` (all eight must be present in the log)."""
    cams = get_field(frame, "cams", source, index)
    if not isinstance(cams, Mapping):
        _fail(source, index, frame, "cams", "dict CAM_F0..CAM_B0", cams)
    absent = [n for n in CAMERA_NAMES if n not in cams]
    if absent:
        _fail(source, index, frame, "cams", f"all eight cameras {list(CAMERA_NAMES)}", f"dict missing {absent}")
    return {n: camera_from_dict(n, cams[n], source, index, frame) for n in names}


def annotations_from_dict(frame: Mapping[str, Any], source: str, index: int) -> Annotations | None:
    """``frame["anns"]`` → :class:`Annotations` (ego frame), or ``None`` when the log has no ``anns``."""
    anns = frame.get("anns")
    if anns is None:
        return None
    if not isinstance(anns, Mapping):
        _fail(source, index, frame, "anns", "dict", anns)
    for key in ("gt_boxes", "gt_names", "gt_velocity_3d", "instance_tokens", "track_tokens"):
        if key not in anns:
            _fail(source, index, frame, f"anns.{key}", "present", "missing")
    boxes = float_array(anns["gt_boxes"], (-1, 7), "anns.gt_boxes", source, index, frame)
    if len(boxes):
        velocity = float_array(anns["gt_velocity_3d"], (len(boxes), 3), "anns.gt_velocity_3d", source, index, frame)
    else:  # no boxes: navsim stores an empty (or dummy) velocity array of any shape
        velocity = np.zeros((0, 3))
    for key in ("gt_names", "instance_tokens", "track_tokens"):
        value = anns[key]
        is_list = isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)
        if not is_list or len(value) != len(boxes):
            _fail(source, index, frame, f"anns.{key}", f"a list with one entry per box ({len(boxes)})",
                  f"length {len(value)}" if is_list else value)
    try:
        return Annotations(
            boxes=boxes,
            names=[str(n) for n in anns["gt_names"]],
            velocity_3d=velocity,
            instance_tokens=list(anns["instance_tokens"]),
            track_tokens=list(anns["track_tokens"]),
        )
    except ValueError as exc:
        raise LogFormatError(f"{_where(source, index, frame)}: field 'anns': {exc}") from None


def ego_status_from_dict(frame: Mapping[str, Any], source: str = "<log>", index: int = 0) -> EgoStatus:
    """Global :class:`EgoStatus` (``in_global_frame=True``) of one frame dict."""
    velocity, acceleration = ego_dynamics(frame, source, index)
    return EgoStatus(
        ego_pose=global_ego_pose(frame, source, index),
        ego_velocity=velocity,
        ego_acceleration=acceleration,
        driving_command=driving_command(frame, source, index),
        in_global_frame=True,
    )


def _traffic_lights(frame: Mapping[str, Any], source: str, index: int) -> list[tuple[int, bool]]:
    value = get_field(frame, "traffic_lights", source, index)
    out: list[tuple[int, bool]] = []
    try:
        for lane_connector_id, is_red in value:
            out.append((int(lane_connector_id), bool(is_red)))
    except (TypeError, ValueError):
        _fail(source, index, frame, "traffic_lights", "list of (lane_connector_id, is_red)", value)
    return out


def roadblock_ids(frame: Mapping[str, Any], source: str = "<log>", index: int = 0) -> list[str]:
    """Route roadblock ids (``list[str]``) of one frame dict."""
    value = get_field(frame, "roadblock_ids", source, index)
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        _fail(source, index, frame, "roadblock_ids", "list of str", value)
    return [str(r) for r in value]


def frame_from_dict(
    frame: Any, source: str = "<log>", index: int = 0, cameras: dict[str, Camera] | None = None, lidar: Lidar | None = None
) -> Frame:
    """One OpenScene frame dict → :class:`Frame` (global ego status; sensors described, not loaded).

    ``cameras`` / ``lidar``: already built sensors to use instead of parsing ``cams`` / ``lidar_path``.
    """
    if not isinstance(frame, Mapping):
        raise LogFormatError(f"{source}: frame {index}: expected a frame dict, got {type(frame).__name__}")
    timestamp = get_field(frame, "timestamp", source, index)
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, np.integer)):
        _fail(source, index, frame, "timestamp", "int (µs)", timestamp)
    if lidar is None:
        lidar = Lidar(points=None, data_path=_str_field(frame, "lidar_path", source, index))
    return Frame(
        token=_str_field(frame, "token", source, index),
        timestamp=int(timestamp),
        roadblock_ids=roadblock_ids(frame, source, index),
        traffic_lights=_traffic_lights(frame, source, index),
        annotations=annotations_from_dict(frame, source, index),
        ego_status=ego_status_from_dict(frame, source, index),
        lidar=lidar,
        cameras=cameras_from_dict(frame, source, index) if cameras is None else cameras,
    )


def read_raw_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Load a log pickle safely and check it is a list of dicts (fields are checked when used).

    Also checks what ordering needs: every frame has an int ``timestamp`` (µs) and the timestamps strictly
    increase (a log out of time order would window scenes with a wrong past / future).

    Raises:
        LogFormatError: not a list of frame dicts, or a missing / non-int / non-increasing timestamp.
        inspatio_drive.data.safe_pickle.UnsafePickleError: a forbidden global in the pickle.
        inspatio_drive.data.safe_pickle.CorruptPickleError: a truncated or corrupt pickle.
    """
    path = Path(path)
    frames = safe_load(path)
    if not isinstance(frames, list):
        raise LogFormatError(f"{path}: expected a list of frame dicts, got {type(frames).__name__}")
    previous: int | None = None
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise LogFormatError(f"{path}: frame {i}: expected a frame dict, got {type(frame).__name__}")
        timestamp = frame.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, np.integer)):
            _fail(str(path), i, frame, "timestamp", "int (µs)", "missing" if timestamp is None else timestamp)
        if previous is not None and int(timestamp) <= previous:
            _fail(str(path), i, frame, "timestamp", f"strictly increasing (frames in time order; previous frame {previous} µs)",
                  int(timestamp))
        previous = int(timestamp)
    return frames


def read_log(path: str | os.PathLike[str]) -> list[Frame]:
    """Read an OpenScene log pickle into typed frames (time order, 2 Hz).

    Each :class:`Frame` has the global ego status, route roadblock ids, traffic lights, annotations
    (``None`` if the log has none), camera calibrations (``image=None``) and the LiDAR path
    (``points=None``); load sensors with :class:`~inspatio_drive.data.loader.SceneLoader`.

    Raises:
        LogFormatError: a missing or malformed field (file, frame index/token, field, expectation).
        inspatio_drive.data.safe_pickle.UnsafePickleError: the pickle references a forbidden global.
    """
    source = str(path)
    for i, frame in enumerate(raw := read_raw_log(path)):
        missing = [k for k in REQUIRED_FRAME_KEYS if k not in frame]
        if missing:
            raise LogFormatError(f"{_where(source, i, frame)}: missing field(s) {missing} (OpenScene frame dict expected)")
    return [frame_from_dict(f, source, i) for i, f in enumerate(raw)]
