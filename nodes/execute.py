"""Route execution: one branch per distinct route, its tools run in order.

Each step's output feeds the next step. A step that another branch already
ran with the same inputs is reused (see `ArtifactStore.once`). A failing tool
ends its route with the error recorded in the candidate; the steps that did
finish keep their files, and the other route carries on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langchain_core.runnables import ensure_config
from langchain_core.runnables.config import merge_configs
from langgraph.runtime import Runtime
from langgraph.types import Send

import av

from spagent_graph.artifacts import step_key
from spagent_graph.manifest import MANIFEST_TAG, MediaManifest, StepManifest, ToolRecord, environment, file_sha256
from spagent_graph.media import tag_media
from spagent_graph.tool_adapters.acceleration import Acceleration
from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.errors import SpagentError
from spagent_graph.principles import input_kind, output_kind
from spagent_graph.state import Candidate, RouteJob, RouteState, State, StepRecord


def dispatch_routes(state: State) -> list[Send] | str:
    """One `Send` per distinct (tools, seed): identical routes run once and serve both.
    A plan the user cancelled runs nothing: the run goes straight to its answer."""
    if state.get("cancelled"):
        return "reply"
    seed = state["request"].options.seed
    jobs: dict[tuple, list[int]] = {}
    choices_by_key = {}
    for index, route in enumerate(state["model_plan"].routes):
        key = tuple((c.task, c.tool) for c in route)
        jobs.setdefault(key, []).append(index)
        choices_by_key[key] = route
    sends = []
    for key, indices in jobs.items():
        job = RouteJob(
            candidate_id="route-" + "+".join(str(i + 1) for i in indices),
            route_indices=tuple(indices),
            choices=choices_by_key[key],
            seed=seed,
        )
        payload: RouteState = {
            "job": job, "request": state["request"], "visual": state.get("visual"), "run_id": state["run_id"],
        }
        sends.append(Send("execute_route", payload))
    return sends


def execute_route(state: RouteState, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    job, request, options = state["job"], state["request"], state["request"].options
    toolbox, artifacts = services.toolbox(context), services.artifacts(context)
    # What the next step takes as input; the first step reads the user's visual input,
    # whichever kind its content turned out to be.
    run_dir = artifacts.run_dir(state["run_id"])
    run_inputs = {}
    source = None
    if state["visual"] is not None:
        # Read from the run's own copy, so that the run's folder alone makes it again.
        kept = run_inputs[state["visual"].input_name] = artifacts.kept_input(state["run_id"], state["visual"].path)
        source = run_dir / kept.path
    current = {"image": source, "video": source}
    steps: list[StepRecord] = []
    error = None

    def report(event: dict) -> None:  # denoising progress from inside the tool, on this thread
        runtime.stream_writer({"stage": "denoise", "candidate": job.candidate_id, **event})

    # The same for every step of the route.
    settings = {
        "num_frames": options.num_frames, "height": options.height, "width": options.width,
        "fps": options.fps, "num_inference_steps": options.num_inference_steps, "seed": job.seed,
    }
    # Each tool's levers under the run's profile, gated by its bench in the store.
    size = (options.num_frames, options.height, options.width)
    accelerations = {c.tool: services.acceleration(toolbox.registry.get(c.tool), context, size)
                     for c in job.choices}
    levers = {tool: acceleration.levers for tool, acceleration in accelerations.items()}
    config = merge_configs(ensure_config(), {"configurable": {"progress": report, "levers": levers}})
    started = time.perf_counter()
    for index, choice in enumerate(job.choices):
        kind = input_kind(choice.task)
        inputs = {"prompt": request.text or ""}
        if kind in ("image", "video"):
            if current[kind] is None:  # only a route planned without the principles gets here
                error = f"step {index + 1} ({choice.task}) needs an {kind}, which neither the request nor an earlier step gave."
                break
            inputs[kind] = str(current[kind])
        tool = toolbox.tool(choice.tool)
        acceleration = accelerations[choice.tool]
        key = step_key(task=choice.task, tool=choice.tool, levers=acceleration.levers.key(), **inputs, **settings)
        output_path = artifacts.step_path(state["run_id"], key, choice.task, choice.tool, tool.output_suffix)
        call = {"type": "tool_call", "id": key, "name": tool.name,
                "args": {"output_path": str(output_path), **inputs, **settings}}
        record = {"index": index, "task": choice.task, "tool": choice.tool, "inputs": inputs,
                  "acceleration": f"{acceleration.levers.in_words()} ({acceleration.reason})"}
        runtime.stream_writer({"stage": "execute", "candidate": job.candidate_id, "step": index, "tool": choice.tool})
        step_started = time.perf_counter()
        def run_step(tool=tool, call=call, key=key, record=record) -> dict:
            finished = artifacts.finished_step(state["run_id"], key)  # by a process that died before the checkpoint
            if finished is not None:
                return {**finished, "resumed": True}
            with services.gpu_turn(runtime):  # served: callers take turns on the GPU
                message = tool.invoke(call, config=config)
            made = recorded_step(message, call, record, key, acceleration, run_dir, tool)
            manifest = MediaManifest(run_id=state["run_id"], environment=environment(), inputs=run_inputs,
                                     steps=[*(s.manifest for s in steps if s.manifest is not None), made])
            made = tagged(Path(message.content), manifest, made)
            result = {"output": message.content, "adjustments": message.artifact["adjustments"],
                      "manifest": made.model_dump(mode="json")}
            artifacts.mark_finished(state["run_id"], key, result)
            return result

        try:
            result, shared = artifacts.once(state["run_id"], key, run_step)
        except SpagentError as exc:
            error = f"step {index + 1} ({choice.task} with {choice.tool}) failed: {exc}"
            steps.append(StepRecord(**record, seconds=time.perf_counter() - step_started, error=str(exc)))
            break
        path = Path(result["output"])
        steps.append(StepRecord(**record, output=path, adjustments=result["adjustments"],
                                seconds=time.perf_counter() - step_started, reused=shared or result.get("resumed", False),
                                manifest=result.get("manifest")))
        current[output_kind(choice.task)] = path
    if error is None and (not job.choices or output_kind(job.choices[-1].task) != "video"):
        error = f"the route {[c.task for c in job.choices]} does not end in a video."
    video = steps[-1].output if steps and error is None else None
    candidate = Candidate(
        id=job.candidate_id, route_indices=job.route_indices, tasks=tuple(c.task for c in job.choices),
        tools=tuple(c.tool for c in job.choices), seed=job.seed, steps=steps, video=video,
        video_url=services.public_path(video),
        seconds=time.perf_counter() - started, error=error,
    )
    return {"candidates": [candidate]}


def recorded_step(message: Any, call: dict, record: dict, key: str, acceleration: Acceleration, run_dir: Path,
                  tool: Any) -> StepManifest:
    """What made a step's file, for the run's manifest: the tool's own account of itself (a tool of
    another process, Ray's, may give none: then its registry entry) and the call as it ran."""
    artifact = message.artifact or {}
    options = artifact.get("options") or {k: v for k, v in call["args"].items()
                                          if k not in ("output_path", "prompt", "image", "video")}
    made_with = artifact.get("made_with") or ToolRecord(name=tool.name, adapter=tool.spec.adapter,
                                                         entry=tool.spec.model_dump(mode="json"))
    inputs = {name: _relative(Path(value), run_dir) for name, value in record["inputs"].items() if name != "prompt"}
    return StepManifest(key=key, index=record["index"], task=record["task"], tool=record["tool"],
                        prompt=record["inputs"].get("prompt", ""), inputs=inputs,
                        options={k: v for k, v in options.items() if k not in ("prompt", "image", "video")},
                        levers=acceleration.levers.model_dump(mode="json", exclude_defaults=True),
                        acceleration=record["acceleration"],
                        bench=acceleration.bench.model_dump(mode="json") if acceleration.bench else None,
                        made_with=made_with,
                        output=_relative(Path(message.content), run_dir))


def tagged(output: Path, manifest: MediaManifest, step: StepManifest) -> StepManifest:
    """Writes `manifest` into the step's file; the step with the hash of the file as it now is."""
    try:
        tag_media(output, MANIFEST_TAG, manifest.model_dump_json())
    except (ValueError, OSError, av.error.FFmpegError) as exc:
        # A file of another kind (a tool of a research repository may write one): it keeps no tag.
        return step.model_copy(update={"made_with": step.made_with.model_copy(
            update={"notes": [*step.made_with.notes, f"no manifest inside {output.name}: {exc}"]})})
    return step.model_copy(update={"output_sha256": file_sha256(output)})


def _relative(path: Path, run_dir: Path) -> str:
    try:
        return path.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:  # only a tool that wrote outside the run's folder gets here
        return str(path)
