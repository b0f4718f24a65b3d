"""The same ``score_candidates`` interface, delegating to the real navsim v1.1 PDM score when it is installed.

navsim and nuplan-devkit are imported lazily, on the first call; without them a :class:`NavsimNotAvailableError`
(an ``ImportError``) explains what to install. navsim scores one candidate per call, with the PDM-Closed
reference of its own metric cache (a navsim ``MetricCache`` object, e.g. loaded with
:func:`load_navsim_metric_cache`); the results are gathered into our :class:`~inspatio_drive.pdm.scorer.PDMResults`.
"""

from __future__ import annotations

import io
import lzma
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from inspatio_drive.pdm.scorer import PDMResults

__all__ = ["NavsimNotAvailableError", "load_navsim_metric_cache", "navsim_available", "score_candidates"]

_INSTALL_HINT = (
    "the navsim backend needs navsim v1.1 and nuplan-devkit v1.2 importable in this environment "
    "(git clone -b v1.1 https://github.com/autonomousvision/navsim && pip install -e navsim; "
    "pip install git+https://github.com/motional/nuplan-devkit@nuplan-devkit-v1.2); "
    "use backend=inspatio for the built-in re-implementation"
)


class NavsimNotAvailableError(ImportError):
    """navsim / nuplan-devkit cannot be imported."""


def navsim_available() -> bool:
    """True when navsim's PDM-score modules import."""
    try:
        _navsim_api()
    except NavsimNotAvailableError:
        return False
    return True


def _navsim_api() -> dict[str, Any]:
    """Import navsim's PDM-score entry points (lazy)."""
    try:
        from navsim.common.dataclasses import Trajectory  # lazy: optional: inside a navsim installation only
        from navsim.evaluate.pdm_score import pdm_score  # lazy: optional: inside a navsim installation only
        from navsim.planning.simulation.planner.pdm_planner.scoring.pdm_comfort_metrics import (
            ego_is_comfortable,  # lazy: optional: inside a navsim installation only
        )
        from navsim.planning.simulation.planner.pdm_planner.scoring.pdm_scorer import (
            PDMScorer,  # lazy: optional: inside a navsim installation only
        )
        from navsim.planning.simulation.planner.pdm_planner.simulation.pdm_simulator import (
            PDMSimulator,  # lazy: optional: inside a navsim installation only
        )
        from nuplan.planning.simulation.trajectory.trajectory_sampling import (
            TrajectorySampling,  # lazy: optional: inside a navsim installation only
        )
    except ImportError as exc:
        raise NavsimNotAvailableError(f"{_INSTALL_HINT} (import failed: {exc})") from exc
    return {
        "Trajectory": Trajectory,
        "pdm_score": pdm_score,
        "ego_is_comfortable": ego_is_comfortable,
        "PDMScorer": PDMScorer,
        "PDMSimulator": PDMSimulator,
        "TrajectorySampling": TrajectorySampling,
    }


class _NavsimCacheUnpickler(pickle.Unpickler):
    """Unpickler that only resolves classes from navsim, nuplan, shapely, numpy and a few builtins."""

    ALLOWED_PREFIXES = ("navsim.", "nuplan.", "shapely.", "numpy.", "numpy", "collections", "enum")
    ALLOWED_BUILTINS = frozenset(
        {"list", "dict", "tuple", "set", "frozenset", "str", "int", "float", "bool", "slice"}
    )

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in self.ALLOWED_BUILTINS:
            return super().find_class(module, name)
        if module.startswith(self.ALLOWED_PREFIXES) and module != "numpy.testing":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"navsim metric cache: refusing to load {module}.{name}")


def load_navsim_metric_cache(path: str | Path) -> Any:
    """Load navsim's ``metric_cache.pkl`` (lzma-compressed pickle) with a restricted unpickler.

    Only classes from navsim, nuplan, shapely and numpy are resolved; navsim must be installed.
    """
    _navsim_api()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"navsim metric cache {p} does not exist")
    with lzma.open(p, "rb") as f:
        return _NavsimCacheUnpickler(io.BytesIO(f.read())).load()


def score_candidates(
    metric_cache: Any,
    trajectories: ArrayLike,
    names: list[str] | None = None,
    pose_interval_s: float = 0.5,
) -> PDMResults:
    """Score ``[K, P, 3]`` candidates with navsim's own ``pdm_score`` (one call per candidate).

    Args:
        metric_cache: a navsim v1.1 ``MetricCache`` object.
        trajectories: ``[K, P, 3]`` poses (x, y, heading) at t = 0.5…4.0 s in the current rear-axle frame.
        names: optional candidate names.
        pose_interval_s: time between poses (s).

    Raises:
        NavsimNotAvailableError: navsim / nuplan-devkit are not installed.
    """
    api = _navsim_api()
    traj = np.asarray(trajectories, dtype=np.float64)
    if traj.ndim != 3 or traj.shape[-1] != 3 or traj.shape[0] == 0:
        raise ValueError(f"trajectories: expected [K, P, 3] (x, y, heading) with K >= 1, got {traj.shape}")
    proposal_sampling = api["TrajectorySampling"](num_poses=40, interval_length=0.1)
    sampling = api["TrajectorySampling"](num_poses=traj.shape[1], interval_length=pose_interval_s)
    simulator = api["PDMSimulator"](proposal_sampling)
    scorer = api["PDMScorer"](proposal_sampling)
    fields: dict[str, list[Any]] = {key: [] for key in PDMResults.SUBSCORES}
    extra: dict[str, list[Any]] = {k: [] for k in ("raw", "col", "ttc", "comfort", "areas", "states")}
    reference: dict[str, Any] = {}
    times = np.arange(proposal_sampling.num_poses + 1, dtype=np.float64) * proposal_sampling.interval_length
    for poses in traj:
        result = api["pdm_score"](
            metric_cache, api["Trajectory"](poses, sampling), simulator.proposal_sampling, simulator, scorer
        )
        for key in PDMResults.SUBSCORES:
            fields[key].append(float(getattr(result, key)))
        extra["raw"].append(float(scorer._progress_raw[1]))
        extra["col"].append(scorer._collision_time_idcs[1])
        extra["ttc"].append(scorer._ttc_time_idcs[1])
        extra["comfort"].append(np.asarray(api["ego_is_comfortable"](scorer._states, times))[1])
        extra["areas"].append(np.asarray(scorer._ego_areas[1], dtype=bool))
        extra["states"].append(np.asarray(scorer._states[1], dtype=np.float64))
        if not reference:
            reference = {
                "states": np.asarray(scorer._states[0], dtype=np.float64),
                "progress_raw_m": float(scorer._progress_raw[0]),
            }

    def steps(values: list[float]) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        return np.where(np.isfinite(arr), arr, -1).astype(np.int64)

    return PDMResults(
        **{key: np.asarray(v, dtype=np.float64) for key, v in fields.items()},
        progress_raw_m=np.asarray(extra["raw"], dtype=np.float64),
        at_fault_collision_step=steps(extra["col"]),
        ttc_infraction_step=steps(extra["ttc"]),
        comfort_checks=np.stack(extra["comfort"]).astype(bool),
        ego_areas=np.stack(extra["areas"]),
        states=np.stack(extra["states"]),
        reference=reference,
        names=names,
    )
