"""The run's record: its manifest, kept in the state and as `manifest.json` in the run's folder."""

from __future__ import annotations

import time

from langgraph.config import get_config
from langgraph.runtime import Runtime

from spagent_graph.context import Context
from spagent_graph.manifest import CandidateRecord, MLLMRecord, RunManifest, environment, now_iso
from spagent_graph.services import Services
from spagent_graph.state import State, jsonable


def record_run(state: State, runtime: Runtime[Context], services: Services) -> dict:
    """Gathers what made this run's videos (each step's own record, from its branch) with what holds
    for the whole run, so that `spagent replay` can make them again and `spagent runs` can list it."""
    context = services.context(runtime)
    artifacts = services.artifacts(context)
    run_dir = artifacts.run_dir(state["run_id"])
    candidates = [CandidateRecord(id=c.id, steps=[s.manifest for s in c.steps if s.manifest is not None],
                                  video=next((s.manifest.output for s in reversed(c.steps) if s.manifest), None)
                                  if c.video else None, error=c.error)
                  for c in state.get("candidates", [])]
    visual = state.get("visual")
    inputs = {visual.input_name: artifacts.kept_input(state["run_id"], visual.path)} if visual is not None else {}
    request = state["request"].model_dump(mode="json")
    request.update({name: record.path for name, record in inputs.items()})
    choice = state.get("choice")
    started = state.get("started_at")
    manifest = RunManifest(
        run_id=state["run_id"], thread_id=(get_config().get("configurable") or {}).get("thread_id"),
        created_at=now_iso(), seconds=round(time.time() - started, 3) if started else None,
        request=request, inputs=inputs, environment=environment(), candidates=candidates,
        winner=choice.candidate_id if choice is not None else None,
        decisions={key: jsonable(state.get(key)) for key in ("intent", "route_plan", "model_plan", "evaluations",
                                                          "choice")},
        mllm=MLLMRecord(url=context.mllm_url, model=_mllm_model(services, context),
                        answers=[{"stage": d.stage, "candidate_id": d.candidate_id, "route_index": d.route_index,
                                  "answer": d.answer} for d in state.get("decisions", [])]),
        settings=context.model_dump(mode="json"),
    )
    manifest.write(run_dir)
    return {"manifest": manifest}


def _mllm_model(services: Services, context: Context) -> str | None:
    """The served model's id, as the client learnt it when it asked (never a new request from here)."""
    client = services.mllm(context) if context.mllm_url else None
    return getattr(client, "model", None) or context.mllm_model
