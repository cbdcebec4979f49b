"""`spagent run`: one request through the graph, checkpointed, with live progress.

Progress comes from the graph's own streams: `updates` moves the stage bar
as each node finishes, `custom` moves one bar per candidate as its tools
report denoising steps. Interrupts (plan review, picking the winner) are
answered on standard input. Whatever was made before an error is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from .errors import SpagentError
from .persistence import open_checkpointer
from .report import write_report
from .settings import Settings
from .state import GenerationOptions, Request

__all__ = ["ProgressBars", "run_request"]

# The stages a run passes through, in order (execute_route once per distinct route).
STAGES = ("inspect_inputs", "recognize_intent", "plan_routes", "select_models", "review_plan", "execute_route",
          "judge_candidates", "choose_winner", "review_winner", "update_strengths")


class ProgressBars:
    """tqdm bars fed by the graph's stream: one for the stages, one per candidate's denoising."""

    def __init__(self, *, enabled: bool = True, file: TextIO | None = None) -> None:
        self.enabled, self.file = enabled, file or sys.stderr
        file = self.file
        self.stages = tqdm(total=len(STAGES), desc="stages", unit="stage", disable=not enabled, file=file,
                           position=0, leave=True)
        self.steps: dict[str, tqdm] = {}
        self.seen: set[str] = set()  # execute_route finishes once per route; the stage counts once

    def update(self, mode: str, chunk: Any) -> None:
        if mode == "updates":
            for node in chunk:
                if node in STAGES and node not in self.seen:
                    self.seen.add(node)
                    self.stages.set_postfix_str(node)
                    self.stages.update(1)
        elif mode == "custom" and chunk.get("stage") == "denoise":
            key = f"{chunk['candidate']} {chunk['tool']}"
            bar = self.steps.get(key)
            if bar is None:
                bar = self.steps[key] = tqdm(total=chunk.get("total") or None, desc=key, unit="step",
                                             disable=not self.enabled, file=self.file,
                                             position=len(self.steps) + 1, leave=False)
            bar.n = chunk["step"]
            bar.refresh()

    def close(self) -> None:
        for bar in self.steps.values():
            bar.close()
        self.stages.close()


def run_request(args: argparse.Namespace, settings: Settings, *, default_text: str,
                answers: TextIO | None = None) -> int:
    from langgraph.types import Command

    from .graph import build_graph

    context = settings.context()
    if args.resume and not args.thread_id:
        print("error: --resume needs --thread-id, the run to continue.", file=sys.stderr)
        return 2
    thread = args.thread_id or uuid.uuid4().hex[:12]
    config = {"configurable": {"thread_id": thread}}
    inputs: Any = None if args.resume else {"request": _request(args, settings, default_text)}

    started = time.perf_counter()
    state: dict = {}
    with open_checkpointer(settings.checkpoint_target) as saver:
        graph = build_graph(checkpointer=saver)
        bars = ProgressBars(enabled=not args.no_progress)
        try:
            while True:
                pending = None
                for mode, chunk in graph.stream(inputs, config, context=context, stream_mode=["updates", "custom"]):
                    if mode == "updates" and "__interrupt__" in chunk:
                        pending = chunk["__interrupt__"][0].value
                    bars.update(mode, chunk)
                state = graph.get_state(config).values
                if pending is None:
                    break
                inputs = Command(resume=_ask(pending, answers or sys.stdin))
        except SpagentError as exc:
            bars.close()
            state = graph.get_state(config).values or state
            print(f"error: {exc}", file=sys.stderr)
            if state.get("run_id"):
                write_report(state, args.out or Path(settings.artifacts_dir) / state["run_id"])
            return 2
        bars.close()

    seconds = time.perf_counter() - started
    _summarise(state, context)
    out = args.out or Path(settings.artifacts_dir) / state["run_id"]
    json_path, html_path = write_report(state, out)
    print(f"report: {html_path} and {json_path} ({seconds:.1f}s; thread {thread})")
    return 0 if state["choice"].video else 1


def _request(args: argparse.Namespace, settings: Settings, default_text: str) -> Request:
    demo = settings.registry == "demo"
    text = args.text if args.text is not None else (None if (args.image or args.video) else default_text)
    options = GenerationOptions(
        num_frames=args.frames or (8 if demo else 16),
        height=args.height or (64 if demo else 320),
        width=args.width or (64 if demo else 512),
        num_inference_steps=args.steps,
        seed=args.seed,
    )
    return Request(text=text, image=args.image, video=args.video, options=options)


def _ask(pending: dict, answers: TextIO) -> dict:
    """Shows an interrupt and reads the answer: a word, or a JSON object for an edit."""
    print(json.dumps(pending, indent=2, default=str))
    if pending.get("kind") == "pick_winner":
        prompt = "winner? (a candidate id, or accept) > "
    else:
        prompt = 'plan? approve | cancel | {"action": "edit", "routes": [...], "tools": [...]} > '
    print(prompt, end="", flush=True)
    line = answers.readline().strip()
    if line.startswith("{"):
        return json.loads(line)
    if pending.get("kind") == "pick_winner":
        return {"action": "accept"} if line in ("", "accept") else {"candidate_id": line}
    return {"action": line or "approve"}


def _summarise(state: dict, context) -> None:
    if state.get("intent") is None:
        return
    intent, routes, models = state["intent"], state["route_plan"], state["model_plan"]
    print(f"MLLM: {context.mllm_url or 'none (MLLM-free planner)'}")
    print(f"intent: text={intent.text_type!r} visual={intent.visual_type!r} subject={intent.subject_in_words} "
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
