"""One module per stage of the graph; each node returns only the keys it changed."""

from .check import check_tools
from .choose import choose_winner
from .execute import dispatch_routes, execute_route
from .inputs import inspect_inputs
from .intent import recognize_intent
from .judge import judge_candidates
from .learn import update_strengths
from .models import select_models
from .record import record_run
from .reply import reply
from .review import review_plan, review_winner
from .routes import plan_routes

__all__ = [
    "check_tools",
    "choose_winner",
    "dispatch_routes",
    "execute_route",
    "inspect_inputs",
    "judge_candidates",
    "plan_routes",
    "recognize_intent",
    "record_run",
    "reply",
    "review_plan",
    "review_winner",
    "select_models",
    "update_strengths",
]
