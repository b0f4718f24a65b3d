"""Settings of the metric-cache builder (defaults = navsim v1.1 ``MetricCacheProcessor``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["IDMConfig", "MetricCacheConfig"]


@dataclass(frozen=True)
class IDMConfig:
    """navsim ``BatchIDMPolicy`` parameters; one policy per ``speed_limit_fractions`` entry."""

    speed_limit_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    fallback_target_velocity: float = 15.0  # m/s, used when the lane has no speed limit
    min_gap_to_lead_agent: float = 1.0  # m
    headway_time: float = 1.5  # s
    accel_max: float = 1.5  # m/s²
    decel_max: float = 3.0  # m/s² (positive)
    acceleration_exponent: float = 10.0


@dataclass(frozen=True)
class MetricCacheConfig:
    """All knobs of :func:`~inspatio_drive.pdm.cache.builder.build_metric_cache`.

    Attributes:
        idm: longitudinal IDM policies of PDM-Closed.
        lateral_offsets: centerline offsets (m, + = left) of the extra proposal paths.
        map_radius: half-side (m) of the square drivable-area query around the ego centre; also the object
            radius of PDM-Closed's forecast.
        trajectory_steps / proposal_steps / step_s: PDM-Closed trajectory (50 × 0.1 s) and proposal horizon
            (40 × 0.1 s).
        observation_horizon_s / annotation_interval_s: ground-truth boxes 0…5 s at 2 Hz, interpolated to step_s.
        leading_agent_update_rate: PDM-Closed re-searches the leading agent every n steps.
        forecast_sample_res: PDM-Closed's forecast observation changes every n steps.
        route_search_depth_backward / _forward: BFS depths of the route correction; centerline_search_depth:
            roadblock window of the Dijkstra lane search.
        backend: compiled kernels of PDM-Closed (IDM unrolling, LQR + bicycle simulation): ``auto`` (numba
            when it imports), ``numba`` or ``numpy`` (the reference paths).
    """

    idm: IDMConfig = field(default_factory=IDMConfig)
    lateral_offsets: tuple[float, ...] = (-1.0, 1.0)
    map_radius: float = 100.0
    trajectory_steps: int = 50
    proposal_steps: int = 40
    step_s: float = 0.1
    observation_horizon_s: float = 5.0
    annotation_interval_s: float = 0.5
    leading_agent_update_rate: int = 2
    forecast_sample_res: int = 2
    route_search_depth_backward: int = 15
    route_search_depth_forward: int = 30
    centerline_search_depth: int = 30
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "numba", "numpy"):
            raise ValueError(
                f"MetricCacheConfig.backend: expected auto, numba or numpy, got {self.backend!r}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> MetricCacheConfig:
        """Build from a plain mapping (e.g. a hydra config node); unknown keys are an error."""
        d = dict(d or {})
        idm = d.pop("idm", None) or {}
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"MetricCacheConfig: unknown keys {bad}; expected some of {sorted(known)}")
        bad_idm = sorted(set(idm) - set(IDMConfig.__dataclass_fields__))
        if bad_idm:
            raise ValueError(f"MetricCacheConfig.idm: unknown keys {bad_idm}")
        idm = {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in dict(idm).items()}
        if "lateral_offsets" in d and d["lateral_offsets"] is not None:
            d["lateral_offsets"] = tuple(d["lateral_offsets"])
        return cls(idm=IDMConfig(**idm), **d)
