"""The `spagent` command.

    spagent run [--text T] [--image F | --video F] [--thread-id ID [--resume]] [--review-plan] [--pick-winner]
        Make a video: plan, generate, judge; progress bars per stage and per
        denoising step; a checkpointed run that a later `--resume` continues;
        writes report.html and report.json beside the artifacts.

    spagent tools [--registry R]      the registry's tools, their tasks and where their weights come from
    spagent store [--store-path F] [--export F | --import F]
                                      the capability store's strengths per task and subject
    spagent config                    the settings in force and where each came from

    spagent expand --tool NAME [--registry FILE] [--store-path FILE]
        Admit a tool: run it on the probe set, judge every output, store its
        per-subject strengths, print them beside the other tools of its task.

    spagent eval DATASET [--variants paper] [--execute] [--json OUT] [--sft OUT]
        The paper's evaluation on a dataset file (format: spagent_graph.evaluation):
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
import sys
from collections.abc import Sequence
from pathlib import Path

from .context import ABLATIONS, Context
from .errors import SpagentError

__all__ = ["main"]


def _options(args: argparse.Namespace) -> dict[str, str | None]:
    """The settings given as options: field -> its raw text."""
    from .settings import Settings

    return {name: getattr(args, name, None) for name in Settings.model_fields}


def _loaded(args: argparse.Namespace):
    from .settings import load_settings

    return load_settings(args.config, _options(args))


def _settings(args: argparse.Namespace):
    return _loaded(args).settings


def _context(args: argparse.Namespace) -> Context:
    return _settings(args).context()


def _expand(args: argparse.Namespace) -> int:
    from .expansion import build_expansion_graph
    from .state import GenerationOptions

    options = GenerationOptions(num_frames=args.frames, height=args.height, width=args.width, seed=args.seed)
    result = build_expansion_graph().invoke(
        {"tool": args.tool, "per_subject": args.per_subject, "options": options}, context=_context(args)
    )
    print(result["report"])
    return 0


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

    settings = _settings(args)
    return run_request(args, settings, default_text=DEFAULT_TEXT)


def _tools(args: argparse.Namespace) -> int:
    from .services import Services

    registry = Services().toolbox(_context(args)).registry
    rows = [(spec.name, spec.task, spec.adapter, spec.model or spec.repo_dir or "-",
             "yes" if spec.is_runnable else "no") for spec in registry]
    _print_table(("tool", "task", "adapter", "weights / repo", "runnable here"), rows)
    return 0


def _store(args: argparse.Namespace) -> int:
    from .expansion import strength_table
    from .state import TASKS

    from .services import Services

    context, services = _context(args), Services()
    store = services.store(context)
    if args.import_from:
        print(f"imported {store.import_file(args.import_from)} rows from {args.import_from}")
    if args.export_to:
        print(f"exported to {store.export(args.export_to)}")
    toolbox = services.toolbox(context)
    for task in TASKS:
        tools = sorted({e.model for e in store.entries(task=task)} | set(toolbox.names_for(task)))
        if tools:
            print(f"\n{task}\n" + strength_table(store, task, tools))
    return 0


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


def _add_setting_options(group) -> None:
    """One option per setting, its help the setting's own description: nothing here to keep in step."""
    from .settings import Settings, default_text, describe_type, env_name, option_name

    for name, field in Settings.model_fields.items():
        flag = field.annotation is bool
        group.add_argument(
            option_name(name), dest=name, metavar="" if flag else name.upper().split("_")[-1],
            nargs="?" if flag else None, const="true" if flag else None,
            help=f"{field.description} [{describe_type(field)}; default {default_text(field)}; ${env_name(name)}]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spagent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--config", help="TOML settings file (default $SPAGENT_CONFIG, else ./spagent.toml if present).")
    _add_setting_options(shared.add_argument_group("settings (each also SPAGENT_<NAME> or a key of the settings file)"))
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[shared], help="Make a video from text, an image or a video.",
                              description="Plan, generate, judge and report one request, checkpointed so that "
                                          "an interrupted run can be resumed with --resume.")
    run.add_argument("--text", help=f"What the video should show (default {DEFAULT_TEXT!r} with no visual input).")
    run.add_argument("--image", type=Path, help="An input image (an animated GIF, or a grid of video frames, counts as video).")
    run.add_argument("--video", type=Path, help="An input video.")
    run.add_argument("--frames", type=int, help="Frames per video (default 8 on the demo tools, else 16).")
    run.add_argument("--height", type=int, help="Height in pixels (default 64 on the demo tools, else 320).")
    run.add_argument("--width", type=int, help="Width in pixels (default 64 on the demo tools, else 512).")
    run.add_argument("--steps", type=int, help="Denoising steps (default: each tool's own).")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, help="Where report.html and report.json go (default: the run's folder).")
    run.add_argument("--thread-id", help="Name of the run in the checkpoint store (default: a new one).")
    run.add_argument("--resume", action="store_true", help="Continue the run --thread-id where it stopped.")
    run.add_argument("--no-progress", action="store_true", help="No progress bars.")
    run.set_defaults(run=_run)

    tools = commands.add_parser("tools", parents=[shared], help="List the registry's tools.",
                                description="The tools of the registry: task, adapter, weights, whether runnable here.")
    tools.set_defaults(run=_tools)

    store = commands.add_parser("store", parents=[shared], help="Show, export or import tool strengths.",
                                description="The capability store's strengths, a table per task.")
    store.add_argument("--export", dest="export_to", help="Write every row to this file (.json or .yaml).")
    store.add_argument("--import", dest="import_from", help="Read rows from this file (an export or a seed file).")
    store.set_defaults(run=_store)

    config = commands.add_parser("config", parents=[shared], help="Print the settings in force and their sources.",
                                 description="The merged settings (file, environment, options) and where each came from.")
    config.set_defaults(run=_config)

    expand = commands.add_parser("expand", parents=[shared], help="Admit a tool by judging its outputs.",
                                 description="Admit a tool: run it on the probe set, judge every output, store its "
                                             "per-subject strengths and print them beside the other tools of its task.")
    expand.add_argument("--tool", required=True, help="The registry entry to admit.")
    expand.add_argument("--per-subject", type=int, default=2, help="Probes per subject (default 2).")
    expand.add_argument("--frames", type=int, default=16)
    expand.add_argument("--height", type=int, default=320)
    expand.add_argument("--width", type=int, default=512)
    expand.add_argument("--seed", type=int, default=0)
    expand.set_defaults(run=_expand)

    evaluate = commands.add_parser("eval", parents=[shared], help="Judge agreement, completion, selection precision.",
                                   description="The paper's evaluation on a dataset (see spagent_graph.evaluation).")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SpagentError as exc:  # a mistake in the settings or the request: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
