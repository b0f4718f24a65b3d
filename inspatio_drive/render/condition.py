"""InSpatio-World condition export for one scene and one candidate trajectory.

Writes, for one camera along the candidate (poses interpolated from 2 Hz to ``fps``, t = 0 included; with an
InSpatio trajectory file laid over it: :mod:`inspatio_drive.geometry.camera_path`):

* ``render.mp4``: the geometric render (black holes), H.264 ``yuv420p``, 832×480 by default;
* ``mask.mp4``: 255 where the render has content, 0 in holes (InSpatio thresholds it at 0.5 and maps
  known → +1, hole → −1); lossless by default (``crf 0``), as InSpatio v1.5 writes its masks;
* ``poses_c2w.npy``: ``[N, 4, 4]`` float64 camera-to-world of the rendered camera with the source camera at
  t = 0 as the world (the FORK's ``--target_pose_path``);
* ``target_tcw.txt``: the same poses as OpenCV world-to-camera, 16 numbers per line (InSpatio v1.5);
* ``intrinsics.txt``: the 3×3 matrix at the output size; ``source.png``: the current image of that
  camera stretched to the output size (if loaded); ``condition.json``: provenance, including
  ``dynamic_mode``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from inspatio_drive.geometry.camera_path import CameraPathOptions, build_camera_path
from inspatio_drive.geometry.inspatio_io import write_c2w_npy, write_tcw_txt
from inspatio_drive.render.renderer import render_candidates
from inspatio_drive.render.types import ColoredPoints, RenderBatch, RenderCameras

INSPATIO_SIZE = (832, 480)


def write_video(path: str | Path, frames: NDArray[np.uint8], fps: float, crf: int = 18) -> Path:
    """Write ``[N, H, W, 3]`` uint8 RGB (or ``[N, H, W]`` grey) frames as H.264 ``yuv420p`` mp4 (PyAV).

    ``crf = 0`` is lossless for grey frames (no chroma to subsample)."""
    import av  # lazy: video codec, only when a video is written

    path = Path(path)
    f = np.asarray(frames)
    if f.ndim == 3:
        f = np.repeat(f[..., None], 3, axis=-1)
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 [N, H, W, 3], got {f.dtype} {f.shape}")
    if f.shape[1] % 2 or f.shape[2] % 2:
        raise ValueError(f"{path}: yuv420p needs even width and height, got {f.shape[2]}×{f.shape[1]}")

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = f.shape[2], f.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)} if crf > 0 else {"qp": "0"}
        for frame in f:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_video(path: str | Path) -> NDArray[np.uint8]:
    """``[N, H, W, 3]`` uint8 RGB frames of a video."""
    import av  # lazy: video codec, only when a video is written

    with av.open(str(path)) as container:
        return np.stack([fr.to_ndarray(format="rgb24") for fr in container.decode(video=0)])


def render_condition(
    points: ColoredPoints,
    trajectory: NDArray[np.floating] | torch.Tensor,
    cameras: RenderCameras,
    camera: str = "CAM_F0",
    image_size: tuple[int, int] = INSPATIO_SIZE,
    fps: float = 24.0,
    splat: int = 2,
    hole_fill: int = 2,
    dynamic_mode: str = "static",
    interval: float = 0.5,
    path_options: CameraPathOptions | None = None,
) -> tuple[RenderBatch, NDArray[np.float64], NDArray[np.float64], dict[str, Any]]:
    """Render one camera along one candidate at ``fps`` (with an optional trajectory file, ``path_options``:
    :mod:`inspatio_drive.geometry.camera_path`).

    Args:
        trajectory: ``[T, 3]`` (x, y, heading) at ``interval``, 2·``interval``, … (current rear-axle frame).

    Returns:
        ``(batch [1, N, 1, ...], times [N] s, c2w [N, 4, 4] in the t = 0 camera's frame, path provenance)``.
    """
    traj = torch.as_tensor(trajectory, dtype=torch.float64).cpu().numpy()
    if traj.ndim != 2 or traj.shape[-1] != 3:
        raise ValueError(f"trajectory must be [T, 3] (x, y, heading), got {traj.shape}")
    rig = cameras.subset([camera]).resized(image_size)
    path = build_camera_path(traj, rig.T_ego_cam[0], fps, path_options, interval=interval)
    rb = render_candidates(
        points,
        path.ego[None],
        rig,
        times=path.times,
        splat=splat,
        hole_fill=hole_fill,
        dynamic_mode=dynamic_mode,
        outputs=("rgb", "depth"),
        camera_w2c=path.w2c_ego0(rig.T_ego_cam[0])[None, :, None],
    )
    return rb, path.times, path.c2w, path.meta


def export_condition(
    out_dir: str | Path,
    points: ColoredPoints,
    trajectory: NDArray[np.floating] | torch.Tensor,
    cameras: RenderCameras,
    camera: str = "CAM_F0",
    image_size: tuple[int, int] = INSPATIO_SIZE,
    fps: float = 24.0,
    splat: int = 2,
    hole_fill: int = 2,
    dynamic_mode: str = "static",
    crf: int = 18,
    mask_crf: int = 0,
    source_image: NDArray[np.uint8] | None = None,
    provenance: dict[str, Any] | None = None,
    path_options: CameraPathOptions | None = None,
) -> dict[str, Path]:
    """Render and write the InSpatio-World condition files (see the module docstring) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rb, times, c2w, path_meta = render_condition(
        points, trajectory, cameras, camera, image_size, fps, splat, hole_fill, dynamic_mode,
        path_options=path_options,
    )  # fmt: skip
    rgb = rb.rgb[0, :, 0].permute(0, 2, 3, 1).cpu().numpy()
    mask = rb.valid[0, :, 0].cpu().numpy().astype(np.uint8) * 255
    files = {
        "render": write_video(out / "render.mp4", rgb, fps, crf),
        "mask": write_video(out / "mask.mp4", mask, fps, mask_crf),
        "poses_c2w": write_c2w_npy(out / "poses_c2w.npy", c2w),
        "target_tcw": write_tcw_txt(out / "target_tcw.txt", np.linalg.inv(c2w)),
    }
    k = rb.intrinsics[0].cpu().numpy()
    np.savetxt(out / "intrinsics.txt", k)
    files["intrinsics"] = out / "intrinsics.txt"
    if source_image is not None:

        Image.fromarray(np.asarray(source_image)).resize(image_size, Image.LANCZOS).save(out / "source.png")
        files["source"] = out / "source.png"
    meta = {
        "camera": camera,
        "image_size": list(image_size),
        "fps": fps,
        "num_frames": len(times),
        "times": [float(t) for t in times],
        "splat": splat,
        "hole_fill": hole_fill,
        "dynamic_mode": rb.dynamic_mode,
        "tracks_source": rb.meta["tracks_source"],
        "coverage": [float(c) for c in rb.coverage()[0, :, 0]],
        "pose_convention": "OpenCV camera; world = source camera at t=0; c2w in npy, w2c in txt",
        "camera_path": path_meta,
        "trajectory": np.asarray(torch.as_tensor(trajectory, dtype=torch.float64)).tolist(),
        **(provenance or {}),
    }
    (out / "condition.json").write_text(json.dumps(meta, indent=1))
    files["meta"] = out / "condition.json"
    return files


def condition_frame_count(duration: float, fps: float) -> int:
    """Frames written for ``duration`` seconds at ``fps`` including t = 0 (97 for 4 s at 24 fps = 1 + 4·24,
    a length InSpatio's 4-frame latent grouping uses without dropping frames)."""
    return int(np.floor(duration * fps + 1e-9)) + 1


__all__: Sequence[str] = [
    "condition_frame_count",
    "export_condition",
    "read_video",
    "render_condition",
    "write_video",
]
