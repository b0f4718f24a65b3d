"""Command line of the metric-cache builder: ``python -m inspatio_drive.commands.metric_cache [hydra overrides]``.

Composes ``configs/metric_cache.yaml`` (data split via ``configs/data/openscene.yaml``; nuPlan maps at
``data.maps_root``, null = ``<data_root>/maps``, as in every command), builds every scene's
cache into ``cache_path`` and prints a summary (built / skipped / failed with tokens). Exit code 1 when any
scene failed. ``metric=pdms`` builds NAVSIM v1.1 caches, ``metric=epdms`` NAVSIM v2.2 caches (one store holds one
kind; the other is refused). The v2 cache does not depend on the traffic policy (chosen when scoring).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.data import DataConfig, scene_loader_from_config
from inspatio_drive.pdm.cache.bev import save_bev
from inspatio_drive.pdm.cache.config import MetricCacheConfig
from inspatio_drive.pdm.cache.split import build_cache_for_split
from inspatio_drive.pdm.cache.storage import METRICS, MetricCacheStore

__all__ = ["main"]


def _scenes(loader: Any) -> Any:
    for token in loader.tokens:
        yield loader.get_scene_from_token(token)


def _build(cfg: Any, loader: Any, builder_cfg: MetricCacheConfig, maps_root: Path) -> Any:
    return build_cache_for_split(
        _scenes(loader),
        maps_root,
        cfg.cache_path,
        builder_cfg,
        force=bool(cfg.force),
        fail_fast=bool(cfg.fail_fast),
        total=len(loader),
        map_version=cfg.map_version,
        progress=bool(cfg.progress),
        workers=int(cfg.workers),
        metric=str(cfg.metric),
    )


@handles_user_errors("metric-cache")
def main(overrides: Sequence[str] = ()) -> int:
    cfg = compose_command("metric-cache", "metric_cache", overrides)
    if cfg is None:
        return 2
    maps_root = DataConfig.from_node(cfg.data).maps_dir()  # data.maps_root, null = <data_root>/maps
    if not maps_root.is_dir():
        raise FileNotFoundError(f"data.maps_root: {maps_root} is not a folder (expected the nuPlan maps root: "
                                "data.maps_root=... or $NUPLAN_MAPS_ROOT; null = <data_root>/maps)")
    if cfg.metric not in METRICS:
        raise ValueError(f"metric: expected one of {'|'.join(METRICS)}, got {cfg.metric!r}")
    builder_cfg = MetricCacheConfig.from_dict(OmegaConf.to_container(cfg.builder, resolve=True))  # type: ignore[arg-type]
    loader = scene_loader_from_config(cfg.data)
    report = _build(cfg, loader, builder_cfg, maps_root)
    print(
        f"metric cache {cfg.cache_path}: {report.summary()} ({report.ms_per_built_scene:.1f} ms per built scene)"
    )
    if cfg.bev.out_dir and cfg.bev.max_scenes > 0:

        store = MetricCacheStore.open(cfg.cache_path, create=False, metric=str(cfg.metric))
        for token in store.tokens[: int(cfg.bev.max_scenes)]:
            cache = store.load(token)
            save_bev(Path(cfg.bev.out_dir) / f"bev_{token}.png", getattr(cache, "base", cache))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
