"""The run's last word: one AI message that answers it (see `spagent_graph.conversation`)."""

from __future__ import annotations

import time

from spagent_graph.conversation import answer_message
from spagent_graph.services import Services
from spagent_graph.state import State


def reply(state: State, services: Services, agent_name: str = "spagent") -> dict:
    """`agent_name` names the message's author: a supervisor tells its agents apart by it."""
    started = state.get("started_at")
    seconds = time.time() - started if started else None
    served = services.deployment is not None
    return {"messages": [answer_message(state, seconds=seconds, served=served, name=agent_name)]}
