"""spagent-graph: plan, run and judge open generative models to make the best video.

    from spagent_graph import build_graph, Context, Request

    graph = build_graph()
    result = graph.invoke({"request": Request(text="a red fox in the snow")}, context=Context())
    result["choice"].video

    # or as a chat turn: the answer is the last message, with the video as a content block
    result = graph.invoke({"messages": [("user", "a red fox in the snow")]}, context=Context())

`Context` is the run's settings (the graph's context schema); `Services` owns
what is built from them; `load_settings()` reads them from a file and the
environment, as the `spagent` command does.
"""

from typing import TYPE_CHECKING

from .errors import (
    ConfigError,
    InputError,
    MLLMError,
    MLLMResponseError,
    MLLMUnavailableError,
    SettingError,
    SpagentError,
    ToolError,
    UnknownToolError,
)
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

if TYPE_CHECKING:
    from .agents import as_tool
    from .context import Context
    from .graph import build_graph, builder, graph
    from .mllm import MLLMClient
    from .services import Services
    from .settings import load_settings

# The graph, its context and the MLLM client pull in torch, diffusers and
# LangGraph; they load on first use so that `spagent_graph.state` and the
# capability store stay cheap to import (worker processes, tooling).
_LAZY = {
    "as_tool": ".agents",
    "Context": ".context",
    "MLLMClient": ".mllm",
    "Services": ".services",
    "load_settings": ".settings",
    "build_graph": ".graph",
    "builder": ".graph",
    "graph": ".graph",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "Services",
    "SettingError",
    "SpagentError",
    "State",
    "StepRecord",
    "ToolError",
    "UnknownToolError",
    "as_tool",
    "build_graph",
    "builder",
    "graph",
    "load_settings",
]
