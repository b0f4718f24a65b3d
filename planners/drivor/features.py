"""DrivoR's input features from an :class:`~inspatio_drive.data.types.AgentInput` (``drivor_features.py``).

* ``image``: float32 ``[n_cams, 3, H, W]`` from the **current** (last history) frame, cameras in DrivoR's
  order (F0, B0, L0, L1, L2, R0, R1, R2 restricted to the configured ones: F0, B0, L0, R0 by default),
  each resized with Pillow's BICUBIC filter to ``image_size`` (W, H) = 1148×672 and normalised with the
  ImageNet mean/std in float32 (``(u8 / 255 − mean) / std``), RGB, channels first. A configured camera
  without an image is an error (``allow_missing_cameras=True`` pads it with zeros, as the official code
  does for simulated data).
* ``ego_status``: float32 ``[T_hist, 11]``, one row per history frame (oldest first): pose (x, y, heading)
  relative to the current rear axle, velocity (vx, vy), acceleration (ax, ay), driving command one-hot
  (left, straight, right, unknown). The model reads only the last row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from inspatio_drive.data.types import AgentInput, EgoStatus

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_CAMERAS: tuple[str, ...] = ("CAM_F0", "CAM_B0", "CAM_L0", "CAM_R0")


def normalize_image(image: NDArray[np.uint8]) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` RGB -> float32 ``[3, H, W]`` ImageNet-normalised (float32 arithmetic)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"normalize_image: expected uint8 [H, W, 3] RGB, got {image.dtype} {image.shape}")
    x = (np.asarray(image, dtype=np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def resize_image(image: NDArray[np.uint8], size_wh: tuple[int, int]) -> NDArray[np.uint8]:
    """Resize uint8 ``[H, W, 3]`` to ``size_wh`` (W, H) with Pillow BICUBIC (DrivoR's ``Image.resize``)."""
    w, h = size_wh
    if image.shape[1] == w and image.shape[0] == h:
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BICUBIC))


def ego_status_row(status: EgoStatus) -> torch.Tensor:
    """One 11-d row: pose (3), velocity (2), acceleration (2), driving command (4), float32."""
    parts = [
        np.asarray(status.ego_pose, dtype=np.float32).reshape(3),
        np.asarray(status.ego_velocity, dtype=np.float32).reshape(2),
        np.asarray(status.ego_acceleration, dtype=np.float32).reshape(2),
        np.asarray(status.driving_command, dtype=np.float32).reshape(4),
    ]
    return torch.from_numpy(np.concatenate(parts))


def build_drivor_features(
    agent_input: AgentInput,
    cameras: Sequence[str] = DEFAULT_CAMERAS,
    image_size: tuple[int, int] = (1148, 672),
    allow_missing_cameras: bool = False,
) -> dict[str, torch.Tensor]:
    """Unbatched DrivoR features ``{"image": [n_cams, 3, H, W], "ego_status": [T_hist, 11]}``.

    Args:
        agent_input: NAVSIM agent input (history frames oldest first).
        cameras: camera names in DrivoR's order.
        image_size: (W, H) the images are resized to.
        allow_missing_cameras: pad an absent camera image with zeros instead of raising.

    Raises:
        ValueError: if the agent input has no frames, or a camera is absent / not loaded.
    """
    if not agent_input.ego_statuses or not agent_input.cameras:
        raise ValueError("build_drivor_features: the agent input has no history frames")
    w, h = image_size
    current = agent_input.cameras[-1]
    images = []
    for name in cameras:
        cam = current.get(name)
        if cam is None or cam.image is None:
            if allow_missing_cameras:
                images.append(torch.zeros(3, h, w))
                continue
            state = "absent" if cam is None else "not loaded"
            raise ValueError(
                f"build_drivor_features: camera {name} of the current frame is {state}; DrivoR needs {list(cameras)} "
                "(load them with the scene loader's sensor config, or set allow_missing_cameras)"
            )
        images.append(normalize_image(resize_image(cam.image, (w, h))))
    ego = torch.stack([ego_status_row(s) for s in agent_input.ego_statuses])
    return {"image": torch.stack(images), "ego_status": ego}
