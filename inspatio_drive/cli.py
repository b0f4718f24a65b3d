"""``inspatio-drive`` command line: ``inspatio-drive <subcommand> [hydra overrides ...]``.

Each sub-command lives in the module of the room that owns it and is imported lazily, so
``inspatio-drive --help`` stays fast and a missing optional dependency only affects its own command.
A sub-command entry point has the signature ``main(overrides: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# name -> (module, function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("inspatio_drive.demo", "main", "run the main job on the bundled sample scenes"),
    "bench-data": ("inspatio_drive.data.bench", "main", "benchmark building agent inputs over a split"),
    "sandbox": ("inspatio_drive.sandbox.cli", "main", "write procedural scenes as an OpenScene data root"),
    "render": ("inspatio_drive.render.cli", "main", "render geometric futures / InSpatio condition videos"),
    "bench-render": ("inspatio_drive.render.bench", "main", "benchmark the batched geometric renderer"),
    "pdm-score": ("inspatio_drive.pdm.cli", "main", "score candidate trajectories with the NAVSIM v1.1 PDM score"),
    "metric-cache": ("inspatio_drive.pdm.cache.cli", "main", "build NAVSIM v1.1 metric caches for a split"),
    "bench-pdm": ("inspatio_drive.pdm.bench", "main", "benchmark metric-cache building and PDM scoring"),
    "bench-sandbox": ("inspatio_drive.sandbox.bench", "main", "benchmark sandbox rendering (images/s at 480x270 and 1920x1080)"),
    "bench-planners": ("planners.bench", "main", "benchmark planner features, DrivoR forward and the rule scorer"),
    "bench-fc": ("scorers.bench", "main", "benchmark the future-consistency features at DrivoR size"),
    "bench-evaluate": ("inspatio_drive.evaluation.bench", "main", "evaluate throughput (1 / 2 workers), memory, kill-and-resume test"),
    "build-vocab": ("planners.vocabulary", "build_vocab_main", "cluster a trajectory vocabulary from a split"),
    "train-fc": ("scorers.train", "main", "train the future-consistency head"),
    "evaluate": ("inspatio_drive.evaluation.cli", "main", "evaluate a planner over a split (with/without FC)"),
    "closed-loop": ("inspatio_drive.closed_loop.cli", "main", "closed-loop world-model simulation"),
    "counterfactual": ("inspatio_drive.closed_loop.cli", "counterfactual_main", "export counterfactual (perturbed-ego) scenes"),
    "bench-world-model": ("inspatio_drive.world_model.bench", "main", "GPU benchmark of the InSpatio-World DiT"),
    "report": ("inspatio_drive.evaluation.report", "main", "write the interactive HTML result viewer"),
    "study": ("inspatio_drive.evaluation.study", "main", "future-consistency study on sandbox splits (train, choose w_fc, test)"),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ["usage: inspatio-drive <subcommand> [key=value ...]   (hydra overrides)", "", "subcommands:"]
    for name, (module, _, text) in SUBCOMMANDS.items():
        available = importlib.util.find_spec(module.rsplit(".", 1)[0]) is not None
        lines.append(f"  {name:<{width}}  {text}{'' if available else '  [not available in this build]'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, overrides = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"inspatio-drive: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"inspatio-drive {name}: not available ({exc})", file=sys.stderr)
        return 2
    return int(getattr(module, func_name)(overrides) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
