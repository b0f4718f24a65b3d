"""Assemble the per-candidate future-consistency feature table ``[K, F]`` with names, units and ranges.

Every feature is documented in :data:`FEATURE_SPECS` (unit, range, value used when it cannot be computed).
Inputs are plain tensors (see :class:`ScorerInputs`); each input carries a ``privileged`` flag and
:func:`compute_features` refuses privileged inputs unless the run is explicitly ``mode="privileged"``.

* honest: only what a NAVSIM agent may see — the current (or history) LiDAR / depth of the agent input,
  renders made from it, generated frames conditioned on it.
* privileged: anything from the log future or annotations (sandbox oracle views, future LiDAR, boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from scorers.free_space import free_space
from scorers.motion_recovery import motion_recovery
from scorers.observability import near_path_mask, observability, observed_near_path
from scorers.poses import camera_to_ego0, check_candidates, relative_camera_motion
from scorers.render_agreement import render_agreement
from scorers.vehicle import PACIFICA, Footprint
from scorers.view_consistency import view_consistency

Mode = Literal["honest", "privileged"]


@dataclass(frozen=True)
class FeatureSpec:
    """One feature column: ``name``, ``unit``, value range ``[lo, hi]`` (values are clipped to it),
    ``fill`` used when it cannot be computed (NaN / inf / missing input), feature ``group`` and meaning."""

    name: str
    unit: str
    lo: float
    hi: float
    fill: float
    group: str
    description: str


FEATURE_SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "min_clearance_m",
        "m",
        -PACIFICA.half_width,
        10.0,
        10.0,
        "free_space",
        "min signed distance between the swept ego box and observed points above the ground (<0: overlap)",
    ),
    FeatureSpec(
        "time_to_intrusion_s",
        "s",
        0.0,
        4.0,
        4.0,
        "free_space",
        "first time the swept box comes closer than the margin to an observed point (horizon if never)",
    ),
    FeatureSpec("intrusion", "0/1", 0.0, 1.0, 0.0, "free_space", "1 if the swept box intrudes at all"),
    FeatureSpec(
        "observed_near_path",
        "share",
        0.0,
        1.0,
        0.0,
        "observability",
        "share of near-path ground pixels of the imagined views that are backed by observed geometry",
    ),
    FeatureSpec(
        "view_overlap",
        "share",
        0.0,
        1.0,
        0.0,
        "view_consistency",
        "share of valid pixels of frame t reprojecting onto valid pixels of frame t+1 (commanded motion)",
    ),
    FeatureSpec(
        "view_depth_agreement",
        "share",
        0.0,
        1.0,
        0.0,
        "view_consistency",
        "share of reprojected pixels whose predicted depth agrees with the rendered depth",
    ),
    FeatureSpec(
        "view_photometric_error",
        "rgb L1 in [0,1]",
        0.0,
        1.0,
        1.0,
        "view_consistency",
        "mean absolute colour difference of reprojected pixels between consecutive frames",
    ),
    FeatureSpec(
        "has_generated",
        "0/1",
        0.0,
        1.0,
        0.0,
        "generated",
        "1 if world-model frames exist for this candidate (the generated features below are 0 otherwise)",
    ),
    FeatureSpec(
        "gen_render_l1",
        "rgb L1 in [0,1]",
        0.0,
        1.0,
        0.0,
        "generated",
        "mean absolute difference between generated frames and the geometric render on valid pixels",
    ),
    FeatureSpec(
        "gen_view_photometric_error",
        "rgb L1 in [0,1]",
        0.0,
        1.0,
        0.0,
        "generated",
        "view consistency of the generated frames: consecutive generated frames warped with the render depth",
    ),
    FeatureSpec(
        "gen_rotation_error_deg",
        "deg",
        0.0,
        180.0,
        0.0,
        "generated",
        "median rotation error of the camera motion recovered from generated frames vs the commanded one",
    ),
    FeatureSpec(
        "gen_translation_dir_error_deg",
        "deg",
        0.0,
        180.0,
        0.0,
        "generated",
        "median angle between recovered and commanded camera translation directions",
    ),
    FeatureSpec(
        "gen_motion_success",
        "share",
        0.0,
        1.0,
        0.0,
        "generated",
        "share of generated frame pairs where an essential matrix could be recovered",
    ),
)
FEATURE_NAMES: tuple[str, ...] = tuple(s.name for s in FEATURE_SPECS)
_SPEC = {s.name: s for s in FEATURE_SPECS}


@dataclass
class FeatureTable:
    """Per-candidate features.

    Attributes:
        values: ``[K, F]`` float32, clipped to each spec's range, no NaN.
        names: the F feature names (order of ``values`` columns).
        privileged: True if any input was privileged (the run was ``mode="privileged"``).
        raw: the unclipped, unfilled values per name (``[K]`` float64, NaN where not computable).
    """

    values: Tensor
    names: tuple[str, ...]
    privileged: bool
    raw: dict[str, Tensor] = field(default_factory=dict)

    def column(self, name: str) -> Tensor:
        return self.values[:, self.names.index(name)]

    def select(self, names: tuple[str, ...] | list[str]) -> Tensor:
        """``[K, len(names)]`` columns in the given order (KeyError with the missing name)."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise KeyError(f"features {missing} not in table (has {list(self.names)})")
        return self.values[:, [self.names.index(n) for n in names]]


@dataclass
class ScorerInputs:
    """Everything the features may use for one scene (plain tensors, documented shapes).

    Attributes:
        candidates: ``[K, T, 3]`` (x m, y m, heading rad) at t = dt…T·dt, current rear-axle frame.
        points: ``[N, 3]`` observed points (m, current ego frame), e.g. the current merged LiDAR.
        intrinsics: ``[C, 3, 3]`` pinhole matrices for the rendered image size (pixels).
        T_ego_cam: ``[C, 4, 4]`` camera → ego extrinsics (OpenCV camera axes).
        render_depth: ``[K, Tr, C, H, W]`` z-depth (m) of the geometric render; render_valid: same, bool;
        render_rgb: ``[K, Tr, C, 3, H, W]`` (uint8 or float in [0, 1]).
        render_poses: ``[K, Tr, 3]`` ego poses the frames were rendered at (default: ``candidates``).
        render_T_cam_ego0: ``[K, Tr, C, 4, 4]`` ego-0 → camera poses actually used by the renderer; when
            given, the relative camera motion between frames is taken from them.
        generated_rgb: ``[G, Tr, C, 3, H, W]`` world-model frames for candidates ``generated_index [G]``.
        *_privileged: whether that input used privileged information.
    """

    candidates: Tensor
    points: Tensor | None = None
    points_privileged: bool = False
    intrinsics: Tensor | None = None
    T_ego_cam: Tensor | None = None
    render_depth: Tensor | None = None
    render_valid: Tensor | None = None
    render_rgb: Tensor | None = None
    render_poses: Tensor | None = None
    render_T_cam_ego0: Tensor | None = None
    render_privileged: bool = False
    generated_rgb: Tensor | None = None
    generated_index: Tensor | None = None
    generated_privileged: bool = False

    @classmethod
    def from_render_batch(
        cls,
        candidates: Tensor,
        batch: Any,
        T_ego_cam: Tensor,
        *,
        points: Tensor | None = None,
        points_privileged: bool = False,
        render_poses: Tensor | None = None,
    ) -> ScorerInputs:
        """Inputs from a renderer output with attributes ``rgb, depth, valid [K, T, C, (3,) H, W]``,
        ``intrinsics [C, 3, 3]``, ``T_cam_ego0 [K, T, C, 4, 4]`` and ``dynamic_mode`` (``privileged`` marks
        the render privileged), i.e. :class:`inspatio_drive.render.types.RenderBatch`."""
        return cls(
            candidates=candidates,
            points=points,
            points_privileged=points_privileged,
            intrinsics=torch.as_tensor(batch.intrinsics),
            T_ego_cam=torch.as_tensor(T_ego_cam),
            render_depth=batch.depth,
            render_valid=batch.valid,
            render_rgb=batch.rgb,
            render_poses=render_poses,
            render_T_cam_ego0=torch.as_tensor(batch.T_cam_ego0),
            render_privileged=str(getattr(batch, "dynamic_mode", "")) == "privileged",
        )

    def subset(self, index: Tensor) -> ScorerInputs:
        """The inputs of candidates ``index [G]`` only (every per-candidate tensor indexed on its first axis; the
        scene's points and cameras kept). Generated frames are dropped (they index the full candidate set): set
        ``generated_rgb`` / ``generated_index`` on the subset."""
        index = torch.as_tensor(index, dtype=torch.long)

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index]

        return ScorerInputs(
            candidates=self.candidates[index], points=self.points, points_privileged=self.points_privileged,
            intrinsics=self.intrinsics, T_ego_cam=self.T_ego_cam, render_depth=pick(self.render_depth),
            render_valid=pick(self.render_valid), render_rgb=pick(self.render_rgb),
            render_poses=pick(self.render_poses), render_T_cam_ego0=pick(self.render_T_cam_ego0),
            render_privileged=self.render_privileged,
        )


@dataclass
class FeatureConfig:
    """Knobs of every feature (mirrors ``configs/scorer/features/default.yaml``)."""

    dt: float = 0.5
    substeps: int = 2
    ground_z: float | None = 0.0
    height_band: tuple[float, float] = (0.3, 2.5)
    margin: float = 0.0
    max_clearance: float = 10.0
    free_space_method: str = "grid"
    grid_resolution: float = 0.1
    exclude_ego_margin: float | None = 0.2
    corridor_half_width: float = 2.5
    max_range: float = 40.0
    region_stride: int = 4
    depth_rel_tol: float = 0.1
    view_stride: int = 2
    motion_cameras: list[int] | None = None
    min_translation_m: float = 0.05
    orb_features: int = 2000
    min_matches: int = 15
    footprint: Footprint = PACIFICA
    #: ``numba`` (compiled kernels, :mod:`scorers.fc_kernels`) or ``torch`` (the reference twins): the same features
    #: (equal counts; sums in another order, < 1e-5 relative), ``torch`` ≈ 6× slower
    backend: str = "numba"

    @classmethod
    def from_mapping(cls, cfg: dict) -> FeatureConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(f"unknown feature config keys {sorted(unknown)} (known: {sorted(known)})")
        if cfg.get("backend", "numba") not in ("numba", "torch"):
            raise ValueError(f"features.backend: expected numba or torch, got {cfg['backend']!r}")
        kw = dict(cfg)
        if "height_band" in kw:
            kw["height_band"] = tuple(kw["height_band"])
        if kw.get("motion_cameras") is not None:
            kw["motion_cameras"] = list(kw["motion_cameras"])
        return cls(**kw)


def scale_intrinsics(intrinsics: Tensor, sx: float, sy: float) -> Tensor:
    """Intrinsics ``[..., 3, 3]`` for an image resized by (sx, sy), pixel centres at integer coordinates."""
    out = intrinsics.clone()
    out[..., 0, 0] = intrinsics[..., 0, 0] * sx
    out[..., 1, 1] = intrinsics[..., 1, 1] * sy
    out[..., 0, 2] = (intrinsics[..., 0, 2] + 0.5) * sx - 0.5
    out[..., 1, 2] = (intrinsics[..., 1, 2] + 0.5) * sy - 0.5
    return out


def _dims(x: Tensor | None) -> Tensor | None:
    if x is None:
        return None
    x = torch.as_tensor(x).cpu()
    return x.squeeze(3) if x.ndim == 6 and x.shape[3] == 1 else x


def compute_features(
    inputs: ScorerInputs, cfg: FeatureConfig | None = None, mode: Mode = "honest"
) -> FeatureTable:
    """Compute all features that the given inputs allow; the rest get their documented fill values.

    Inputs may live on any device; the features are computed on the CPU (the free-space distance
    transform and the OpenCV motion recovery are CPU code).

    Raises:
        ValueError: privileged input in an honest run, or inconsistent shapes.
    """
    cfg = cfg or FeatureConfig()
    if mode not in ("honest", "privileged"):
        raise ValueError(f"mode must be 'honest' or 'privileged', got {mode!r}")
    flags = {
        "points": inputs.points_privileged,
        "render": inputs.render_privileged,
        "generated": inputs.generated_privileged,
    }
    if mode == "honest" and any(flags.values()):
        bad = [k for k, v in flags.items() if v]
        raise ValueError(f"honest run given privileged inputs {bad}: pass mode='privileged' to use them")
    cand = check_candidates(torch.as_tensor(inputs.candidates).cpu()).double()
    K = cand.shape[0]
    nan = torch.full((K,), float("nan"), dtype=torch.float64)
    raw: dict[str, Tensor] = {name: nan.clone() for name in FEATURE_NAMES}
    horizon = cfg.dt * cand.shape[1]

    if inputs.points is not None:
        fs = free_space(
            cand, torch.as_tensor(inputs.points).cpu(), footprint=cfg.footprint, dt=cfg.dt, substeps=cfg.substeps,
            ground_z=cfg.ground_z, height_band=cfg.height_band, margin=cfg.margin,
            max_clearance=cfg.max_clearance, method=cfg.free_space_method, grid_resolution=cfg.grid_resolution,
            exclude_ego_margin=cfg.exclude_ego_margin, backend=cfg.backend,
        )  # fmt: skip
        raw["min_clearance_m"] = fs.min_clearance
        raw["time_to_intrusion_s"] = fs.first_intrusion_s.clamp_max(horizon)
        raw["intrusion"] = torch.isfinite(fs.first_intrusion_s).double()

    depth, valid = _dims(inputs.render_depth), _dims(inputs.render_valid)
    rgb = None if inputs.render_rgb is None else torch.as_tensor(inputs.render_rgb).cpu()
    if depth is not None or valid is not None:
        if depth is None or valid is None or inputs.intrinsics is None or inputs.T_ego_cam is None:
            raise ValueError(
                "render features need render_depth, render_valid, intrinsics and T_ego_cam together"
            )
        if depth.ndim != 5 or depth.shape[0] != K:
            raise ValueError(f"render_depth: expected [K={K}, T, C, H, W], got {tuple(depth.shape)}")
        poses = (
            cand
            if inputs.render_poses is None
            else check_candidates(torch.as_tensor(inputs.render_poses).cpu()).double()
        )
        if poses.shape[:2] != depth.shape[:2]:
            raise ValueError(
                f"render_poses {tuple(poses.shape)} do not match render_depth {tuple(depth.shape)}"
            )
        intr = torch.as_tensor(inputs.intrinsics).cpu().double()
        Tc = torch.as_tensor(inputs.T_ego_cam).cpu().double()
        H, W = depth.shape[-2:]
        near = dict(corridor_half_width=cfg.corridor_half_width, max_range=cfg.max_range,
                    ground_z=0.0 if cfg.ground_z is None else cfg.ground_z, stride=cfg.region_stride)
        if cfg.backend == "torch":  # the reference twin: the full-resolution region, then its observed share
            obs = observability(valid, near_path_mask(poses, intr, Tc, (H, W), **near))  # type: ignore[arg-type]
        else:
            obs = observed_near_path(valid, poses, intr, Tc, **near)  # type: ignore[arg-type]
        raw["observed_near_path"] = obs.share
        if inputs.render_T_cam_ego0 is not None:
            T_ce = torch.as_tensor(inputs.render_T_cam_ego0).cpu().double()
            if T_ce.shape != (*depth.shape[:3], 4, 4):
                raise ValueError(
                    f"render_T_cam_ego0: expected [{', '.join(map(str, depth.shape[:3]))}, 4, 4], got {tuple(T_ce.shape)}"
                )
            rel = T_ce[:, 1:] @ torch.linalg.inv(T_ce[:, :-1])
        else:
            rel = relative_camera_motion(camera_to_ego0(poses, Tc))
        if depth.shape[1] >= 2:
            vc = view_consistency(
                depth, valid, intr, rgb=rgb, relative_motion=rel, depth_rel_tol=cfg.depth_rel_tol,
                stride=cfg.view_stride, backend=cfg.backend,
            )  # fmt: skip
            raw["view_overlap"], raw["view_depth_agreement"] = vc.overlap, vc.depth_agreement
            raw["view_photometric_error"] = vc.photometric_error

        if inputs.generated_rgb is not None:
            gen = torch.as_tensor(inputs.generated_rgb).cpu()
            idx = (
                torch.as_tensor(
                    inputs.generated_index
                    if inputs.generated_index is not None
                    else torch.arange(gen.shape[0])
                )
                .cpu()
                .long()
            )
            if gen.ndim != 6 or gen.shape[0] != idx.numel() or gen.shape[1:3] != depth.shape[1:3]:
                raise ValueError(
                    f"generated_rgb: expected [G={idx.numel()}, {depth.shape[1]}, {depth.shape[2]}, 3, H, W], got {tuple(gen.shape)}"
                )
            raw["has_generated"] = torch.zeros(K, dtype=torch.float64)
            raw["has_generated"][idx] = 1.0
            if tuple(gen.shape[-2:]) == (H, W):
                if rgb is not None:
                    raw["gen_render_l1"][idx] = render_agreement(gen, torch.as_tensor(rgb)[idx], valid[idx])
                if depth.shape[1] >= 2:
                    gvc = view_consistency(
                        depth[idx], valid[idx], intr, rgb=gen, relative_motion=rel[idx],
                        depth_rel_tol=cfg.depth_rel_tol, stride=cfg.view_stride, backend=cfg.backend,
                    )  # fmt: skip
                    raw["gen_view_photometric_error"][idx] = gvc.photometric_error
            gh, gw = gen.shape[-2:]
            intr_gen = scale_intrinsics(intr, gw / W, gh / H)
            mr = motion_recovery(
                gen, rel[idx], intr_gen, cameras=cfg.motion_cameras,
                min_translation_m=cfg.min_translation_m, n_features=cfg.orb_features, min_matches=cfg.min_matches,
            )  # fmt: skip
            raw["gen_rotation_error_deg"][idx] = mr.rotation_error_deg
            raw["gen_translation_dir_error_deg"][idx] = mr.translation_dir_error_deg
            raw["gen_motion_success"][idx] = mr.success_share
    elif inputs.generated_rgb is not None:
        raise ValueError(
            "generated features need the geometric render inputs too (render_depth, render_valid)"
        )

    cols = []
    for spec in FEATURE_SPECS:
        v = raw[spec.name].double()
        v = torch.where(torch.isfinite(v), v, torch.full_like(v, spec.fill))
        cols.append(v.clamp(spec.lo, spec.hi))
    values = torch.stack(cols, dim=1).float()
    return FeatureTable(values=values, names=FEATURE_NAMES, privileged=mode == "privileged", raw=raw)


def feature_spec(name: str) -> FeatureSpec:
    """The :class:`FeatureSpec` of ``name`` (KeyError listing the known names)."""
    try:
        return _SPEC[name]
    except KeyError:
        raise KeyError(f"unknown feature {name!r}; known: {list(FEATURE_NAMES)}") from None
