"""Tool library expansion: admit a new tool by judging what it makes.

    prepare_probes -> run_probe (one branch per probe, in parallel)
        -> judge_probes -> store_strengths

The new tool runs every probe of its task (all six subjects; for image and
video inputs, a matching and an editing prompt), the run's judge scores every
output, and the mean score per subject (times 100) is folded into the
capability store as `judge` strengths, weighted by how many outputs it
averages. From then on selection ranks the tool with the others. No human
label is needed; the report shows the new tool beside the tools already
known for the task.

    from spagent_graph.apps.expansion import build_expansion_graph
    result = build_expansion_graph().invoke({"tool": "my-new-model"}, context=Context(...))
    print(result["report"])
"""

from __future__ import annotations

import operator
import statistics
import sys
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import Field
from typing_extensions import TypedDict

from spagent_graph.nodes.execute import execute_route

from ..context import Context
from ..services import Services
from ..errors import UnknownToolError
from ..judging import judge_each
from ..media import inspect_request_visual
from ..persistence import STATE_MODULES, StateTypesGraph
from ..probes import probes_for
from ..selection import NEUTRAL_STRENGTH
from ..state import (
    SUBJECTS,
    Candidate,
    Evaluation,
    GenerationOptions,
    ModelChoice,
    Request,
    RouteJob,
    RouteState,
    Subject,
    Task,
    _Model,
)

__all__ = ["ExpansionInput", "ExpansionState", "SubjectStrength", "build_expansion_graph", "strength_table"]


class SubjectStrength(_Model):
    subject: Subject
    strength: float = Field(description="Mean judged overall score times 100, on the 100-2000 scale.")
    count: int = Field(description="How many judged outputs the mean is over.")


class ProbeRun(_Model):
    probe_id: str
    subject: Subject
    request: Request
    candidate_id: str


class ExpansionInput(TypedDict, total=False):
    tool: str
    per_subject: int
    options: GenerationOptions


class ExpansionState(ExpansionInput, total=False):
    task: Task
    run_id: str
    probes: list[ProbeRun]
    candidates: Annotated[list[Candidate], operator.add]
    evaluations: Annotated[list[Evaluation], operator.add]
    strengths: list[SubjectStrength]
    report: str


# Small by default: expansion runs many probes, and the judge sees a handful of frames.
DEFAULT_PROBE_OPTIONS = GenerationOptions(num_frames=16, height=320, width=512)


def prepare_probes(state: ExpansionState, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    registry = services.toolbox(context).registry
    name = state.get("tool")
    if not name or name not in registry.names():
        raise UnknownToolError(name or "(none)", registry.names())
    task = registry.get(name).task
    run_id = f"expand-{name}"
    folder = services.artifacts(context).run_dir(run_id) / "probes"
    options = state.get("options") or DEFAULT_PROBE_OPTIONS
    runs = []
    for probe in probes_for(task, folder, per_subject=state.get("per_subject") or 2):
        request = Request(text=probe.text, image=probe.image, video=probe.video, options=options)
        runs.append(ProbeRun(probe_id=probe.id, subject=probe.subject, request=request, candidate_id=probe.id))
    return {"task": task, "run_id": run_id, "probes": runs}


def dispatch_probes(state: ExpansionState) -> list[Send]:
    sends = []
    for run in state["probes"]:
        choice = ModelChoice(task=state["task"], tool=state["tool"], strength=NEUTRAL_STRENGTH, rank=1)
        job = RouteJob(candidate_id=run.candidate_id, route_indices=(0,), choices=(choice,),
                       seed=run.request.options.seed)
        visual = inspect_request_visual(run.request)
        payload: RouteState = {"job": job, "request": run.request, "visual": visual, "run_id": state["run_id"]}
        sends.append(Send("run_probe", payload))
    return sends


def judge_probes(state: ExpansionState, runtime: Runtime[Context], services: Services) -> dict:
    judge = services.judge(services.context(runtime))
    runs = {run.candidate_id: run for run in state["probes"]}
    finished = [c for c in state.get("candidates", []) if c.video is not None and c.id in runs]
    jobs = [(c, runs[c.id].request, inspect_request_visual(runs[c.id].request)) for c in finished]
    return {"evaluations": judge_each(judge, jobs)}


def store_strengths(state: ExpansionState, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    store = services.store(context)
    subject_of = {run.candidate_id: run.subject for run in state["probes"]}
    scores: dict[Subject, list[float]] = {}
    for evaluation in state.get("evaluations", []):
        scores.setdefault(subject_of[evaluation.candidate_id], []).append(evaluation.overall)
    strengths = []
    for subject in SUBJECTS:
        if subject not in scores:
            continue  # every probe of this subject failed; nothing to learn
        mean = statistics.fmean(scores[subject]) * 100
        store.record(state["tool"], state["task"], subject, mean, source="judge", weight=len(scores[subject]))
        strengths.append(SubjectStrength(subject=subject, strength=round(mean, 1), count=len(scores[subject])))
    failed = [c for c in state.get("candidates", []) if c.error]
    report = strength_table(store, state["task"], services.toolbox(context).names_for(state["task"]), highlight=state["tool"])
    summary = (
        f"Expansion of `{state['tool']}` ({state['task']}): {len(state.get('evaluations', []))} outputs judged, "
        f"{len(failed)} probes failed.\n\n"
    )
    if failed:
        summary += "".join(f"- {c.id}: {c.error}\n" for c in failed) + "\n"
    report_text = summary + report
    (services.artifacts(context).run_dir(state["run_id"]) / "report.md").write_text(report_text)
    return {"strengths": strengths, "report": report_text}


def strength_table(store, task: Task, tools: list[str], *, highlight: str | None = None) -> str:
    """A Markdown table of every tool's strength for `task`, one column per subject, and what the
    strengths rest on (how many scores of each source, over all subjects)."""
    per_subject = {subject: store.strengths(task, subject) for subject in SUBJECTS}
    evidence = store.evidence(task, None)
    header = "| tool | " + " | ".join(SUBJECTS) + " | from |\n|---|" + "---|" * (len(SUBJECTS) + 1) + "\n"
    rows = []
    for tool in tools:
        name = f"**{tool}** (new)" if tool == highlight else tool
        cells = [f"{per_subject[s][tool]:.0f}" if tool in per_subject[s] else "-" for s in SUBJECTS]
        sources = ", ".join(f"{source} {count:g}" for source, count in sorted(evidence.get(tool, {}).items()))
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {sources or 'unscored (neutral 1050)'} |\n")
    return header + "".join(rows)


class ExpansionGraph(StateTypesGraph):
    """The compiled expansion graph: any saver it runs with loads its state types and the graph's."""

    state_modules = (*STATE_MODULES, sys.modules[__name__])


def build_expansion_graph(*, checkpointer: Any = None, services: Services | None = None,
                          settings: Context | None = None, name: str = "spagent-expand") -> CompiledStateGraph:
    """The expansion graph; `services` and `settings` as for `build_graph`."""
    from ..graph import bound

    services = Services.of(services, settings)
    builder = StateGraph(ExpansionState, context_schema=Context, input_schema=ExpansionInput)
    builder.add_node("prepare_probes", bound(prepare_probes, services))
    builder.add_node("run_probe", bound(execute_route, services))
    builder.add_node("judge_probes", bound(judge_probes, services))
    builder.add_node("store_strengths", bound(store_strengths, services))
    builder.add_edge(START, "prepare_probes")
    builder.add_conditional_edges("prepare_probes", dispatch_probes, ["run_probe"])
    builder.add_edge("run_probe", "judge_probes")
    builder.add_edge("judge_probes", "store_strengths")
    builder.add_edge("store_strengths", END)
    return ExpansionGraph.of(builder.compile(checkpointer=checkpointer, name=name))

