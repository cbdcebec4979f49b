"""SPAgent among other agents: as a LangChain tool in `create_agent`, as a named agent of a
supervisor (`langgraph-supervisor`) and of a swarm (`langgraph-swarm`). The other agents'
models are LangChain's fake chat models, scripted to make the calls a real model would."""

from __future__ import annotations

from pathlib import Path

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph_supervisor import create_supervisor
from langgraph_swarm import create_handoff_tool, create_swarm

from spagent_graph import Context, GenerationOptions, as_tool, build_graph


class ScriptedModel(GenericFakeChatModel):
    """Answers with the scripted messages in turn; tools are bound by the script, not the model."""

    def bind_tools(self, tools, **kwargs):
        return self


def scripted(*calls: dict | str) -> ScriptedModel:
    messages = [AIMessage(call) if isinstance(call, str) else AIMessage("", tool_calls=[call]) for call in calls]
    return ScriptedModel(messages=iter(messages))


def call(name: str, args: dict | None = None) -> dict:
    return {"name": name, "args": args or {}, "id": f"call-{name}"}


def spagent_answers(messages: list) -> list[AIMessage]:
    return [m for m in messages if isinstance(m, AIMessage) and "spagent" in m.response_metadata]


async def test_the_tool_inside_create_agent(demo_context: Context):
    tool = as_tool(context=demo_context, options=GenerationOptions(num_frames=4, height=64, width=64))
    assert tool.name == "make_video" and "video" in tool.description
    assert set(tool.args) >= {"text", "image", "video", "num_frames", "seed"}
    model = scripted(call("make_video", {"text": "a red fox running through snow", "seed": 3}), "Here is your fox.")
    agent = create_agent(model, tools=[tool])
    progress, final = [], None
    async for mode, chunk in agent.astream({"messages": [("user", "make me a fox video")]},
                                           stream_mode=["custom", "values"]):
        if mode == "custom":
            progress.append(chunk["spagent"])
        else:
            final = chunk
    made = next(m for m in final["messages"] if isinstance(m, ToolMessage))
    video = Path(made.artifact["choice"]["video"])
    assert video.is_file() and f"The video: {video}." in made.content
    assert made.artifact["request"]["options"]["seed"] == 3 and made.artifact["request"]["options"]["num_frames"] == 4
    assert final["messages"][-1].content == "Here is your fox."
    # The graph's progress reached the agent's stream: its stages and each tool's steps.
    assert {"stage": "finished", "nodes": ["judge_candidates"]} in progress
    assert {p["stage"] for p in progress} >= {"finished", "execute", "denoise", "judge"}


def test_a_tool_call_with_a_bad_input_tells_the_model(demo_context: Context, tmp_path: Path):
    content, artifact = as_tool(context=demo_context).func(
        {}, text="animate this", image=str(tmp_path / "missing.png"))
    assert content.startswith("No video was made: `image`") and "does not exist" in content
    assert artifact["error"] == content.removeprefix("No video was made: ")


def test_a_named_agent_of_a_supervisor(demo_context: Context):
    model = scripted(call("transfer_to_video_maker"), "The video maker made your fox.")
    supervisor = create_supervisor([build_graph(name="video_maker")], model=model,
                                   prompt="You hand video requests to the video maker.").compile()
    final = supervisor.invoke({"messages": [("user", "a red fox running through snow")]}, context=demo_context)
    (answer,) = spagent_answers(final["messages"])
    assert answer.name == "video_maker" and answer.content[1]["type"] == "video"
    assert Path(answer.response_metadata["spagent"]["video"]).is_file()
    assert final["messages"][-1].content == "The video maker made your fox."


def test_a_member_of_a_swarm_refines_its_last_video_on_the_next_turn(demo_context: Context):
    planner = create_agent(scripted(call("transfer_to_video_maker")), name="planner",
                           tools=[create_handoff_tool(agent_name="video_maker")])
    swarm = create_swarm([planner, build_graph(name="video_maker")], default_active_agent="planner").compile(
        checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "swarm"}}
    first = swarm.invoke({"messages": [("user", "a red fox running through snow")]}, config, context=demo_context)
    # The video maker is the active agent now, so the follow-up goes straight to it: it keeps no state
    # of its own between turns, and finds its last video in the conversation.
    second = swarm.invoke({"messages": [("user", "make the sky darker")]}, config, context=demo_context)
    made, refined = spagent_answers(second["messages"])
    assert made.response_metadata == spagent_answers(first["messages"])[0].response_metadata
    assert refined.response_metadata["spagent"]["input"] == "your text and the video of the last turn"
    assert refined.response_metadata["spagent"]["video"] != made.response_metadata["spagent"]["video"]
