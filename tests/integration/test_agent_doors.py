"""The served graph as other agents meet it, through `langgraph dev`: a chat thread of messages
(the `langgraph_sdk` client), the `/mcp` door (the official `mcp` client) and the `/a2a` door
(the `a2a-sdk` client), each with the served contract's tokens: a caller gets a short answer
with their video's URL, and nobody else can fetch that video or see that conversation."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.test_langgraph_server import TOKENS, Server, langgraph_dev, png_bytes, upload

mcp = pytest.importorskip("mcp")
a2a = pytest.importorskip("a2a")

SMALL = {"num_frames": 4, "height": 64, "width": 64}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_cache: Path):
    with langgraph_dev(tmp_path_factory.mktemp("agent-doors"), demo_cache, jobs=2,
                       LANGGRAPH_STRICT_MSGPACK="true") as served:
        yield served


def token(user: str) -> str:
    return next(t for t, u in TOKENS.items() if u == user)


def fetched(server: Server, url: str, user: str) -> httpx.Response:
    with server.http(user) as http:
        return http.get(url)


def answer_of(state: dict) -> dict:
    return state["messages"][-1]


# A chat thread ----------------------------------------------------------------------------------


def test_three_turns_on_a_served_thread(server: Server, tmp_path: Path):
    client = server.client("ada")
    thread = client.threads.create()["thread_id"]
    first = client.runs.wait(thread, "spagent", input={"messages": [{"role": "user", "content": "a red fox in snow"}],
                                                       "options": SMALL}, raise_error=True)
    # The follow-up carries no context and no options: the thread's own are kept.
    second = client.runs.wait(thread, "spagent", input={"messages": [{"role": "user", "content": "darker, at dusk"}]},
                              raise_error=True)
    name = upload(server, png_bytes(tmp_path), "parrot.png").json()["path"]
    third = client.runs.wait(thread, "spagent", input={"messages": [{"role": "user", "content": [
        {"type": "text", "text": "make this parrot fly"}, {"type": "image", "url": name}]}]}, raise_error=True)
    briefs = [answer_of(state)["response_metadata"]["spagent"] for state in (first, second, third)]
    assert [b["input"] for b in briefs] == ["your text", "your text and the video of the last turn",
                                            "your text and image"]
    for state, brief in zip((first, second, third), briefs):
        video = answer_of(state)["content"][1]
        assert video["type"] == "video" and video["url"] == brief["video"] == state["choice"]["video_url"]
        assert brief["video"].startswith("/artifacts/threads/") and fetched(server, brief["video"], "ada").status_code == 200
        assert set(state) == {"messages", "choice", "report_url", "run_id"}  # the answer, not the whole state
    history = client.threads.get_state(thread)["values"]
    assert [m["type"] for m in history["messages"]] == ["human", "ai"] * 3
    assert history["intent"]["visual_type"] == "single image"
    # Bob sees neither the thread nor its videos.
    with pytest.raises(Exception, match="not found"):
        server.client("bob").threads.get_state(thread)
    assert fetched(server, briefs[0]["video"], "bob").status_code == 404


def test_a_served_turn_with_two_visuals_runs_nothing(server: Server, tmp_path: Path):
    client = server.client("ada")
    thread = client.threads.create()["thread_id"]
    name = upload(server, png_bytes(tmp_path), "parrot.png").json()["path"]
    content = [{"type": "image", "url": name}, {"type": "image", "url": name}]
    run = client.runs.create(thread, "spagent", input={"messages": [{"role": "user", "content": content}]})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"
    assert not (server.data / "runs").exists() or not list((server.data / "runs").rglob(f"*{thread}*/*"))


# MCP --------------------------------------------------------------------------------------------


async def mcp_session(server: Server, user: str | None):
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token(user)}"} if user else {}
    http = httpx2.AsyncClient(headers=headers, timeout=300)
    return http, streamable_http_client(f"{server.url}/mcp", http_client=http), ClientSession


async def test_mcp_lists_our_tools_and_answers_in_brief_with_the_video_url(server: Server):
    http, transport, Session = await mcp_session(server, "ada")
    async with http, transport as streams, Session(streams[0], streams[1]) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"spagent", "spagent-expand"}
        assert tools["spagent"].description.startswith("Makes a short video from a text prompt")
        assert "Not for making videos" in tools["spagent-expand"].description
        assert tools["spagent"].input_schema["properties"]["messages"]["type"] == "string"
        result = await session.call_tool("spagent", {"messages": "a red fox running through snow", "options": SMALL})
    assert not result.is_error
    text = result.content[0].text
    assert len(text.encode()) < 2048
    video = text.split("The video: ")[1].split(". Took")[0]
    assert video.startswith("/artifacts/threads/") and video.endswith(".mp4")
    assert fetched(server, video, "ada").status_code == 200
    assert fetched(server, video, "bob").status_code == 404


async def test_mcp_without_a_token_is_refused(server: Server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        listed = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                 headers={"Accept": "application/json, text/event-stream"})
    assert listed.status_code == 401


# A2A --------------------------------------------------------------------------------------------


def a2a_endpoint(server: Server) -> str:
    with server.http("ada") as http:
        (assistant,) = http.post("/assistants/search", json={"graph_id": "spagent"}).json()
    return f"{server.url}/a2a/{assistant['assistant_id']}"


def a2a_message(text: str) -> dict:
    return {"role": "user", "messageId": str(uuid.uuid4()),
            "parts": [{"kind": "text", "text": text}, {"kind": "data", "data": {"options": SMALL}}]}


async def test_a2a_message_send_returns_the_video_as_a_file_part(server: Server):
    from a2a.client import ClientConfig
    from a2a.client.base_client import BaseClient
    from a2a.client.card_resolver import A2ACardResolver
    from a2a.compat.v0_3.jsonrpc_transport import CompatJsonRpcTransport
    from a2a.helpers.proto_helpers import new_message, new_text_part
    from a2a.types import Role, SendMessageRequest
    from google.protobuf.json_format import ParseDict
    from google.protobuf.struct_pb2 import Value

    url = a2a_endpoint(server)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token('ada')}"}, timeout=300) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        assert card.description.startswith("Makes a short video")
        # LangGraph's A2A door writes file parts as A2A 0.3 does, so the client speaks 0.3 (`message/send`).
        transport = CompatJsonRpcTransport(http, card, url, is_shared_httpx=True)
        client = BaseClient(card, ClientConfig(httpx_client=http, streaming=False), transport, [])
        options = new_text_part("")
        options.ClearField("text")
        options.data.CopyFrom(ParseDict({"options": SMALL}, Value()))
        message = new_message([new_text_part("a red fox running through snow"), options], role=Role.ROLE_USER)
        events = [event async for event in client.send_message(SendMessageRequest(message=message))]
    task = events[-1].task
    (artifact,) = task.artifacts
    text, video = artifact.parts
    assert text.text.startswith("Made a video of 4 frames at 64x64 from your text.")
    assert video.url.startswith("/artifacts/threads/") and video.media_type == "video/mp4"
    assert fetched(server, video.url, "ada").status_code == 200
    assert fetched(server, video.url, "bob").status_code == 404
    # Bob cannot read Ada's task either.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token('bob')}"}, timeout=60) as http:
        seen = await http.post(url, json={"jsonrpc": "2.0", "id": "2", "method": "tasks/get",
                                          "params": {"id": task.id}})
    assert "error" in seen.json() or seen.status_code in (403, 404)


def test_a2a_without_a_token_is_refused(server: Server):
    with httpx.Client() as http:
        sent = http.post(a2a_endpoint(server), json={"jsonrpc": "2.0", "id": "1", "method": "message/send",
                                                     "params": {"message": a2a_message("a fox")}})
    assert sent.status_code == 401


def test_an_inline_image_over_a2a_is_the_turn_s_image(server: Server, tmp_path: Path):
    picture = base64.b64encode(png_bytes(tmp_path)).decode()
    message = a2a_message("make this parrot fly")
    message["parts"].insert(1, {"kind": "file", "file": {"bytes": picture, "mimeType": "image/png", "name": "p.png"}})
    with server.http("ada") as http:
        http.timeout = 300
        sent = http.post(a2a_endpoint(server), json={"jsonrpc": "2.0", "id": "1", "method": "message/send",
                                                     "params": {"message": message}}).json()
    parts = sent["result"]["artifacts"][0]["parts"]
    assert "from your text and image" in parts[0]["text"], json.dumps(sent)[:2000]
    assert parts[1]["kind"] == "file" and parts[1]["file"]["uri"].startswith("/artifacts/")
