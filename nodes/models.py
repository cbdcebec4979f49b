"""Capability-based model selection, from the capability store's strengths."""

from __future__ import annotations

from langgraph.runtime import Runtime

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.selection import select_models as select_by_strength
from spagent_graph.state import UNKNOWN_SUBJECT, State


def select_models(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    toolbox = services.toolbox(context)
    # The no_subject ablation, like an unknown subject, ranks tools by their mean strength over all subjects.
    subject = None if context.ablated("no_subject") else state["intent"].subject
    plan = select_by_strength(state["route_plan"].routes, subject, toolbox.names_for, services.store(context))
    if subject is None:
        plan = plan.with_note("ablation no_subject: strengths averaged over subjects.")
    elif subject == UNKNOWN_SUBJECT:
        plan = plan.with_note("subject unknown: tools ranked by their strength averaged over all subjects.")
    return {"model_plan": plan}
