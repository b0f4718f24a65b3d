"""``inspatio-drive`` command line: ``inspatio-drive <subcommand> [hydra overrides ...]``.

Every sub-command is a module of this ``commands`` layer (the top layer: it may import every room, no room
imports it), imported lazily so ``inspatio-drive --help`` stays fast and a missing optional dependency only
affects its own command. A sub-command entry point has the signature ``main(overrides: list[str]) -> int``;
``--help`` and ``--cfg job`` are answered here for every sub-command.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hydra.errors import HydraException
from omegaconf import OmegaConf

from inspatio_drive.config import CONFIG_DIR, compose


@dataclass(frozen=True)
class Command:
    """One sub-command: ``module.function(overrides) -> int``, composed from ``configs/<config>.yaml``."""

    module: str
    function: str
    config: str
    text: str
    example: str


_C = "inspatio_drive.commands."
SUBCOMMANDS: dict[str, Command] = {
    "demo": Command(_C + "demo", "main", "evaluate", "run the main job on the bundled sample scenes",
                    "inspatio-drive demo"),
    "evaluate": Command(_C + "evaluate", "main", "evaluate", "evaluate a planner over a split (with/without FC)",
                        "inspatio-drive evaluate data=sample planner=vocabulary eval.max_scenes=3"),
    "report": Command(_C + "report", "main", "report", "write the interactive HTML result viewer of a run",
                      "inspatio-drive report run_dir=runs/evaluate"),
    "pdm-score": Command(_C + "pdm_score", "main", "pdm_score",
                         "score candidate trajectories with the NAVSIM v1.1 PDM score",
                         "inspatio-drive pdm-score candidates=cands.json data.data_root=DATA data.split=test data.scene_token=TOKEN"),
    "metric-cache": Command(_C + "metric_cache", "main", "metric_cache", "build NAVSIM v1.1 metric caches for a split",
                            "inspatio-drive metric-cache data=sample cache_path=runs/cache"),
    "sandbox": Command(_C + "sandbox", "main", "sandbox", "write procedural scenes as an OpenScene data root",
                       "inspatio-drive sandbox split=mini n=4"),
    "render": Command(_C + "render", "main", "render", "render geometric futures / InSpatio condition videos",
                      "inspatio-drive render source=navsim data.scene_token=TOKEN candidates=cands.json"),
    "render-fidelity": Command(_C + "render_fidelity", "main", "render_fidelity",
                               "render fidelity (PSNR, SSIM, coverage, depth) against the sandbox oracle",
                               "inspatio-drive render-fidelity scenarios=[plain_cruising]"),
    "build-vocab": Command(_C + "build_vocab", "main", "build_vocab", "cluster a trajectory vocabulary from a split",
                           "inspatio-drive build-vocab data.data_root=DATA data.split=trainval output=vocab.safetensors"),
    "train-fc": Command(_C + "train_fc", "main", "train_fc", "train the future-consistency head",
                        "inspatio-drive train-fc dataset=fc_dataset.npz output_dir=runs/fc_head"),
    "train-scorer": Command(_C + "train_scorer", "main", "train_scorer",
                            "train the learned DrivoR-form scorer (fc=none|features|features+head)",
                            "inspatio-drive train-scorer dataset=runs/study/fc_dataset.npz fc=features"),
    "train-drivor-fc": Command(_C + "train_drivor_fc", "main", "train_drivor_fc",
                               "train FC-input sub-score heads on a frozen DrivoR checkpoint (fc=features)",
                               "inspatio-drive train-drivor-fc planner.checkpoint=Nav1_25epochs.pth data.data_root=DATA"),
    "train-world-model": Command(_C + "train_world_model", "main", "train_world_model",
                                 "train / fine-tune the InSpatio-World DiT (JDMD, LoRA, distillation; DDP)",
                                 "inspatio-drive train-world-model model=sandbox_small vae=block-pca data.dir=runs/wm_data sandbox.build=true"),
    "study": Command(_C + "study", "main", "study",
                     "future-consistency study on sandbox splits (train, choose w_fc, test)",
                     "inspatio-drive study seeds=[0] test.n=20"),
    "fc-table": Command(_C + "fc_table", "main", "fc_table",
                        "the FC study table, plot and JSON of a study-inputs NPZ",
                        "inspatio-drive fc-table inputs=study_inputs.npz output_dir=runs/fc_table"),
    "closed-loop": Command(_C + "closed_loop", "main", "closed_loop", "closed-loop world-model simulation",
                           "inspatio-drive closed-loop closed_loop.max_scenes=1"),
    "counterfactual": Command(_C + "closed_loop", "counterfactual_main", "counterfactual",
                              "export counterfactual (perturbed-ego) scenes", "inspatio-drive counterfactual"),
    "second-stage": Command(_C + "second_stage", "main", "second_stage",
                            "navhard-style second-stage scenes (follow-ups ≈ 4 s ahead) for any split",
                            "inspatio-drive second-stage data=openscene data.split=navtest second_stage.per_scene=5"),
    "second-stage-study": Command(_C + "second_stage_study", "main", "second_stage_study",
                                  "two-stage EPDMS with oracle vs imagined second-stage sensors (sandbox)",
                                  "inspatio-drive second-stage-study n=20"),
    "figures": Command(_C + "figures", "main", "figures", "redraw the documentation pictures (docs/img)",
                       "inspatio-drive figures which=[planners]"),
    "bench-data": Command(_C + "bench_data", "main", "bench_data", "benchmark building agent inputs over a split",
                          "inspatio-drive bench-data num_logs=2 image_logs=0"),
    "bench-render": Command(_C + "bench_render", "main", "bench_render", "benchmark the batched geometric renderer",
                            "inspatio-drive bench-render candidates=8"),
    "bench-pdm": Command(_C + "bench_pdm", "main", "bench_pdm", "benchmark metric-cache building and PDM scoring",
                         "inspatio-drive bench-pdm repeats=3"),
    "bench-metric-cache": Command(_C + "bench_metric_cache", "main", "bench_metric_cache",
                                  "benchmark metric-cache building per stage (numpy vs numba)",
                                  "inspatio-drive bench-metric-cache backend=numpy"),
    "bench-sandbox": Command(_C + "bench_sandbox", "main", "bench_sandbox",
                             "benchmark sandbox rendering (images/s at 480x270 and 1920x1080)",
                             "inspatio-drive bench-sandbox frames=1"),
    "bench-camera-only": Command(_C + "bench_camera_only", "main", "bench_camera_only",
                                 "camera-only futures: fidelity and FC PDMS per depth backend, exposure matching",
                                 "inspatio-drive bench-camera-only fidelity.scenarios=[cut_in]"),
    "bench-planners": Command(_C + "bench_planners", "main", "bench_planners",
                              "benchmark planner features, DrivoR forward and the rule scorer",
                              "inspatio-drive bench-planners drivor=false"),
    "bench-fc": Command(_C + "bench_fc", "main", "bench_fc",
                        "benchmark the future-consistency features at DrivoR size", "inspatio-drive bench-fc"),
    "bench-evaluate": Command(_C + "bench_evaluate", "main", "bench_evaluate",
                              "evaluate throughput (1 / 2 workers), memory, kill-and-resume test",
                              "inspatio-drive bench-evaluate n=50 workers=[1]"),
    "wm-sandbox-study": Command(_C + "wm_sandbox_study", "main", "wm_sandbox_study",
                                "small world model on sandbox scenes: FC generated-frame features, closed-loop drift",
                                "inspatio-drive wm-sandbox-study fc.max_scenes=4 drift.max_scenes=2"),
    "bench-world-model": Command(_C + "bench_world_model", "main", "bench_world_model",
                                 "GPU benchmark of the InSpatio-World DiT",
                                 "inspatio-drive bench-world-model generator.compile=true"),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ["usage: inspatio-drive <subcommand> [key=value ...]   (hydra overrides)",
             "       inspatio-drive <subcommand> --help           (what it does, its knobs and defaults)",
             "       inspatio-drive <subcommand> [key=value ...] --cfg job   (print the composed config)",
             "       inspatio-drive <subcommand> [key=value ...] --debug     (a user error with its traceback)",
             "",
             "exit status: 0 done; 2 a user error (one line: what, where, what was expected); 3 evaluate / demo",
             "             finished with valid=False rows (eval.fail_on_invalid); a traceback is a bug",
             "", "subcommands:"]
    for name, cmd in SUBCOMMANDS.items():
        available = importlib.util.find_spec(cmd.module) is not None
        lines.append(f"  {name:<{width}}  {cmd.text}{'' if available else '  [not available in this build]'}")
    return "\n".join(lines)


def _groups(config: str) -> list[str]:
    """``group: option (choices)`` lines for the config groups in the defaults list of ``configs/<config>.yaml``."""

    node = OmegaConf.load(CONFIG_DIR / f"{config}.yaml")
    out = []
    for entry in node.get("defaults") or []:
        if not isinstance(entry, Mapping) and not OmegaConf.is_dict(entry):
            continue
        for group, default in entry.items():
            choices = sorted(p.stem for p in (CONFIG_DIR / str(group)).glob("*.yaml"))
            out.append(f"  {group}={default}   (choices: {', '.join(choices)}; configs/{group}/)")
    return out


def _included(config: str) -> list[str]:
    """Config files named as plain entries of the defaults list of ``configs/<config>.yaml`` (knobs that live in a
    file of a config group, e.g. ``scorer/train_fc``); the schema entries live in the ConfigStore, not in files."""

    node = OmegaConf.load(CONFIG_DIR / f"{config}.yaml")
    return [str(e) for e in node.get("defaults") or []
            if isinstance(e, str) and e != "_self_" and (CONFIG_DIR / f"{e}.yaml").is_file()]


def command_help(name: str) -> str:
    """``inspatio-drive NAME --help``: purpose, config groups, every knob with its default and comment (the
    config file itself), and one example."""
    cmd = SUBCOMMANDS[name]
    path = CONFIG_DIR / f"{cmd.config}.yaml"
    lines = [f"inspatio-drive {name}: {cmd.text}", "",
             f"usage: inspatio-drive {name} [key=value ...] [--cfg job] [--debug]",
             f"example: {cmd.example}",
             "exit status: 0 done; 2 a user error (one line: what, where, what was expected; --debug adds the "
             "traceback)" + ("; 3 finished with valid=False rows (eval.fail_on_invalid)"
                             if cmd.config == "evaluate" else ""), ""]
    groups = _groups(cmd.config)
    if groups:
        lines += ["config groups (choose with group=option):", *groups, ""]
    lines += [f"knobs and defaults (configs/{cmd.config}.yaml; override any with key=value; keys and types are "
              f"checked against the schema {cmd.config}_schema, inspatio_drive/config/schema.py):", "",
              path.read_text().rstrip()]
    for included in _included(cmd.config):
        lines += ["", f"# --- configs/{included}.yaml (included by configs/{cmd.config}.yaml) ---",
                  (CONFIG_DIR / f"{included}.yaml").read_text().rstrip()]
    for group, option in _group_defaults(cmd.config):
        path = CONFIG_DIR / group / f"{option}.yaml"
        if path.is_file():
            lines += ["", f"# --- configs/{group}/{option}.yaml (the default {group}={option}; its keys are "
                          f"{group}.<key>=...) ---", path.read_text().rstrip()]
    return "\n".join(lines)


def _group_defaults(config: str) -> list[tuple[str, str]]:
    """``(group, default option)`` of the config groups in the defaults list of ``configs/<config>.yaml``."""
    node = OmegaConf.load(CONFIG_DIR / f"{config}.yaml")
    return [(str(g), str(o)) for e in node.get("defaults") or []
            if isinstance(e, Mapping) or OmegaConf.is_dict(e) for g, o in e.items()]


def _page(text: str) -> int:
    """Print help text; a reader that stops early (``| head``) is not an error (no BrokenPipeError traceback)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's final flush stays quiet
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``inspatio-drive <subcommand> [key=value ...] [--help | --cfg job] [--debug]``.

    Exit status: 0 done; 2 a user error (one line on stderr naming what, where and what was expected; the
    types are :data:`inspatio_drive.commands.base.USER_ERRORS`; ``--debug`` adds the traceback); 3 an
    evaluation with ``valid=False`` rows (``eval.fail_on_invalid``); a traceback (exit 1) is a bug."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        return _page(_usage())
    name, overrides = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"inspatio-drive: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    cmd = SUBCOMMANDS[name]
    debug = "--debug" in overrides
    overrides = [ov for ov in overrides if ov != "--debug"]
    if "-h" in overrides or "--help" in overrides:
        return _page(command_help(name))
    flags = [ov for ov in overrides if ov.startswith("-") and ov != "--cfg"]
    if flags:
        print(f"inspatio-drive {name}: unknown option {flags[0]!r}; expected key=value overrides, --help, "
              "--cfg job or --debug", file=sys.stderr)
        return 2
    if "--cfg" in overrides:
        i = overrides.index("--cfg")
        what = overrides[i + 1] if i + 1 < len(overrides) else "job"
        if what != "job":
            print(f"inspatio-drive {name}: --cfg {what}: only '--cfg job' is supported", file=sys.stderr)
            return 2

        rest = overrides[:i] + overrides[i + 2:]
        try:
            print(OmegaConf.to_yaml(compose(cmd.config, rest)), end="")
        except HydraException as exc:
            print(f"inspatio-drive {name}: bad override: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        module = importlib.import_module(cmd.module)
    except ModuleNotFoundError as exc:
        print(f"inspatio-drive {name}: not available ({exc})", file=sys.stderr)
        return 2
    base = importlib.import_module(_C + "base")  # loaded by every command module already
    base.set_debug(debug)
    try:
        return int(getattr(module, cmd.function)(overrides) or 0)
    except Exception as exc:  # a user error that the command let through: one line; anything else is a bug
        # a command module may name further user-error types of its own (``USER_ERRORS = (KeyError,)``)
        if base.is_user_error(exc, getattr(module, "USER_ERRORS", ())):
            return int(base.report_user_error(name, exc))
        raise
    finally:
        base.set_debug(False)


if __name__ == "__main__":
    raise SystemExit(main())
