"""Before anything is generated: every tool the final plan runs has its weights here.

A missing model would otherwise fail minutes into a run, one route at a time,
with a long hub error; this fails the run at once with one line per missing
tool and the command that fetches it (see `tool_adapters/weights.py`). Nothing
here touches the network.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.state import State
from spagent_graph.tool_adapters.weights import require_weights


def check_tools(state: State, runtime: Runtime[Context], services: Services) -> dict:
    if state.get("cancelled"):
        return {}
    registry = services.toolbox(services.context(runtime)).registry
    chosen = sorted({choice.tool for route in state["model_plan"].routes for choice in route})
    # A Ray-served tool loads its weights where its replicas run, not in this process.
    require_weights(spec for spec in map(registry.get, chosen) if spec.backend == "in_process")
    return {}
