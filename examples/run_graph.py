"""Run the SPAgent graph once and write the candidates and a report.

    python examples/run_graph.py                         # demo tools, no MLLM, CPU
    python examples/run_graph.py --text "a dog surfing" --image dog.png
    python examples/run_graph.py --mllm-url http://localhost:8000/v1 --registry paper

With no arguments it uses the built-in demo tools (tiny random-weight
pipelines, so the videos are noise) and the MLLM-free planner.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from spagent_graph import Context, GenerationOptions, Request, SpagentError, build_graph
from spagent_graph.report import write_report

DEFAULT_TEXT = "a red sports car driving along a coastal road at sunset"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", default=None, help=f"What the video should show (default: {DEFAULT_TEXT!r} "
                        "when neither an image nor a video is given).")
    parser.add_argument("--image", type=Path, help="An input image (a grid of pictures or an animated GIF counts as video).")
    parser.add_argument("--video", type=Path, help="An input video.")
    parser.add_argument("--out", type=Path, default=Path("outputs/run_graph"), help="Output folder.")
    parser.add_argument("--registry", default="demo", help="Tool registry: demo, paper, or a YAML path.")
    parser.add_argument("--mllm-url", default=None, help="OpenAI-compatible MLLM endpoint (or SPAGENT_MLLM_URL).")
    parser.add_argument("--mllm-model", default=None, help="Served model id (default: the server's first model).")
    parser.add_argument("--frames", type=int, default=None, help="Frames per video (demo default 8, else 16).")
    parser.add_argument("--height", type=int, default=None, help="Height in pixels (demo default 64, else 320).")
    parser.add_argument("--width", type=int, default=None, help="Width in pixels (demo default 64, else 512).")
    parser.add_argument("--steps", type=int, default=None, help="Denoising steps (default: each tool's own).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="Torch device for the tools (auto, cpu, cuda, cuda:1).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo = args.registry == "demo"
    text = args.text if args.text is not None else (None if (args.image or args.video) else DEFAULT_TEXT)
    options = GenerationOptions(
        num_frames=args.frames or (8 if demo else 16),
        height=args.height or (64 if demo else 320),
        width=args.width or (64 if demo else 512),
        num_inference_steps=args.steps,
        seed=args.seed,
    )
    request = Request(text=text, image=args.image, video=args.video, options=options)
    context_settings = {"registry": args.registry, "artifacts_dir": str(args.out), "device": args.device}
    if args.mllm_url:
        context_settings["mllm_url"] = args.mllm_url
    if args.mllm_model:
        context_settings["mllm_model"] = args.mllm_model
    context = Context(**context_settings)

    started = time.perf_counter()
    state: dict = {}
    try:
        for update in build_graph().stream({"request": request}, context=context, stream_mode="values"):
            state = update
    except SpagentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if state:
            write_report(state, args.out)  # whatever was made before the error stays reachable
        return 2
    seconds = time.perf_counter() - started

    intent, routes, models = state["intent"], state["route_plan"], state["model_plan"]
    print(f"MLLM: {context.mllm_url or 'none (MLLM-free planner)'}")
    print(f"intent: text={intent.text_type!r} visual={intent.visual_type!r} subject={intent.subject} "
          f"aligned={intent.aligned} (types by {intent.types_decided_by}, alignment by {intent.alignment_decided_by})")
    for note in intent.notes + routes.repairs + models.notes:
        print(f"  note: {note}")
    for index, route in enumerate(models.routes):
        print(f"route {index + 1}: " + " -> ".join(f"{c.task}[{c.tool} {c.strength:.0f}]" for c in route))
    scores = {e.candidate_id: e for e in state.get("evaluations", [])}
    for candidate in state.get("candidates", []):
        score = scores.get(candidate.id)
        print(f"{candidate.id}: {candidate.video or candidate.error} "
              f"score={score.overall if score else None} by {score.judge if score else '-'} ({candidate.seconds:.2f}s)")
    print(f"winner: {state['choice'].reason}")
    json_path, html_path = write_report(state, args.out)
    print(f"report: {html_path} and {json_path} ({seconds:.1f}s)")
    return 0 if state["choice"].video else 1


if __name__ == "__main__":
    sys.exit(main())
