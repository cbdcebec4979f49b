"""Route execution: one branch per distinct route, its tools run in order.

Each step's output feeds the next step. A step that another branch already
ran with the same inputs is reused (see `ArtifactStore.once`). A failing tool
ends its route with the error recorded in the candidate; the steps that did
finish keep their files, and the other route carries on.
"""

from __future__ import annotations

import time
from pathlib import Path

from langchain_core.runnables import ensure_config
from langchain_core.runnables.config import merge_configs
from langgraph.runtime import Runtime
from langgraph.types import Send

from spagent_graph.artifacts import step_key
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
    source = state["visual"].path if state["visual"] is not None else None
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
    accelerations = {c.tool: services.acceleration(toolbox.registry.get(c.tool), context)
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
        def run_step(tool=tool, call=call, key=key) -> dict:
            finished = artifacts.finished_step(state["run_id"], key)  # by a process that died before the checkpoint
            if finished is not None:
                return {**finished, "resumed": True}
            with services.gpu_turn(runtime):  # served: callers take turns on the GPU
                message = tool.invoke(call, config=config)
            result = {"output": message.content, "adjustments": message.artifact["adjustments"]}
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
                                seconds=time.perf_counter() - step_started, reused=shared or result.get("resumed", False)))
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
