"""Hydra configuration files of inspatio-drive (one YAML per sub-command, groups in sub-folders)."""
