"""`spagent run`: one request through the graph, checkpointed, with live progress.

Progress comes from the graph's own streams: `updates` moves the stage bar
as each node finishes, `custom` moves one bar per candidate as its tools
report denoising steps. Interrupts (plan review, picking the winner) are
answered on standard input. Whatever was made before an error is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from ..context import Context
from ..errors import SpagentError, UsageError, error_message
from ..persistence import open_checkpointer
from ..settings import LoadedSettings, Settings
from ..state import DEMO_REQUEST_SIZE, GenerationOptions, Request
from ..tool_adapters.registry import ToolRegistry
from .report import RunFacts, write_report

__all__ = ["ProgressBars", "ask", "request_size", "run_request"]

# The stages a run passes through, in order (execute_route once per distinct route).
STAGES = ("inspect_inputs", "recognize_intent", "plan_routes", "select_models", "review_plan", "check_tools",
          "execute_route",
          "judge_candidates", "choose_winner", "review_winner", "update_strengths", "record_run", "reply")


class ProgressBars:
    """tqdm bars fed by the graph's stream: one for the stages, one per candidate's denoising.

    Every bar is left on screen when it ends (a finished candidate's bar reads "25/25"), so
    closing one never leaves a blank line behind among the others.
    """

    def __init__(self, *, enabled: bool = True, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        # Into a log or a pipe, bars would write carriage returns and escape codes: plain lines instead.
        self.plain = enabled and not (hasattr(self.file, "isatty") and self.file.isatty())
        self.enabled = enabled and not self.plain
        self.stages = self._bar(total=len(STAGES), desc="stages", unit="stage", position=0)
        self.steps: dict[str, tqdm] = {}
        self.seen: set[str] = set()  # execute_route finishes once per route; the stage counts once

    def _bar(self, **options) -> tqdm:
        return tqdm(disable=not self.enabled, file=self.file, leave=True, dynamic_ncols=True, **options)

    def update(self, mode: str, chunk: Any) -> None:
        if self.plain:
            self._line(mode, chunk)
            return
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
                bar = self.steps[key] = self._bar(total=chunk.get("total") or None, desc=key, unit="step",
                                                  position=len(self.steps) + 1)
            bar.n = chunk["step"]
            bar.refresh()

    def _line(self, mode: str, chunk: Any) -> None:
        if mode == "updates":
            for node in chunk:
                if node in STAGES and node not in self.seen:
                    self.seen.add(node)
                    print(f"stage {len(self.seen)}/{len(STAGES)}: {node}", file=self.file, flush=True)
        elif mode == "custom" and chunk.get("stage") == "denoise" and chunk.get("step") == chunk.get("total"):
            print(f"{chunk['candidate']} {chunk['tool']}: {chunk['total']} steps done", file=self.file, flush=True)

    def pause(self) -> None:
        """Clears the bars off the screen before the run asks the user something."""
        for bar in (self.stages, *self.steps.values()):
            bar.clear()

    def close(self) -> None:
        # Closed top-down, so that the final lines keep the order the bars had on screen.
        self.stages.close()
        for bar in self.steps.values():
            bar.close()


def run_request(args: argparse.Namespace, loaded: LoadedSettings, *, default_text: str,
                answers: TextIO | None = None) -> int:
    """Runs (or resumes) one request; prints the result in a few lines. Returns the exit code."""
    from langgraph.types import Command

    from ..graph import build_graph

    settings = loaded.settings
    context = settings.context()
    _check_tools(context)
    _check_device(context.device)
    _check_writable(settings, args.out)
    _check_mllm(context, loaded.sources)
    if args.resume and not args.thread_id:
        raise UsageError("--resume needs --thread-id, the run to continue (each run prints its thread id).")
    thread = args.thread_id or uuid.uuid4().hex[:12]
    config = {"configurable": {"thread_id": thread}}
    inputs: Any = None if args.resume else {"request": _request(args, settings, default_text)}

    started_at, started = datetime.now(timezone.utc), time.perf_counter()
    state: dict = {}
    with open_checkpointer(settings.checkpoint, must_exist=args.resume) as saver:
        if args.resume:
            _require_thread(saver, thread, settings.checkpoint)
        graph = build_graph(checkpointer=saver)
        bars = ProgressBars(enabled=not args.no_progress)
        failure: SpagentError | None = None
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
                bars.pause()
                inputs = Command(resume=ask(pending, answers or sys.stdin))
        except SpagentError as exc:  # whatever was made before the error is still reported
            failure = exc
            state = graph.get_state(config).values or state
        except KeyboardInterrupt:
            # Ctrl-C: what finished is checkpointed; the run continues from there with --resume.
            bars.close()
            print(f"interrupted: continue this run with `spagent run --thread-id {thread} --resume`"
                  f"{'' if settings.checkpoint == _default_checkpoint() else f' --checkpoint {settings.checkpoint}'}.",
                  file=sys.stderr)
            return 130
        finally:
            bars.close()

    run = RunFacts(thread_id=thread, started_at=started_at, seconds=time.perf_counter() - started,
                   settings=settings.model_dump(mode="json"), setting_sources=dict(loaded.sources),
                   demo_tools=settings.registry == "demo")
    if failure is not None:
        print(error_message(failure), file=sys.stderr)
    if not state.get("run_id"):
        return 2
    if state.get("manifest") is not None:  # the graph cannot know where the settings came from; the command does
        manifest = state["manifest"].model_copy(update={"setting_sources": dict(loaded.sources)})
        manifest.write(Path(settings.artifacts_dir) / state["run_id"])
        state = {**state, "manifest": manifest}
    if args.verbose:
        _summarise(state, context)
    out = Path(args.out or Path(settings.artifacts_dir) / state["run_id"])
    choice = state.get("choice")
    winner = _place_winner(choice.video, out) if choice is not None and choice.video else None
    run = dataclasses.replace(run, winner_file=winner, error=str(failure) if failure is not None else None)
    _, html_path = write_report(state, out, run)
    _print_result(state, winner, html_path, run, failed=failure is not None)
    if failure is not None:
        return 2
    return 0 if winner is not None or state.get("cancelled") else 1


def _default_checkpoint() -> str:
    return str(Settings.model_fields["checkpoint"].get_default(call_default_factory=True))


def _check_mllm(context: Context, sources: dict[str, str]) -> None:
    """An MLLM the user named is asked for its models before the run: unreachable, the command stops at
    once (exit 2) rather than deciding without it unnoticed, unless the user allowed the fallback in words."""
    if context.mllm_url is None or sources.get("fallback_on_mllm_error", "default") != "default":
        return
    from ..errors import MLLMError
    from ..mllm import MLLMClient

    probe = MLLMClient(base_url=context.mllm_url, model=None, timeout_s=min(context.mllm_timeout_s, 10), max_retries=0)
    try:
        probe.model_id
    except MLLMError as exc:
        raise UsageError(f"--mllm-url {context.mllm_url}: the MLLM could not be reached ({exc}). Start it, or "
                         f"add --fallback-on-mllm-error true to let the MLLM-free planner decide.") from None


def _check_device(device: str) -> None:
    """A CUDA device asked of a torch built without CUDA: said before any work, with what to install."""
    if not device.startswith("cuda"):
        return
    import torch

    if torch.version.cuda is None:
        raise UsageError(f"--device {device}: this torch ({torch.__version__}) is built without CUDA; install a "
                         f"CUDA build (https://pytorch.org/get-started/locally/), or use --device cpu.")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: torch sees no CUDA GPU here (driver or CUDA_VISIBLE_DEVICES); "
                         f"use --device cpu, or auto.")


def _check_writable(settings: Settings, out: Path | None) -> None:
    """The folders and the file a run writes to, checked before any work: a name that is a file, or a
    folder this user cannot write in, is one line naming its option."""
    folders = [("--artifacts-dir", Path(settings.artifacts_dir))]
    if out is not None:
        folders.append(("--out", Path(out)))
    checkpoint = settings.checkpoint
    if checkpoint != "memory" and "://" not in checkpoint:
        path = Path(checkpoint)
        if path.is_dir():
            raise UsageError(f"--checkpoint {checkpoint}: is a folder; expected a SQLite file (or memory, or a "
                             f"postgresql:// URL).")
        folders.append(("--checkpoint", path.parent if not path.exists() else path))
    for option, path in folders:
        if path.exists() and not path.is_dir() and option != "--checkpoint":
            raise UsageError(f"{option} {path}: is a file; expected a folder to write into.")
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and existing.is_file() and existing != path:
            raise UsageError(f"{option} {path}: {existing} is a file, so no folder can be made there.")
        if existing is not None and not os.access(existing, os.W_OK):
            raise UsageError(f"{option} {path}: {existing} is not writable by this user.")


def _require_thread(saver: Any, thread: str, target: str) -> None:
    if saver.get_tuple({"configurable": {"thread_id": thread}}) is not None:
        return
    known: list[str] = []
    for saved in saver.list(None, limit=200):
        name = saved.config["configurable"]["thread_id"]
        if name not in known:
            known.append(name)
    listed = f"; its runs include {', '.join(known[:8])}" if known else "; it holds no runs"
    raise UsageError(f"--resume: no run with thread id {thread!r} in {target}{listed}.")


def _place_winner(video: Path, out: Path) -> Path:
    """The winning video as winner.mp4 beside the report: a hard link where the file system
    allows one (no copy of a large file), else a copy."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"winner{Path(video).suffix or '.mp4'}"
    target.unlink(missing_ok=True)
    try:
        os.link(video, target)
    except OSError:
        shutil.copy2(video, target)
    return target


def _print_result(state: dict, winner: Path | None, report: Path, run: RunFacts, *, failed: bool) -> None:
    choice = state.get("choice")
    if winner is not None:
        print(f"winner: {winner}\n        {choice.reason}")
        made_by = next((c for c in state.get("candidates", []) if c.id == choice.candidate_id), None)
        for step in made_by.steps if made_by else ():
            for adjustment in step.adjustments:  # what the tool changed of what was asked (--height 63 -> 56)
                print(f"fitted: {step.tool}: {adjustment}")
    elif choice is not None:
        print(f"no winner: {choice.reason}")
    elif not failed:  # after an error, the error has said why
        print("no winner: the run stopped before judging.")
    intent, plan = state.get("intent"), state.get("route_plan")
    mllm_failures = [n for n in [*(intent.notes if intent else []), *(plan.repairs if plan else [])]
                     if n.startswith("MLLM failed")]
    if mllm_failures:  # said here too, not only in the report: the run went on without the MLLM asked for
        print(f"note:   the MLLM failed ({len(mllm_failures)} time{'s' if len(mllm_failures) > 1 else ''}), so "
              f"the MLLM-free planner decided; the report's failures say why.")
    if run.demo_tools:
        print("note:   the demo tools are tiny random-weight models, so their videos are noise by design; "
              "`spagent doctor --registry library` shows what real models need.")
    print(f"report: {report}")
    print(f"time:   {run.seconds:.1f} s (thread {run.thread_id}; continue or inspect it with "
          f"--thread-id {run.thread_id} --resume)")


def _check_tools(context: Context) -> None:
    """The registry and the tools named, read before the run, so that a misspelt one is one line with the
    nearest name and nothing is written (reading a registry loads no model)."""
    registry = ToolRegistry.from_yaml(context.registry)
    if context.tools:
        registry.restricted_to(list(context.tools))


def request_size(args: argparse.Namespace, registry: str) -> tuple[int, int, int]:
    """(frames, height, width) a run asks for: the options, else small on the demo tools, else the defaults."""
    default = DEMO_REQUEST_SIZE if registry == "demo" else {name: GenerationOptions.model_fields[name].default
                                                            for name in DEMO_REQUEST_SIZE}
    return (args.frames or default["num_frames"], args.height or default["height"], args.width or default["width"])


def _request(args: argparse.Namespace, settings: Settings, default_text: str) -> Request:
    text = args.text if args.text is not None else (None if (args.image or args.video) else default_text)
    frames, height, width = request_size(args, settings.registry)
    options = GenerationOptions(
        num_frames=frames, height=height, width=width, num_inference_steps=args.steps, seed=args.seed,
    )
    image, video = args.image, args.video
    if settings.input_root is not None:  # the graph reads a relative path from there; typed here, it means this folder
        image, video = (path.absolute() if path is not None else None for path in (image, video))
    return Request(text=text, image=image, video=video, options=options)


PLAN_PROMPT = 'plan? approve | cancel | {"action": "edit", "routes": [...], "tools": [...]} > '
WINNER_PROMPT = "winner? a candidate id, or accept > "


def ask(pending: dict, answers: TextIO, out: TextIO | None = None) -> dict:
    """Shows an interrupt and reads the answer, asking again until it is one the run can take.

    End of input cancels a plan review (nothing is generated that was not approved) and keeps
    the judge's pick at a winner review; either way the terminal says so.
    """
    out = out or sys.stdout
    print(json.dumps(pending, indent=2, default=str), file=out)
    winner_review = pending.get("kind") == "pick_winner"
    while True:
        print(WINNER_PROMPT if winner_review else PLAN_PROMPT, end="", flush=True, file=out)
        line = answers.readline()
        if not line:
            print("\nend of input: " + ("keeping the judge's pick." if winner_review else "plan cancelled."), file=out)
            return {"action": "accept"} if winner_review else {"action": "cancel"}
        answer, problem = _read_answer(line.strip(), winner_review, pending)
        if problem is None:
            return answer
        print(f"error: {problem}; answer again.", file=out)


def _read_answer(line: str, winner_review: bool, pending: dict) -> tuple[dict, str | None]:
    if winner_review:
        ids = [c["candidate_id"] for c in pending.get("candidates", [])]
        if line in ("", "accept"):
            return {"action": "accept"}, None
        if line in ids:
            return {"candidate_id": line}, None
        return {}, f"{line!r} is not a candidate; expected one of {', '.join(ids)} or accept"
    if line.startswith("{"):
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as exc:
            return {}, f"the edit is not valid JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(answer, dict) or answer.get("action") != "edit":
            return {}, 'an edit is a JSON object with "action": "edit"'
        return answer, None
    if line in ("", "approve", "cancel"):
        return {"action": line or "approve"}, None
    return {}, f"{line!r} is not an answer; expected approve, cancel or a JSON edit"


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
