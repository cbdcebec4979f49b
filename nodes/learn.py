"""Learning from use: the run's judged scores update the capability store."""

from __future__ import annotations

from langgraph.runtime import Runtime

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.learning import apply_updates, strength_updates
from spagent_graph.state import State


def update_strengths(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    updates = strength_updates(state, weight=context.learning_weight, learn_from=context.learn_from)
    apply_updates(services.store(context), updates)
    return {"strength_updates": updates}
