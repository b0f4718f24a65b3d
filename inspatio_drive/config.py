"""Hydra configuration helpers: every sub-command composes ``configs/<name>.yaml`` with overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def compose(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with hydra ``key=value`` overrides.

    Raises:
        FileNotFoundError: if the config file does not exist.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if not (CONFIG_DIR / f"{config_name}.yaml").is_file():
        raise FileNotFoundError(f"no config {config_name!r}: expected {CONFIG_DIR / (config_name + '.yaml')}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def portable_paths(value: object) -> object:
    """Replace absolute paths in (nested) metadata by their file names, so files written here carry no
    machine-specific paths (checkpoint / vocabulary metadata that is shipped or shared)."""
    import os

    if isinstance(value, dict):
        return {k: portable_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable_paths(v) for v in value)
    if isinstance(value, str) and os.path.isabs(value):
        return Path(value).name
    return value
