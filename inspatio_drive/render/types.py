"""Data types of the geometric renderer.

Frames: ``ego0`` is the current rear axle (x forward, y left, z up; metres), the frame every point
cloud and candidate trajectory of this package lives in. Cameras are OpenCV (x right, y down,
z forward); intrinsics are pinhole matrices in pixels of the image size they are stored with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from inspatio_drive.geometry.intrinsics import NAVSIM_IMAGE_SIZE, resize_intrinsics
from inspatio_drive.geometry.se3 import as_float64

STATIC = -1  # instance id of static points


@dataclass
class ObjectTracks:
    """Boxes of tracked objects over time, in the ego0 frame.

    Attributes:
        tokens: ``M`` track tokens.
        times: float64 ``[S]`` sample times in seconds relative to now (history < 0, now = 0, future > 0).
        poses: float64 ``[M, S, 3]`` box centre (x, y) and heading (rad) in ego0.
        valid: bool ``[M, S]`` whether the object was observed at that sample.
        sizes: float64 ``[M, 3]`` (length, width, height) metres.
        z: float64 ``[M]`` box centre height in ego0 (metres).
        source: where the boxes come from (``"annotations"`` = logged ground truth, or a detector / planner).
    """

    tokens: list[str]
    times: torch.Tensor
    poses: torch.Tensor
    valid: torch.Tensor
    sizes: torch.Tensor
    z: torch.Tensor
    source: str = "annotations"

    def __post_init__(self) -> None:
        m, s = len(self.tokens), len(self.times)
        if self.poses.shape != (m, s, 3) or self.valid.shape != (m, s):
            raise ValueError(
                f"ObjectTracks: poses must be [{m}, {s}, 3] and valid [{m}, {s}], "
                f"got {tuple(self.poses.shape)} and {tuple(self.valid.shape)}"
            )
        if self.sizes.shape != (m, 3) or self.z.shape != (m,):
            raise ValueError(f"ObjectTracks: sizes must be [{m}, 3] and z [{m}]")

    def __len__(self) -> int:
        return len(self.tokens)

    def pose_now(self) -> torch.Tensor:
        """``[M, 3]`` poses at t = 0 (the sample closest to 0 where the object is valid)."""
        idx = int(torch.argmin(self.times.abs()))
        return self.poses[:, idx]


@dataclass
class ColoredPoints:
    """A coloured point cloud in the ego0 frame.

    Attributes:
        xyz: float32 ``[N, 3]`` metres, ego0.
        rgb: uint8 ``[N, 3]``.
        instance: int64 ``[N]``: ``-1`` static, else the index of the track in ``tracks`` the point moves with.
        tracks: the object tracks ``instance`` refers to (``None`` if every point is static).
        meta: provenance (sweeps used, voxel size, colouring statistics, ...).
    """

    xyz: torch.Tensor
    rgb: torch.Tensor
    instance: torch.Tensor
    tracks: ObjectTracks | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.xyz.shape[0]
        if self.xyz.shape != (n, 3) or self.rgb.shape != (n, 3) or self.instance.shape != (n,):
            raise ValueError(
                f"ColoredPoints: expected xyz [N, 3], rgb [N, 3], instance [N]; got {tuple(self.xyz.shape)}, "
                f"{tuple(self.rgb.shape)}, {tuple(self.instance.shape)}"
            )
        if self.rgb.dtype != torch.uint8:
            raise ValueError(f"ColoredPoints.rgb must be uint8, got {self.rgb.dtype}")

    def __len__(self) -> int:
        return self.xyz.shape[0]

    def to(self, device: torch.device | str) -> ColoredPoints:
        return ColoredPoints(
            self.xyz.to(device), self.rgb.to(device), self.instance.to(device), self.tracks, dict(self.meta)
        )


@dataclass
class RenderCameras:
    """A camera rig: ``C`` cameras with intrinsics for one image size.

    Attributes:
        names: ``C`` camera names.
        intrinsics: float64 ``[C, 3, 3]`` in pixels of ``image_size``.
        T_ego_cam: float64 ``[C, 4, 4]`` camera (OpenCV) → ego (rear axle).
        image_size: ``(width, height)`` the intrinsics refer to.
        resize_rule: how :meth:`resized` rescales the intrinsics: ``plain`` (NAVSIM / DrivoR) or
            ``pixel_centre`` (:func:`~inspatio_drive.geometry.intrinsics.resize_rule` per data source).
    """

    names: tuple[str, ...]
    intrinsics: torch.Tensor
    T_ego_cam: torch.Tensor
    image_size: tuple[int, int]
    resize_rule: str = "plain"

    def __post_init__(self) -> None:
        c = len(self.names)
        if self.intrinsics.shape != (c, 3, 3) or self.T_ego_cam.shape != (c, 4, 4):
            raise ValueError(
                f"RenderCameras: expected intrinsics [{c}, 3, 3] and T_ego_cam [{c}, 4, 4], "
                f"got {tuple(self.intrinsics.shape)} and {tuple(self.T_ego_cam.shape)}"
            )

    @classmethod
    def from_rig(
        cls, rig: Mapping[str, tuple[np.ndarray, np.ndarray]], image_size: tuple[int, int]
    ) -> RenderCameras:
        """From ``{name: (K [3, 3], T_ego_cam [4, 4])}`` (e.g. :func:`nuplan_like_rig`) with K for ``image_size``."""
        names = tuple(rig)
        k = torch.stack([as_float64(rig[n][0]) for n in names])
        t = torch.stack([as_float64(rig[n][1]) for n in names])
        return cls(names, k, t, (int(image_size[0]), int(image_size[1])))

    @classmethod
    def from_cameras(
        cls,
        cameras: Mapping[str, Any],
        names: Sequence[str] | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> RenderCameras:
        """From ``inspatio_drive.data.types.Camera`` objects whose intrinsics are in pixels of ``image_size``.

        ``image_size=None``: the cameras' own size (``Camera.image_size``: the loaded images', which must agree
        — the sandbox writes 480×270, NAVSIM 1920×1080 — else NAVSIM's 1920×1080 when no image is loaded)."""
        names = tuple(cameras) if names is None else tuple(names)
        missing = [n for n in names if n not in cameras]
        if missing:
            raise KeyError(f"cameras {missing} not in the frame (has {sorted(cameras)})")
        if image_size is None:
            sizes = {c.image_size for n in names if (c := cameras[n]).is_loaded}
            if len(sizes) > 1:
                raise ValueError(f"cameras {list(names)} have images of different sizes {sorted(sizes)}")
            image_size = sizes.pop() if sizes else NAVSIM_IMAGE_SIZE
        k = torch.stack([as_float64(cameras[n].intrinsics) for n in names])
        t = torch.stack([as_float64(cameras[n].T_ego_cam) for n in names])
        return cls(names, k, t, (int(image_size[0]), int(image_size[1])))

    def resized(self, image_size: tuple[int, int]) -> RenderCameras:
        """The same rig with intrinsics for images stretched to ``image_size`` (by :attr:`resize_rule`)."""
        k = resize_intrinsics(
            self.intrinsics, self.image_size, image_size, half_pixel=self.resize_rule == "pixel_centre"
        )
        return replace(self, intrinsics=k, image_size=(int(image_size[0]), int(image_size[1])))

    def with_resize_rule(self, rule: str) -> RenderCameras:
        """The same rig resizing by ``rule`` (``plain`` | ``pixel_centre``)."""
        if rule not in ("plain", "pixel_centre"):
            raise ValueError(f"resize_rule must be 'plain' or 'pixel_centre', got {rule!r}")
        return replace(self, resize_rule=rule)

    def subset(self, names: Sequence[str]) -> RenderCameras:
        idx = [self.names.index(n) for n in names]
        return replace(self, names=tuple(names), intrinsics=self.intrinsics[idx], T_ego_cam=self.T_ego_cam[idx])


@dataclass
class RenderBatch:
    """Rendered views of ``K`` candidates × ``T`` poses × ``C`` cameras at ``H × W``.

    Attributes:
        rgb: uint8 ``[K, T, C, 3, H, W]`` (0 where not valid).
        depth: float32 ``[K, T, C, H, W]`` metres along the optical axis (``inf`` where not valid).
        valid: bool ``[K, T, C, H, W]`` a point covers the pixel (hole-filled pixels included).
        point_index: int32 ``[K, T, C, H, W]`` index into the rendered ``ColoredPoints`` (−1 where not valid).
        T_cam_ego0: float64 ``[K, T, C, 4, 4]`` world(ego0)-to-camera poses used.
        intrinsics: float64 ``[C, 3, 3]`` in pixels of ``(W, H)``.
        camera_names: ``C`` names.
        dynamic_mode: how dynamic objects were moved (``static``, ``privileged``, ``constant_velocity``,
            ``forecast``), recorded so that honest and privileged results never mix silently.
        meta: anything else (splat size, hole filling, timings).
    """

    rgb: torch.Tensor | None
    depth: torch.Tensor | None
    valid: torch.Tensor
    point_index: torch.Tensor | None
    T_cam_ego0: torch.Tensor
    intrinsics: torch.Tensor
    camera_names: tuple[str, ...]
    dynamic_mode: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(K, T, C, H, W)``."""
        return tuple(self.valid.shape)

    def coverage(self) -> torch.Tensor:
        """float32 ``[K, T, C]`` fraction of valid pixels per view."""
        return self.valid.float().mean(dim=(-1, -2))


def render_cameras(cameras: Mapping[str, Any], names: Sequence[str]) -> RenderCameras:
    """``RenderCameras`` of ``names`` at the size of their loaded images (:meth:`RenderCameras.from_cameras`)."""
    return RenderCameras.from_cameras(cameras, names)
