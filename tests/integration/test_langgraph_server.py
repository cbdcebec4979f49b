"""The graph served by `langgraph dev` (the in-memory LangGraph API server), driven by the
official `langgraph_sdk` client: one run with its own context, and a streamed run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

langgraph_sdk = pytest.importorskip("langgraph_sdk")

ROOT = Path(__file__).parents[2]
REQUEST = {"request": {"text": "a red fox running through snow", "options": {"num_frames": 4, "height": 64, "width": 64}}}


SERVER_LOG: list[Path] = []


def server_log_path() -> Path:
    return SERVER_LOG[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`langgraph dev` on a free port, from the repository root (langgraph.json's paths are relative
    to the working folder; the server keeps its state in .langgraph_api/, which git ignores)."""
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    SERVER_LOG[:] = [workdir / "server.log"]
    port = free_port()
    langgraph = Path(sys.executable).with_name("langgraph")
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [str(langgraph), "dev", "--config", str(ROOT / "langgraph.json"), "--host", "127.0.0.1", "--port", str(port),
         "--no-reload", "--no-browser"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SPAGENT_MLLM_URL": ""},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"langgraph dev did not start:\n{(workdir / 'server.log').read_text()[-3000:]}")
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_a_run_through_the_sdk_uses_its_own_context(server: str, tmp_path: Path, demo_cache: Path):
    client = langgraph_sdk.get_sync_client(url=server)
    assert {a["graph_id"] for a in client.assistants.search()} >= {"spagent", "spagent-expand"}
    thread = client.threads.create()
    context = {"registry": "demo", "device": "cpu", "artifacts_dir": str(tmp_path / "runs"),
               "cache_dir": str(demo_cache)}
    state = client.runs.wait(thread["thread_id"], "spagent", input=REQUEST, context=context)
    video = Path(state["choice"]["video"])
    assert video.is_file() and video.is_relative_to(tmp_path / "runs")
    assert [len(c["tools"]) for c in state["candidates"]] == [1, 2]


def test_a_streamed_run_carries_stages_and_denoising_progress(server: str, tmp_path: Path, demo_cache: Path):
    client = langgraph_sdk.get_sync_client(url=server)
    context = {"registry": "demo", "device": "cpu", "artifacts_dir": str(tmp_path / "runs"),
               "cache_dir": str(demo_cache)}
    stages, progress = [], []
    for part in client.runs.stream(None, "spagent", input=REQUEST, context=context,
                                   stream_mode=["updates", "custom"]):
        if part.event == "updates":
            stages.extend(part.data)
        elif part.event == "custom":
            progress.append(part.data)
    assert stages[:3] == ["inspect_inputs", "recognize_intent", "plan_routes"] and "choose_winner" in stages
    assert any(p.get("stage") == "denoise" for p in progress)


def test_a_bad_request_fails_its_run_and_the_server_serves_the_next(server: str, tmp_path: Path, demo_cache: Path):
    client = langgraph_sdk.get_sync_client(url=server)
    context = {"registry": "demo", "device": "cpu", "artifacts_dir": str(tmp_path / "runs"),
               "cache_dir": str(demo_cache)}
    thread = client.threads.create()
    bad = client.runs.create(thread["thread_id"], "spagent", input={"request": {"text": "  "}}, context=context)
    client.runs.join(thread["thread_id"], bad["run_id"])
    assert client.runs.get(thread["thread_id"], bad["run_id"])["status"] == "error"
    state = client.runs.wait(None, "spagent", input=REQUEST, context=context)
    assert Path(state["choice"]["video"]).is_file()


def test_the_server_describes_the_graph_for_a_client_to_build_a_request(server: str):
    client = langgraph_sdk.get_sync_client(url=server)
    assistant = next(a for a in client.assistants.search() if a["graph_id"] == "spagent")
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    assert all(schemas[key] is not None for key in ("input_schema", "output_schema", "context_schema"))
    request = schemas["input_schema"]["$defs"]["Request"]["properties"]
    assert {"text", "image", "video", "options"} <= set(request) and "request" in schemas["input_schema"]["properties"]
    assert {"run_id", "candidates", "evaluations", "choice"} <= set(schemas["output_schema"]["properties"])
    settings = schemas["context_schema"]["properties"]
    assert settings["judge_frames"]["minimum"] == 1 and "description" in settings["mllm_url"]


def test_three_runs_on_one_thread_through_the_sdk(server: str, tmp_path: Path, demo_cache: Path):
    client = langgraph_sdk.get_sync_client(url=server)
    context = {"registry": "demo", "device": "cpu", "artifacts_dir": str(tmp_path / "runs"),
               "cache_dir": str(demo_cache)}
    thread = client.threads.create()["thread_id"]
    texts = ["a red fox running through snow", "a sailboat crossing a bay", "a cyclist racing downhill"]
    states = []
    for seed, text in enumerate(texts):
        request = {"request": {"text": text, "options": {"num_frames": 4, "height": 64, "width": 64, "seed": seed}}}
        states.append(client.runs.wait(thread, "spagent", input=request, context=context))
    assert len({state["run_id"] for state in states}) == 3
    for state, text in zip(states, texts, strict=True):
        assert state["request"]["text"] == text
        assert [c["id"] for c in state["candidates"]] == ["route-1", "route-2"]
        assert sorted(e["candidate_id"] for e in state["evaluations"]) == ["route-1", "route-2"]
        winner = next(c for c in state["candidates"] if c["id"] == state["choice"]["candidate_id"])
        score = next(e for e in state["evaluations"] if e["candidate_id"] == winner["id"])
        assert (state["choice"]["video"], state["choice"]["overall"]) == (winner["video"], score["overall"])
        assert f"/{state['run_id']}/" in winner["video"]
    history = client.threads.get_history(thread, limit=100)
    assert {state["run_id"] for state in states} <= {h["values"].get("run_id") for h in history}


def test_a_bad_setting_fails_the_run_naming_the_key(server: str):
    """A value out of bounds reaches the graph and fails its run with the key's name. (A key the
    context schema lacks never reaches the graph: LangGraph's server drops it, logging at debug.)"""
    client = langgraph_sdk.get_sync_client(url=server)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "spagent", input=REQUEST, context={"judge_frames": 0})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"
    log = (Path(server_log_path()).read_text())
    assert "Setting `judge_frames` is 0 in the run's context" in log
