"""spagent-graph: plan, run and judge open generative models to make the best video.

    from spagent_graph import build_graph, Context, Request

    graph = build_graph()
    result = graph.invoke({"request": Request(text="a red fox in the snow")}, context=Context())
    result["choice"].video
"""

from .context import Context
from .errors import (
    ConfigError,
    InputError,
    MLLMError,
    MLLMResponseError,
    MLLMUnavailableError,
    SpagentError,
    ToolError,
    UnknownToolError,
)
from .graph import build_graph, builder, graph
from .mllm import MLLMClient
from .state import (
    Candidate,
    Choice,
    Evaluation,
    GenerationOptions,
    InputState,
    Intent,
    MediaInfo,
    ModelChoice,
    ModelPlan,
    Request,
    RoutePlan,
    State,
    StepRecord,
)

__all__ = [
    "Candidate",
    "Choice",
    "ConfigError",
    "Context",
    "Evaluation",
    "GenerationOptions",
    "InputError",
    "InputState",
    "Intent",
    "MLLMClient",
    "MLLMError",
    "MLLMResponseError",
    "MLLMUnavailableError",
    "MediaInfo",
    "ModelChoice",
    "ModelPlan",
    "Request",
    "RoutePlan",
    "SpagentError",
    "State",
    "StepRecord",
    "ToolError",
    "UnknownToolError",
    "build_graph",
    "builder",
    "graph",
]
