"""``inspatio-drive sandbox split=NAME n=N ...``: write procedural scenes (hydra config ``configs/sandbox.yaml``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from inspatio_drive.commands.base import compose_command, handles_user_errors
from inspatio_drive.sandbox.oracle import LidarModel, RenderConfig
from inspatio_drive.sandbox.writer import write_split

USER_ERRORS = (KeyError,)
"""User errors of this command besides the common ones (:data:`inspatio_drive.commands.base.USER_ERRORS`):
the ``KeyError`` of an unknown scenario name."""


def render_config(cfg: DictConfig) -> RenderConfig:
    """Sensor settings from the ``image`` / ``lidar`` / ``texture_res`` / ``shadows`` keys."""
    lid = cfg.lidar
    return RenderConfig(
        width=int(cfg.image.width),
        height=int(cfg.image.height),
        lidar=LidarModel(int(lid.channels), int(lid.azimuths), tuple(float(x) for x in lid.elevation),
                         tuple(float(x) for x in lid.origin), float(lid.max_range)),
        texture_res=float(cfg.texture_res),
        shadows=bool(cfg.shadows),
        workers=int(cfg.workers),
    )


@handles_user_errors("sandbox", USER_ERRORS)
def main(overrides: list[str]) -> int:
    cfg = compose_command("sandbox", "sandbox", overrides)
    if cfg is None:
        return 2
    scenarios = OmegaConf.to_object(cfg.scenarios) if cfg.scenarios is not None else None
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    paths = write_split(
        Path(cfg.root), str(cfg.split), int(cfg.n), scenarios, int(cfg.seed),
        num_frames=int(cfg.num_frames), density=float(cfg.density), config=render_config(cfg),
        jpeg_quality=int(cfg.jpeg_quality), show_progress=bool(cfg.progress),
    )
    root = Path(cfg.root).resolve()
    print(f"wrote {len(paths)} logs to {root}/navsim_logs/{cfg.split} (maps: {root}/maps)")
    return 0
