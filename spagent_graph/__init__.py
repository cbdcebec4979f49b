"""spagent-graph: plan, run and judge open generative models to make the best video.

    from spagent_graph import build_graph, Context, Request

    graph = build_graph()
    result = graph.invoke({"request": Request(text="a red fox in the snow")}, context=Context())
    result["choice"].video

    # or as a chat turn: the answer is the last message, with the video as a content block
    result = graph.invoke({"messages": [("user", "a red fox in the snow")]}, context=Context())

    # what made the videos, and making them again from it (no MLLM is asked)
    result["manifest"].candidates[0].steps[0].made_with.weights
    replay(result["manifest"].run_folder)  # or the run's folder, its report.json, or a video it wrote

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
from .manifest import ManifestError, MediaManifest, RunManifest, read_manifest
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
    from .replay import ReplayResult, replay
    from .services import Services
    from .settings import load_settings

# The graph, its context and the MLLM client pull in torch, diffusers and
# LangGraph; they load on first use so that `spagent_graph.state` and the
# capability store stay cheap to import (worker processes, tooling).
_LAZY = {
    "as_tool": ".agents",
    "Context": ".context",
    "MLLMClient": ".mllm",
    "ReplayResult": ".replay",
    "replay": ".replay",
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
    "ManifestError",
    "MediaInfo",
    "MediaManifest",
    "ModelChoice",
    "ModelPlan",
    "ReplayResult",
    "Request",
    "RoutePlan",
    "RunManifest",
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
    "read_manifest",
    "replay",
]
