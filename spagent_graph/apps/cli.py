"""The `spagent` command.

    spagent run [--text T] [--image F | --video F] [--thread-id ID [--resume]] [--review-plan] [--pick-winner]
        Make a video: plan, generate, judge; progress bars per stage and per
        denoising step; a checkpointed run that a later `--resume` continues;
        writes report.html and report.json beside the artifacts.

    spagent tools [--registry R]      the registry's tools: task, weights, whether they are here, GPU memory
    spagent doctor [--registry R] [--gpu-memory GIB,...]
                                      will each tool run here: weights in the Hugging Face cache, GPU memory
                                      at the run's size, which GPU it fits, the commands that fetch the rest
    spagent store [--store-path F] [--export F | --import F]
                                      the capability store's strengths per task and subject
    spagent config                    the settings in force and where each came from
    spagent runs [show ID]            the runs kept here (date, thread, text, winner, time); one run's manifest

    spagent replay PATH [--anyway] [--out DIR]
        Make a run's videos again from its manifest (PATH: a run folder, its
        report.json, or a video or picture it wrote): the same tools, weights,
        seeds, options and levers, and the recorded decisions (no MLLM). Says
        first what differs here and runs then only with --anyway; compares each
        output with the recorded one. Exit code 1 when an output differs.

    spagent expand --tool NAME [--registry FILE] [--store-path FILE]
        Admit a tool: run it on the probe set, judge every output, store its
        per-subject strengths, print them beside the other tools of its task.

    spagent bench --tool NAME [--profile balanced|fast] [--probes N] [--frames N] [--height N] [--width N]
        Measure a profile on your weights: the tool on fixed probe prompts, exact and
        accelerated with the same seeds; speedup, PSNR and SSIM against the exact output
        (and the MLLM judge's score difference). Recorded in the capability store, where
        it decides whether the profile's cache is used. Exit code 1 when it fails the
        thresholds (fidelity_min_psnr_db, fidelity_min_ssim).

    spagent eval DATASET [--variants paper] [--execute] [--json OUT] [--sft OUT]
        The paper's evaluation on a dataset file (format: spagent_graph.apps.evaluation):
        judge agreement with human scores, task completion, model-list selection
        precision, for the full agent and any ablations.

Settings shared by every command (MLLM endpoint, registry, store, artifacts,
device, ...) come from a TOML file (--config, $SPAGENT_CONFIG or ./spagent.toml),
then SPAGENT_* environment variables, then these options, each overriding
the one before (spagent_graph/settings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ..context import ABLATIONS, Context
from ..errors import SpagentError, UsageError, error_message
from ..state import DEMO_REQUEST_SIZE, GenerationOptions

__all__ = ["main"]


def _options(args: argparse.Namespace) -> dict[str, str | None]:
    """The settings given as options: field -> its raw text."""
    from ..settings import Settings

    return {name: getattr(args, name, None) for name in Settings.model_fields}


def _loaded(args: argparse.Namespace):
    from ..settings import load_settings

    return load_settings(args.config, _options(args))


def _settings(args: argparse.Namespace):
    return _loaded(args).settings


def _context(args: argparse.Namespace) -> Context:
    return _settings(args).context()


def _expand(args: argparse.Namespace) -> int:
    from .expansion import build_expansion_graph

    options = GenerationOptions(num_frames=args.frames, height=args.height, width=args.width, seed=args.seed)
    result = build_expansion_graph().invoke(
        {"tool": args.tool, "per_subject": args.per_subject, "options": options}, context=_context(args)
    )
    print(result["report"])
    return 0


def _bench(args: argparse.Namespace) -> int:
    import re

    from .bench import bench_tool, format_bench
    from .runner import request_size
    from ..services import Services

    context, services = _context(args), Services()
    toolbox = services.toolbox(context)
    spec = toolbox.registry.get(args.tool)
    frames, height, width = request_size(args, context.registry)
    run_id = f"bench-{re.sub(r'[^A-Za-z0-9._-]', '_', spec.name)}-{args.profile}"
    result = bench_tool(spec, toolbox=toolbox, store=services.store(context), judge=services.judge(context),
                        profile=args.profile, probes=args.probes, frames=frames, height=height, width=width,
                        steps=args.steps, seed=args.seed, folder=services.artifacts(context).run_dir(run_id))
    print(format_bench(result, context.fidelity_min_psnr_db, context.fidelity_min_ssim))
    # 1, not 2, as for doctor: nothing was asked wrongly, but the profile's cache will not be used.
    return 0 if result.record.passes(context.fidelity_min_psnr_db, context.fidelity_min_ssim) else 1


def _variants(spec: str) -> dict[str, tuple[str, ...]]:
    from .evaluation import VARIANTS

    if spec == "paper":
        return dict(VARIANTS)
    variants: dict[str, tuple[str, ...]] = {}
    for name in spec.split(","):
        name = name.strip()
        if name == "full":
            variants["full agent"] = ()
        elif name in ABLATIONS:
            variants[name] = (name,)
        else:
            raise SystemExit(f"--variants: unknown {name!r}; expected paper, full or any of {', '.join(ABLATIONS)}.")
    return variants


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_report, load_dataset, report_as_dict

    records = load_dataset(args.dataset)
    report = evaluate(records, _context(args), variants=_variants(args.variants), agreement=not args.no_agreement,
                      execute=args.execute)
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report_as_dict(report), out, indent=2)
    if args.sft:
        from .training_data import export_sft

        states = [state for result in report.variants.values() for state in result.states]
        written = export_sft(states, args.sft, min_overall=args.min_overall)
        print(f"wrote {written} training examples to {args.sft}")
    return 0


DEFAULT_TEXT = "a red sports car driving along a coastal road at sunset"


def _run(args: argparse.Namespace) -> int:
    from .runner import run_request

    return run_request(args, _loaded(args), default_text=DEFAULT_TEXT)


def _readiness(args: argparse.Namespace, gpus):
    from .doctor import readiness
    from .runner import request_size
    from ..services import Services

    context = _context(args)
    frames, height, width = request_size(args, context.registry)
    return readiness(Services().toolbox(context).registry, frames=frames, height=height, width=width, gpus=gpus)


def _tools(args: argparse.Namespace) -> int:
    rows = []
    for row in _readiness(args, gpus=[]):
        spec, memory = row.spec, row.memory
        here = "yes" if row.weights.present else "no" if spec.is_runnable else "no (set repo_dir)"
        rows.append((spec.name, spec.task, spec.adapter, spec.model or spec.repo_dir or "-", here,
                     f"{memory.peak_bytes / 2**30:.1f}" if memory else "-"))
    _print_table(("tool", "task", "adapter", "weights / repo", "weights here", "GPU GiB at the run's size"), rows)
    print("\n`spagent doctor` adds which GPU each fits and the commands that download what is missing.")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import format_readiness
    from ..tool_adapters.gpus import parse_gpu_sizes, visible_gpus

    try:
        gpus = parse_gpu_sizes(args.gpu_memory) if args.gpu_memory else visible_gpus()
    except ValueError as exc:
        raise UsageError(f"--gpu-memory: {exc}") from None
    rows = _readiness(args, gpus)
    print(format_readiness(rows, gpus))
    # 1, not 2: nothing was asked wrongly, but not every runnable tool can run here.
    return 0 if all(row.ready for row in rows if row.spec.is_runnable) else 1


def _store(args: argparse.Namespace) -> int:
    from .expansion import strength_table
    from ..state import TASKS

    from ..services import Services

    context, services = _context(args), Services()
    store = services.store(context)
    if args.import_from:
        print(f"imported {store.import_file(args.import_from)} rows from {args.import_from}")
    if args.export_to:
        print(f"exported to {store.export(args.export_to)}")
    toolbox = services.toolbox(context)
    tables = []
    for task in TASKS:
        tools = sorted({e.model for e in store.entries(task=task)} | set(toolbox.names_for(task)))
        if tools:
            tables.append(f"{task}\n" + strength_table(store, task, tools))
    print("\n\n".join(tables))  # a blank line between tables, none before the first (`| head -1` reads a task)
    return 0


def _runs(args: argparse.Namespace) -> int:
    from .runs import find_run, format_manifest, kept_runs, runs_table

    folder = _settings(args).artifacts_dir
    if args.action is None:
        if args.run_id is not None:
            raise UsageError(f"runs: {args.run_id!r} is not an action; expected `spagent runs` or `spagent runs show ID`.")
        rows = runs_table(kept_runs(folder))
        if not rows:
            print(f"no runs kept in {folder} (each `spagent run` keeps one there).")
            return 0
        _print_table(("id", "date (UTC)", "thread", "text", "winner", "time"), rows)
        return 0
    if args.run_id is None:
        raise UsageError("runs show: which run? `spagent runs show ID` (`spagent runs` lists the ids).")
    print(format_manifest(find_run(folder, args.run_id)))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .runs import format_replay
    from ..replay import ReplayRefused, replay

    loaded = _loaded(args)
    settings = loaded.settings
    device = settings.device if loaded.sources.get("device", "default") != "default" else None
    try:
        result = replay(args.path, out=args.out, anyway=args.anyway, device=device, cache_dir=settings.cache_dir,
                        artifacts_dir=settings.artifacts_dir)
    except ReplayRefused:
        raise
    for line in result.differences:
        print(f"differs here: {line}")
    print(format_replay(result))
    return 0 if result.identical else 1


def _config(args: argparse.Namespace) -> int:
    loaded = _loaded(args)
    print(f"# settings file: {loaded.config_file or 'none'}")
    for name, value in loaded.settings.model_dump(mode="json").items():  # a secret dumps as "**********"
        print(f"{name} = {json.dumps(value)}  # {loaded.sources[name]}")
    return 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def _add_setting_options(group, names: Sequence[str]) -> None:
    """One option per setting of `names`, its help the setting's own description: nothing here to keep in step."""
    from ..settings import Settings, default_text, describe_type, env_name, option_name

    for name in names:
        field = Settings.model_fields[name]
        flag = field.annotation is bool
        group.add_argument(
            option_name(name), dest=name, metavar="true|false" if flag else name.upper().split("_")[-1],
            nargs="?" if flag else None, const="true" if flag else None,
            help=f"{field.description} [{describe_type(field)}; default {default_text(field)}; ${env_name(name)}]")


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (with a hint where one helps) and exit code 2."""

    def error(self, message: str, hint: str = "") -> typing.NoReturn:
        print(f"error: {self.prog}: {message}{hint}; `{self.prog} --help` lists the options.", file=sys.stderr)
        raise SystemExit(2)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args, stray = parser.parse_known_args(argv)
    if stray:
        command = parser.subcommands[args.command]
        hint = ""
        if args.command == "run" and not any(word.startswith("-") for word in stray):
            hint = f" (the text goes after --text: spagent run --text {shlex.quote(' '.join(stray))})"
        command.error(f"unrecognized arguments: {' '.join(stray)}", hint)
    return args


def _whole_number(least: int):
    """An option's type: a whole number of `least` or more, named in the error when it is not."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of {least} or more, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected a whole number of {least} or more, got {value}")
        return value

    return parse


_count = _whole_number(1)  # counts and sizes: 0 would silently mean "the default"
_seed = _whole_number(0)


def _shared_options(names: Sequence[str]) -> argparse.ArgumentParser:
    shared = _Parser(add_help=False)
    shared.add_argument("--config", help="TOML settings file (default $SPAGENT_CONFIG, else ./spagent.toml if present).")
    shared.add_argument("--verbose", action="store_true",
                        help="Also show the libraries' own logs and loading bars, and the run's plan in full.")
    _add_setting_options(shared.add_argument_group("settings (each also SPAGENT_<NAME> or a key of the settings file)"),
                         names)
    return shared


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spagent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from ..settings import Settings

    # Each command lists the settings it reads: a run's (the context), `run` also where it keeps its
    # checkpoints, and `config` every one, the server's too. A setting from the file or the
    # environment applies whether or not the command has an option for it.
    context_settings = [name for name in Settings.model_fields if name in Context.model_fields]
    shared = _shared_options(context_settings)
    shared_run = _shared_options([*context_settings, "checkpoint"])
    shared_all = _shared_options(list(Settings.model_fields))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    size = argparse.ArgumentParser(add_help=False)
    for option, name, what in (("--frames", "num_frames", "Frames per video"), ("--height", "height", "Height in pixels"),
                               ("--width", "width", "Width in pixels")):
        size.add_argument(option, type=_count, help=f"{what} (default {DEMO_REQUEST_SIZE[name]} on the demo tools, "
                                                    f"else {GenerationOptions.model_fields[name].default}).")

    run = commands.add_parser("run", parents=[shared_run, size], help="Make a video from text, an image or a video.",
                              description="Plan, generate, judge and report one request, checkpointed so that "
                                          "an interrupted run can be resumed with --resume.")
    run.add_argument("--text", help=f"What the video should show (default {DEFAULT_TEXT!r} with no visual input).")
    run.add_argument("--image", type=Path, help="An input image (an animated GIF, or a grid of video frames, counts as video).")
    run.add_argument("--video", type=Path, help="An input video.")
    run.add_argument("--steps", type=_count, help="Denoising steps (default: each tool's own).")
    run.add_argument("--seed", type=_seed, default=0)
    run.add_argument("--out", type=Path, help="Where report.html and report.json go (default: the run's folder).")
    run.add_argument("--thread-id", help="Name of the run in the checkpoint store (default: a new one).")
    run.add_argument("--resume", action="store_true", help="Continue the run --thread-id where it stopped.")
    run.add_argument("--no-progress", action="store_true", help="No progress bars.")
    run.set_defaults(run=_run)

    tools = commands.add_parser("tools", parents=[shared, size], help="List the registry's tools.",
                                description="The tools of the registry: task, adapter, weights, whether they are "
                                            "here, and the GPU memory each needs at the run's size.")
    tools.set_defaults(run=_tools)

    doctor = commands.add_parser(
        "doctor", parents=[shared, size], help="Will each tool run here? Weights, GPU memory, download commands.",
        description="For each tool of the registry, with no network: whether its weights are here (the Hugging "
                    "Face cache or its local folder), the GPU memory it needs at the run's size, whether it fits "
                    "on each visible GPU as it is or with CPU offload, and the commands that download what is "
                    "missing. Exit code 1 when a tool cannot run here.")
    doctor.add_argument("--gpu-memory", metavar="GIB,...",
                        help="Judge fits for GPUs of these sizes instead of the visible ones, e.g. 24,80 (GiB; "
                             "GB for 10^9 bytes).")
    doctor.set_defaults(run=_doctor)

    store = commands.add_parser("store", parents=[shared], help="Show, export or import tool strengths.",
                                description="The capability store's strengths, a table per task.")
    store.add_argument("--export", dest="export_to", help="Write every row to this file (.json or .yaml).")
    store.add_argument("--import", dest="import_from", help="Read rows from this file (an export or a seed file).")
    store.set_defaults(run=_store)

    config = commands.add_parser("config", parents=[shared_all], help="Print the settings in force and their sources.",
                                 description="The merged settings (file, environment, options) and where each came from.")
    config.set_defaults(run=_config)

    runs = commands.add_parser("runs", parents=[shared], help="List the runs kept here, or show one's manifest.",
                               description="The runs whose folders are in artifacts_dir (date, thread, text, winner, "
                                           "time), newest first; `spagent runs show ID` prints what made one run's "
                                           "videos: the libraries, GPU, each step's tool, weights, options and levers.")
    runs.add_argument("action", nargs="?", choices=("show",), help="show: one run's manifest.")
    runs.add_argument("run_id", nargs="?", metavar="ID", help="The run (its id, or the start of it).")
    runs.set_defaults(run=_runs)

    replay = commands.add_parser(
        "replay", parents=[shared], help="Make a run's videos again from its manifest and compare.",
        description="Make the videos of a run again from its manifest: the same tools (the recorded registry "
                    "entries), weights (the recorded revision), seeds, options and levers, and the recorded "
                    "decisions instead of asking the MLLM. Before running, each way this machine differs from the "
                    "one that made the run is said in one line, and the replay runs only with --anyway. After, "
                    "each output is compared with the recorded one (identical, or PSNR and SSIM). Exit code 1 "
                    "when an output differs, 2 when nothing was replayed.")
    replay.add_argument("path", type=Path, help="A run folder, its report.json or manifest.json, or a video or "
                                                "picture the run wrote.")
    replay.add_argument("--anyway", action="store_true", help="Replay even where this machine differs.")
    replay.add_argument("--out", type=Path, help="Folder for the replay's files (new or empty; default: "
                                                 "replay-<run id>-<time> in artifacts_dir).")
    replay.set_defaults(run=_replay)

    expand = commands.add_parser("expand", parents=[shared], help="Admit a tool by judging its outputs.",
                                 description="Admit a tool: run it on the probe set, judge every output, store its "
                                             "per-subject strengths and print them beside the other tools of its task.")
    expand.add_argument("--tool", required=True, help="The registry entry to admit.")
    expand.add_argument("--per-subject", type=_count, default=2, help="Probes per subject (default 2).")
    for option, name in (("--frames", "num_frames"), ("--height", "height"), ("--width", "width")):
        expand.add_argument(option, type=_count, default=GenerationOptions.model_fields[name].default)
    expand.add_argument("--seed", type=_seed, default=0)
    expand.set_defaults(run=_expand)

    bench = commands.add_parser(
        "bench", parents=[shared, size], help="Measure a profile's speedup and fidelity on your weights.",
        description="Run a tool on fixed probe prompts, exact and under a profile's levers (its cache included) "
                    "with the same seeds; print the speedup and the PSNR and SSIM of each output against the exact "
                    "one (and the MLLM judge's score difference, with a judge), and record them in the capability "
                    "store (store_path), where they decide whether the cache is used. Exit code 1 when the means "
                    "fail fidelity_min_psnr_db or fidelity_min_ssim.")
    bench.add_argument("--tool", required=True, help="The registry entry to bench.")
    bench.add_argument("--profile", choices=("balanced", "fast"), default="fast", help="The profile (default fast).")
    bench.add_argument("--probes", type=_count, default=3,
                       help="Probe prompts, one per subject first (default 3; one more pair warms up first).")
    bench.add_argument("--steps", type=_count, help="Denoising steps (default: the tool's own).")
    bench.add_argument("--seed", type=_seed, default=0)
    bench.set_defaults(run=_bench)

    evaluate = commands.add_parser("eval", parents=[shared], help="Judge agreement, completion, selection precision.",
                                   description="The paper's evaluation on a dataset (see spagent_graph.apps.evaluation).")
    evaluate.add_argument("dataset", help="JSON Lines dataset file.")
    evaluate.add_argument("--variants", default="full",
                          help="full, paper (all six rows of the ablation table), or a comma list of "
                               f"full and ablations ({', '.join(ABLATIONS)}).")
    evaluate.add_argument("--execute", action="store_true", help="Run the tools instead of judging the dataset's videos.")
    evaluate.add_argument("--no-agreement", action="store_true", help="Skip judging the dataset's human-scored videos.")
    evaluate.add_argument("--json", help="Also write the figures as JSON here.")
    evaluate.add_argument("--sft", help="Append the runs' MLLM decisions as chat-format JSONL here.")
    evaluate.add_argument("--min-overall", type=float, help="With --sft: keep decisions whose outcome scored this or more.")
    evaluate.set_defaults(run=_eval)
    parser.subcommands = commands.choices  # for errors found after parsing, in the command's own name
    return parser


# The request's fields, named as the options that set them, for the errors a user reads.
_OPTION_OF = {"num_frames": "--frames", "height": "--height", "width": "--width", "num_inference_steps": "--steps",
              "seed": "--seed", "text": "--text", "image": "--image", "video": "--video"}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    _quiet_libraries(verbose=args.verbose, loads_models=args.command in ("run", "expand", "eval", "bench", "replay"))
    try:
        return args.run(args)
    except SpagentError as exc:  # a mistake in the settings or the request: one line, not a traceback
        print(error_message(exc), file=sys.stderr)
        return 2
    except ValidationError as exc:  # a request the state's models refuse (e.g. --text of a megabyte)
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or exc.title
        where = _OPTION_OF.get(str(error["loc"][-1]) if error["loc"] else "", where)  # as the user typed it
        print(f"error: {where}: {error['msg']}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # `spagent run` says how to continue; the other commands have nothing to continue
        print("interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`spagent store | head`): stop quietly, as Unix tools do, and keep
        # Python from failing again when it flushes standard output on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _quiet_libraries(*, verbose: bool, loads_models: bool) -> None:
    """The terminal is ours: the libraries' logs, warnings and loading bars show only with --verbose."""
    import logging
    import warnings

    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    # Read by the libraries when they are imported, which most commands never need to do.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also turns off transformers' loading bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    for name in ("transformers", "diffusers", "huggingface_hub", "accelerate", "torch", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(transformers|diffusers|torch|accelerate)\b")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if "transformers" in sys.modules:  # imported before us (by a caller of main): too late for the variables
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    if "diffusers" in sys.modules or loads_models:
        # diffusers has no variable for its "Loading pipeline components" bar.
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
