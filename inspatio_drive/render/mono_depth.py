"""Monocular depth backends (:class:`~inspatio_drive.render.depth_backend.DepthBackend`) and the ``depth`` knob.

* :class:`DepthAnythingV2` — transformers' ``DepthAnythingForDepthEstimation`` and its image processor, both from a
  local folder (``save_pretrained`` layout: ``config.json``, ``model.safetensors``, ``preprocessor_config.json``).
  Relative checkpoints give an affine-invariant *disparity* (``affine_disparity``); metric ones
  (``depth_estimation_type: metric``) give metres.
* :class:`DepthAnything3` — the optional ``depth_anything_3`` package (``DepthAnything3.from_pretrained(folder)``);
  its depth is up to scale (``scale``) unless told ``metric`` (the DA3-metric checkpoints).
* :class:`LookupDepth` — given depth maps per (frame, camera): the sandbox oracle's true depth (privileged; a
  perfect monocular model, for measuring).
* :class:`NoisyDepth` — wraps a backend with the errors of a real one: a smooth multiplicative noise field of mean
  relative error ``absrel`` and a per-image scale error ``± scale_error`` (for measuring).

:func:`depth_from_config` reads the ``depth`` knob (``lidar | depth_anything | da3 | oracle | lidar+mono``) and the
``mono`` node of a config into the keyword arguments of :func:`~inspatio_drive.render.build_point_cloud`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from inspatio_drive.config import SettingError
from inspatio_drive.render.depth_backend import INVARIANCES, predict_view

#: values of the ``depth.source`` knob
DEPTH_CHOICES = ("lidar", "depth_anything", "da3", "oracle", "lidar+mono")
#: monocular backends (``mono.backend`` picks the one of ``lidar+mono``)
MONO_BACKENDS = ("depth_anything", "da3", "oracle")


def _model_dir(path: Any, knob: str) -> Path:
    if path in (None, "", "null"):
        raise SettingError(f"{knob}: set the local folder of the depth checkpoint (no weights ship with the package)")
    p = Path(str(path)).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"{knob}: {p} is not a folder (expected a local depth checkpoint)")
    return p


class DepthAnythingV2:
    """Depth Anything V2 through transformers, from a local folder.

    Args:
        model_dir: folder with the model and its image processor (``save_pretrained``).
        device: where the network runs.
        invariance: ``auto`` = the checkpoint's (``metric`` for metric checkpoints, else ``affine_disparity``).
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu", invariance: str = "auto") -> None:
        from transformers import (  # lazy: heavy import, only for this backend
            AutoImageProcessor,
            DepthAnythingForDepthEstimation,
        )

        folder = _model_dir(model_dir, "mono.model_dir")
        self.processor = AutoImageProcessor.from_pretrained(str(folder))
        self.model = DepthAnythingForDepthEstimation.from_pretrained(str(folder)).eval().to(device)
        self.device = device
        kind = getattr(self.model.config, "depth_estimation_type", "relative")
        self.invariance = (("metric" if kind == "metric" else "affine_disparity") if invariance == "auto"
                           else _check_invariance(invariance))

    @torch.no_grad()
    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``[H, W, 3]`` uint8 → ``[H, W]`` float32 (bilinearly resized from the network's resolution)."""
        inputs = self.processor(images=Image.fromarray(np.asarray(image)), return_tensors="pt")
        out = self.model(pixel_values=inputs["pixel_values"].to(self.device)).predicted_depth  # [1, h, w]
        full = torch.nn.functional.interpolate(out[:, None].float(), size=image.shape[:2], mode="bilinear",
                                               align_corners=False)
        return full[0, 0].cpu().numpy().astype(np.float32)


class DepthAnything3:
    """Depth Anything 3 through the optional ``depth_anything_3`` package, from a local folder.

    Args:
        invariance: ``auto`` = ``scale`` (DA3's depth is up to scale); ``metric`` for the metric checkpoints.
        process_res: the package's processing resolution.
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu", invariance: str = "auto",
                 process_res: int = 504) -> None:
        try:
            from depth_anything_3.api import DepthAnything3 as _DA3  # lazy: optional package
        except ImportError as exc:
            raise SettingError(
                "depth=da3 needs the depth-anything-3 package (pip install depth-anything-3, or from "
                f"github.com/ByteDance-Seed/depth-anything-3); it is not installed ({exc})"
            ) from exc
        folder = _model_dir(model_dir, "mono.model_dir")
        self.model = _DA3.from_pretrained(str(folder)).to(device).eval()
        self.process_res = int(process_res)
        self.invariance = "scale" if invariance == "auto" else _check_invariance(invariance)

    @torch.no_grad()
    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        pred = self.model.inference([np.asarray(image)], process_res=self.process_res)
        d = torch.as_tensor(np.asarray(pred.depth, dtype=np.float32))[:1, None]  # [1, 1, h, w]
        full = torch.nn.functional.interpolate(d, size=image.shape[:2], mode="bilinear", align_corners=False)
        return full[0, 0].numpy()


class LookupDepth:
    """Depth maps given per view: ``depths[(frame, camera)] -> [H, W]`` metres (``inf`` / 0 = none); e.g. the
    sandbox oracle's true depth (:func:`inspatio_drive.render.fidelity.sandbox_agent_input` ``with_depth``)."""

    def __init__(self, depths: Mapping[tuple[int, str], NDArray[np.floating]], invariance: str = "metric") -> None:
        self.depths = depths
        self.invariance = _check_invariance(invariance)

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        raise ValueError("LookupDepth needs to know the view: call predict_view(image, camera, frame)")

    def predict_view(self, image: NDArray[np.uint8], camera: str, frame: int) -> NDArray[np.float32]:
        if (frame, camera) not in self.depths:
            raise KeyError(f"no given depth for frame {frame}, camera {camera} (have {sorted(self.depths)[:4]} …)")
        d = np.asarray(self.depths[(frame, camera)], dtype=np.float32)
        return np.where(np.isfinite(d), d, 0.0).astype(np.float32)


class NoisyDepth:
    """A backend with a realistic monocular error added (for measuring what camera-only clouds lose).

    ``depth' = depth · exp(n(u, v)) · s``: ``n`` a smooth Gaussian field (``cells`` × ``cells`` pixel correlation,
    std ``absrel · √(π/2)`` so that the mean relative error is about ``absrel``), ``s = 1 ± scale_error`` (random
    sign per image); deterministic per (``seed``, frame, camera).
    """

    def __init__(self, inner: Any, absrel: float = 0.0, scale_error: float = 0.0, seed: int = 0,
                 cells: int = 16, invariance: str | None = None) -> None:
        self.inner = inner
        self.absrel, self.scale_error, self.seed, self.cells = float(absrel), float(scale_error), int(seed), int(cells)
        self.invariance = inner.invariance if invariance is None else _check_invariance(invariance)

    def predict(self, image: NDArray[np.uint8]) -> NDArray[np.float32]:
        return self._noisy(self.inner.predict(image), 0)

    def predict_view(self, image: NDArray[np.uint8], camera: str, frame: int) -> NDArray[np.float32]:
        return self._noisy(predict_view(self.inner, image, camera, frame), zlib.crc32(f'{frame}/{camera}'.encode()))

    def _noisy(self, depth: NDArray, key: int) -> NDArray[np.float32]:
        d = np.asarray(depth, dtype=np.float64)
        h, w = d.shape
        rng = np.random.default_rng([self.seed, key])
        sigma = self.absrel * np.sqrt(np.pi / 2.0)
        coarse = torch.as_tensor(rng.normal(0.0, 1.0, (1, 1, max(2, h // self.cells), max(2, w // self.cells))))
        field = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0, 0]
        field = field.numpy()
        field = field / max(float(field.std()), 1e-9) * sigma
        scale = 1.0 + self.scale_error * (1.0 if rng.random() < 0.5 else -1.0)
        return (d * np.exp(field) * scale).astype(np.float32)


def _check_invariance(value: str) -> str:
    if value not in INVARIANCES:
        raise SettingError(f"mono.invariance: expected auto or one of {INVARIANCES}, got {value!r}")
    return value


def _backend(name: str, node: Mapping[str, Any], oracle_depths: Mapping | None, given: Any = None) -> Any:
    inv = str(node.get("invariance", "auto"))
    device = str(node.get("device", "cpu"))
    if given is not None:
        backend: Any = given
    elif name == "depth_anything":
        backend = DepthAnythingV2(node.get("model_dir"), device, inv)
    elif name == "da3":
        backend = DepthAnything3(node.get("model_dir"), device, inv)
    elif name == "oracle":
        if oracle_depths is None:
            raise SettingError("depth=oracle (or mono.backend=oracle) is the sandbox oracle's true depth: "
                               "only with a sandbox source (render source=sandbox, render-fidelity)")
        backend = LookupDepth(oracle_depths, "metric" if inv == "auto" else inv)
    else:
        raise SettingError(f"mono.backend: expected one of {MONO_BACKENDS}, got {name!r}")
    absrel, scale_err = float(node.get("noise_absrel", 0.0)), float(node.get("noise_scale", 0.0))
    if absrel > 0 or scale_err > 0:
        backend = NoisyDepth(backend, absrel, scale_err, int(node.get("noise_seed", 0)))
    return backend


def wants_oracle_depth(source: str | None, mono: Mapping[str, Any] | None = None) -> bool:
    """Whether the ``depth`` knob (and its ``mono`` node) asks for the sandbox oracle's true depth (privileged)."""
    return source == "oracle" or (source == "lidar+mono" and dict(mono or {}).get("backend") == "oracle")


def depth_from_config(
    source: str | None,
    mono: Mapping[str, Any] | None = None,
    oracle_depths: Mapping | None = None,
    backend: Any = None,
) -> dict[str, Any]:
    """Keyword arguments of :func:`~inspatio_drive.render.build_point_cloud` for the ``depth`` knob.

    Args:
        source: ``lidar`` | ``depth_anything`` | ``da3`` | ``oracle`` | ``lidar+mono`` (``None`` = ``lidar``).
        mono: the ``mono`` config node: ``{backend (of lidar+mono), model_dir, invariance, device, stride, frames,
            camera_height, max_depth, scale_from, noise_absrel, noise_scale, noise_seed, ply_dir}``
            (``configs/render.yaml``).
        oracle_depths: the sandbox oracle's true depths per ``(frame, camera)`` (for ``oracle``).
        backend: a backend object used instead of the one ``source`` / ``mono.backend`` names (the ``noise_*``
            knobs still apply).
    """
    node = dict(mono or {})
    source = str(source or "lidar")
    if source not in DEPTH_CHOICES:
        raise SettingError(f"depth: expected one of {DEPTH_CHOICES}, got {source!r}")
    kw: dict[str, Any] = {"ply_dir": node.get("ply_dir")}
    if source == "lidar":
        return kw
    backend_name = str(node.get("backend", "depth_anything")) if source == "lidar+mono" else source
    kw.update(
        depth="lidar+mono" if source == "lidar+mono" else "mono",
        dense_depth=_backend(backend_name, node, oracle_depths, backend),
        dense_stride=int(node.get("stride", 4)),
        depth_frames=int(node.get("frames", 1)),
        camera_height=None if node.get("camera_height") is None else float(node["camera_height"]),
        max_depth=float(node.get("max_depth", 80.0)),
        mono_scale=str(node.get("scale_from", "auto")),
    )
    return kw
