"""The `spagent` command.

    spagent expand --tool NAME [--registry FILE] [--store FILE]
        Admit a tool: run it on the probe set, judge every output, store its
        per-subject strengths, print them beside the other tools of its task.

    spagent eval DATASET [--variants paper] [--execute] [--json OUT] [--sft OUT]
        The paper's evaluation on a dataset file (format: spagent_graph.evaluation):
        judge agreement with human scores, task completion, model-list selection
        precision, for the full agent and any ablations.

Settings shared by every command (MLLM endpoint, registry, store, artifacts,
device) are options here and fall back to the SPAGENT_* environment variables.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .context import ABLATIONS, Context

__all__ = ["main"]


def _context(args: argparse.Namespace) -> Context:
    settings = {
        "registry": args.registry, "store_path": args.store, "artifacts_dir": args.artifacts_dir,
        "device": args.device, "judge": args.judge,
    }
    if args.mllm_url:
        settings["mllm_url"] = args.mllm_url
    if args.mllm_model:
        settings["mllm_model"] = args.mllm_model
    if args.cache_dir:
        settings["cache_dir"] = args.cache_dir
    return Context(**settings)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spagent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--mllm-url", help="OpenAI-compatible endpoint of the MLLM (default $SPAGENT_MLLM_URL; "
                        "none: the MLLM-free planner and frame-statistics judge).")
    shared.add_argument("--mllm-model", help="Served model id (default: the server's first).")
    shared.add_argument("--registry", default="demo", help="Built-in registry name or a registry YAML file.")
    shared.add_argument("--store", help="Capability store SQLite file (default: in memory, seeded).")
    shared.add_argument("--artifacts-dir", default="spagent_outputs", help="Where generated files go.")
    shared.add_argument("--cache-dir", help="Where demo pipelines are built.")
    shared.add_argument("--device", default="auto", help="Torch device for the tools.")
    shared.add_argument("--judge", default="auto", choices=["auto", "mllm", "classical"])
    commands = parser.add_subparsers(dest="command", required=True)

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
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
