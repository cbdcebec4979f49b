"""The graph as a chat partner: what a human message asks, what a turn refuses, and the AI message
that answers every run (in-process, on the demo tools)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from PIL import Image

from spagent_graph import Context, InputError, build_graph
from spagent_graph.conversation import read_turn, unanswered_message
from tests.conftest import smooth_picture

SMALL = {"num_frames": 4, "height": 64, "width": 64}


def png(tmp_path: Path) -> Path:
    path = tmp_path / "parrot.png"
    Image.fromarray(smooth_picture(1, tint=(0.85, 0.1, 0.1))).save(path)
    return path


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# What a human message asks ----------------------------------------------------------------------


def test_plain_text_is_the_turn():
    turn = read_turn(HumanMessage("a red fox"))
    assert (turn.text, turn.attachment) == ("a red fox", None)


@pytest.mark.parametrize("block, kind, location", [
    ({"type": "image", "url": "https://example.com/cat.png"}, "image", "https://example.com/cat.png"),
    ({"type": "video", "url": "clip.mp4"}, "video", "clip.mp4"),
    ({"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}, "image", "https://example.com/a.jpg"),
    ({"type": "video_url", "video_url": {"url": "https://example.com/b.mp4"}}, "video", "https://example.com/b.mp4"),
    ({"type": "file", "url": "https://example.com/c.webm", "mime_type": "video/webm"}, "video",
     "https://example.com/c.webm"),  # A2A's file parts arrive so
])
def test_a_visual_by_url_or_path(block: dict, kind: str, location: str):
    turn = read_turn(HumanMessage([{"type": "text", "text": "animate it"}, block]))
    assert turn.text == "animate it"
    assert (turn.attachment.kind, turn.attachment.location) == (kind, location)


def test_a_visual_given_inline(tmp_path: Path):
    picture = png(tmp_path)
    for block in ({"type": "image", "base64": encoded(picture), "mime_type": "image/png"},
                  {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded(picture)}"}}):
        attachment = read_turn(HumanMessage([block])).attachment
        saved = attachment.saved(tmp_path / "inputs", max_bytes=10**6)
        assert saved.suffix == ".png" and saved.read_bytes() == picture.read_bytes()


def test_a_file_url_is_a_path():
    attachment = read_turn(HumanMessage([{"type": "video", "url": "file:///data/my%20clip.mp4"}])).attachment
    assert attachment.saved(Path("/unused"), max_bytes=1) == Path("/data/my clip.mp4")


@pytest.mark.parametrize("content, said", [
    ([{"type": "image", "url": "a.png"}, {"type": "image", "url": "b.png"}], "has an image and an image"),
    ([{"type": "image", "url": "a.png"}, {"type": "video", "url": "b.mp4"}], "has an image and a video"),
    ([{"type": "audio", "url": "a.wav"}], "content block 1 is audio"),
    ([{"type": "text", "text": "read this"}, {"type": "file", "url": "a.pdf", "mime_type": "application/pdf"}],
     "content block 2 is a file of type application/pdf"),
    ([{"type": "image", "file_id": "file-123"}], "names a provider's file id"),
    ([{"type": "image", "base64": "not base64!"}], "does not decode"),
    ([{"type": "image"}], "has no url, base64 data or path"),
    ([{"type": "tool_call", "name": "x"}], "content block 1 is a 'tool_call' block"),
])
def test_a_turn_we_cannot_use_is_refused_naming_what_is_wrong(content: list, said: str):
    with pytest.raises(InputError, match=said) as refused:
        read_turn(HumanMessage(content))
    assert refused.value.input_name == "messages"


def test_inline_data_over_the_limit_is_refused(tmp_path: Path):
    attachment = read_turn(HumanMessage([{"type": "image", "base64": encoded(png(tmp_path))}])).attachment
    with pytest.raises(InputError, match="at most 10 "):
        attachment.saved(tmp_path / "inputs", max_bytes=10)
    assert not (tmp_path / "inputs").exists()


def test_which_human_message_a_run_answers():
    first, second = HumanMessage("a", id="h1"), HumanMessage("b", id="h2")
    assert unanswered_message({"messages": [first]}) is first
    assert unanswered_message({"messages": [first, AIMessage("made")], "turn_message_id": "h1"}) is None
    assert unanswered_message({"messages": [first, AIMessage("made"), second], "turn_message_id": "h1"}) is second
    assert unanswered_message({}) is None


# Runs in-process --------------------------------------------------------------------------------


def test_a_message_in_and_an_answer_with_the_video_out(demo_context: Context):
    result = build_graph(name="video_maker").invoke({"messages": [("user", "a red fox running through snow")]},
                                                    context=demo_context)
    answer = result["messages"][-1]
    assert isinstance(answer, AIMessage) and answer.name == "video_maker"
    text, video = answer.content
    brief = answer.response_metadata["spagent"]
    assert video == {"type": "video", "url": result["choice"].video.absolute().as_uri(), "mime_type": "video/mp4",
                     "extras": {"filename": result["choice"].video.name, "path": str(result["choice"].video)}}
    assert brief["video"] == str(result["choice"].video) and brief["winner"] == result["choice"].candidate_id
    assert brief["made"] and brief["input"] == "your text" and brief["run_id"] == result["run_id"]
    # The demo tools' own small size, since the turn left the size to the defaults.
    assert text["text"].startswith("Made a video of 8 frames at 64x64 from your text.")
    assert f"{result['choice'].candidate_id} won (" in text["text"] and f"The video: {result['choice'].video}." in text["text"]


def test_a_request_run_is_answered_too(demo_context: Context):
    result = build_graph().invoke({"request": {"text": "a cat", "options": SMALL}}, context=demo_context)
    assert [m.type for m in result["messages"]] == ["ai"]
    assert result["messages"][-1].response_metadata["spagent"]["input"] == "your text"


@pytest.mark.parametrize("content", [
    [{"type": "image", "url": "a.png"}, {"type": "video", "url": "b.mp4"}],
    [{"type": "text", "text": "hear this"}, {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"}],
])
def test_a_refused_turn_runs_nothing_and_writes_nothing(demo_context: Context, content: list):
    with pytest.raises(InputError, match="`messages`"):
        build_graph().invoke({"messages": [HumanMessage(content)]}, context=demo_context)
    assert not Path(demo_context.artifacts_dir).exists() or not any(Path(demo_context.artifacts_dir).iterdir())


def test_an_inline_image_that_is_no_image_leaves_no_file(demo_context: Context):
    bogus = base64.b64encode(b"hello, not a picture").decode()
    with pytest.raises(InputError, match="neither an image"):
        build_graph().invoke({"messages": [HumanMessage([{"type": "image", "base64": bogus, "mime_type": "image/png"}])]},
                             context=demo_context)
    assert not Path(demo_context.artifacts_dir).exists() or not any(Path(demo_context.artifacts_dir).iterdir())


def test_a_follow_up_after_a_cancelled_run_is_made_from_its_text(demo_context: Context):
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [("user", "a red fox")], "options": SMALL}, config,
                 context=demo_context.changed(review_plan=True))
    cancelled = graph.invoke(Command(resume={"action": "cancel"}), config)
    assert cancelled["messages"][-1].text.startswith("Nothing was made: Cancelled by the user at plan review.")
    assert not cancelled["messages"][-1].response_metadata["spagent"]["made"]
    follow_up = graph.invoke({"messages": [("user", "now at night")]}, config, context=demo_context)
    assert follow_up["request"].video is None and follow_up["intent"].visual_type == "None"
    assert "your text alone (the last run on this thread was cancelled" in follow_up["messages"][-1].text


def test_a_follow_up_after_a_failed_turn_is_made_from_its_text(demo_context: Context, tmp_path: Path):
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [("user", "a red fox")], "options": SMALL}, config, context=demo_context)
    with pytest.raises(InputError):
        graph.invoke({"messages": [HumanMessage([{"type": "image", "url": str(tmp_path / "gone.png")}])]}, config,
                     context=demo_context)
    follow_up = graph.invoke({"messages": [("user", "slower, at night")]}, config, context=demo_context)
    assert follow_up["request"].video is None
    assert "your text alone (the last turn on this thread failed" in follow_up["messages"][-1].text


def test_an_edited_winner_outside_the_thread_folder_is_not_read(demo_context: Context, tmp_path: Path):
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"messages": [("user", "a red fox")], "options": SMALL}, config, context=demo_context)
    elsewhere = tmp_path / "elsewhere.mp4"
    elsewhere.write_bytes(b"")
    choice = graph.get_state(config).values["choice"]
    graph.update_state(config, {"choice": choice.model_copy(update={"video": elsewhere})})
    follow_up = graph.invoke({"messages": [("user", "darker")]}, config, context=demo_context)
    assert follow_up["request"].video is None
    assert "the last video of this thread is no longer there" in follow_up["messages"][-1].text
