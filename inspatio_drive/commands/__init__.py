"""Layer 8 — commands: the ``inspatio-drive`` sub-commands and benchmarks. Each module composes its hydra config
and calls one function of a room below; no room imports this package (see docs/architecture.md)."""
