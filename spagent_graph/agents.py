"""SPAgent for other agents: a LangChain tool that makes a video.

    from langchain.agents import create_agent
    from spagent_graph import as_tool

    agent = create_agent(model, tools=[as_tool()])

The graph itself is an agent too: it reads `messages` and answers with an AI
message, so it can be handed to `create_supervisor` or a swarm by name
(`build_graph(name="video_maker")`), and a LangGraph server offers it over
MCP and A2A. README, "As a sub-agent", shows the ways side by side.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from .context import Context
from .errors import SpagentError
from .state import GenerationOptions, Request

__all__ = ["VideoToolInput", "as_tool"]

DESCRIPTION = (
    "Make a short video (a few seconds) with open generative video models. Give `text` saying what the video "
    "should show: the subject, what it does, the place, the light and the camera. Optionally give one `image` to "
    "animate or one `video` to edit (a file path or an http(s) URL), never both. Two ways of making it are tried "
    "and judged; the answer says which won and why, and gives the path or URL of the MP4. It takes from seconds "
    "to many minutes, so ask once per video."
)


class VideoToolInput(BaseModel):
    """The tool's arguments, as a calling model sees them."""

    text: str = Field(description="What the video should show, in plain words.")
    image: str | None = Field(None, description="An image to animate: a file path or URL. Leave out for text only.")
    video: str | None = Field(None, description="A video to edit: a file path or URL. Not together with `image`.")
    num_frames: int | None = Field(None, ge=2, le=1024, description="How many frames; the default suits the tools.")
    width: int | None = Field(None, ge=16, le=4096, description="Width in pixels; the default suits the tools.")
    height: int | None = Field(None, ge=16, le=4096, description="Height in pixels; the default suits the tools.")
    seed: int | None = Field(None, ge=0, description="Seed, to make the same video again.")


def as_tool(graph: Any = None, *, context: Context | None = None, name: str = "make_video",
            description: str = DESCRIPTION, options: GenerationOptions | None = None) -> BaseTool:
    """The graph as a LangChain tool (`response_format="content_and_artifact"`).

    `graph`: a compiled SPAgent graph (a new `build_graph()` if none); `context`: the
    settings its runs use (tools, MLLM, folders); `options`: the generation options a call
    starts from, before the calling model's own. The model reads a short answer; the tool
    message's artifact holds the whole result as JSON. The graph's progress (its stages,
    each tool's steps) is forwarded to the caller's stream as custom events.
    """
    if graph is None:
        from .graph import build_graph

        graph = build_graph()
    base = options or GenerationOptions()

    def inputs(arguments: dict[str, Any]) -> dict:
        chosen = {key: value for key, value in arguments.items()
                  if key in GenerationOptions.model_fields and value is not None}
        request = Request(text=arguments["text"], image=arguments.get("image"), video=arguments.get("video"),
                          options=base.model_copy(update=chosen))
        return {"request": request}

    async def make_video(config: RunnableConfig, **arguments: Any) -> tuple[str, dict]:
        forward = _caller_stream()
        final: dict = {}
        try:
            async for mode, chunk in graph.astream(inputs(arguments), config, context=context,
                                                   stream_mode=["updates", "custom", "values"]):
                final = _forwarded(mode, chunk, forward) or final
        except SpagentError as exc:
            # The calling model reads what was wrong and can ask again; nothing made is lost.
            return f"No video was made: {exc}", {"error": str(exc), **_result(final)}
        return _answer(final), _result(final)

    def make_video_sync(config: RunnableConfig, **arguments: Any) -> tuple[str, dict]:
        forward = _caller_stream()
        final: dict = {}
        try:
            for mode, chunk in graph.stream(inputs(arguments), config, context=context,
                                            stream_mode=["updates", "custom", "values"]):
                final = _forwarded(mode, chunk, forward) or final
        except SpagentError as exc:
            return f"No video was made: {exc}", {"error": str(exc), **_result(final)}
        return _answer(final), _result(final)

    return StructuredTool.from_function(
        func=make_video_sync, coroutine=make_video, name=name, description=description,
        args_schema=VideoToolInput, response_format="content_and_artifact")


def _caller_stream():
    """The stream writer of the graph that called the tool, or None outside a LangGraph run."""
    from langgraph.config import get_stream_writer

    try:
        return get_stream_writer()
    except RuntimeError:
        return None


def _forwarded(mode: str, chunk: Any, forward) -> dict | None:
    """Hands our progress to the caller's stream; returns the state when `chunk` is one."""
    if mode == "values":
        return chunk
    if forward is not None:
        if mode == "custom":
            forward({"spagent": chunk})
        elif mode == "updates":
            forward({"spagent": {"stage": "finished", "nodes": sorted(chunk)}})
    return None


def _answer(state: dict) -> str:
    """The text of the run's AI message (it says where the video is)."""
    messages = state.get("messages") or []
    if not messages:
        return "No video was made: the run gave no answer."
    return messages[-1].text


def _result(state: dict) -> dict:
    """The run's whole state as JSON, for programs; the conversation is left to the caller's own."""
    return to_jsonable_python({key: value for key, value in state.items() if key != "messages"})
