"""The graph served by `langgraph dev` (the in-memory LangGraph API server), driven by the
official `langgraph_sdk` client as two remote users would: what the server describes, runs
and threads, what a caller may set, which inputs it may use, and its files."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spagent_graph.context import Context, run_options
from tests.conftest import free_port

langgraph_sdk = pytest.importorskip("langgraph_sdk")

ROOT = Path(__file__).parents[2]
REQUEST = {"request": {"text": "a red fox running through snow", "options": {"num_frames": 4, "height": 64, "width": 64}}}
TOKENS = {"token-of-ada": "ada", "token-of-bob": "bob"}
MAX_UPLOAD = 200_000


class Server:
    def __init__(self, url: str, data: Path, log: Path) -> None:
        self.url, self.data, self.log = url, data, log

    def client(self, user: str = "ada"):
        token = next(t for t, u in TOKENS.items() if u == user)
        return langgraph_sdk.get_sync_client(url=self.url, headers={"Authorization": f"Bearer {token}"})

    def http(self, user: str = "ada") -> httpx.Client:
        token = next(t for t, u in TOKENS.items() if u == user)
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def absolute(spec: str) -> str:
    """A langgraph.json `./file.py:name` made absolute against the repository root."""
    return str(ROOT / spec) if spec.startswith("./") else spec


def wait_until_up(process: subprocess.Popen, url: str, log_path: Path) -> str:
    """`url` once the server there answers /ok; the test fails with the server's log if it never does."""
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                if response.status == 200:
                    return url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"langgraph dev did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def langgraph_dev(workdir: Path, demo_cache: Path, *, jobs: int = 1, **environment: str) -> Iterator[Server]:
    """`langgraph dev` on a free port, serving our langgraph.json from `workdir`. The server keeps
    its threads and runs in .langgraph_api/ of the folder it starts in and loads them at start, so
    each server starts in its own folder, with a copy of langgraph.json whose paths (relative to
    the working folder) are made absolute. The operator's settings come from the environment, as
    a deployment's would; `jobs` runs go at once (`langgraph dev`'s own default is one)."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["graphs"] = {name: {**spec, "path": absolute(spec["path"])} if isinstance(spec, dict) else absolute(spec)
                        for name, spec in config["graphs"].items()}
    for section in ("auth", "http"):
        for key in ("path", "app"):
            if key in config.get(section, {}):
                config[section][key] = absolute(config[section][key])
    (workdir / "langgraph.json").write_text(json.dumps(config))
    tokens = workdir / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    data = workdir / "data"
    operator = {"SPAGENT_REGISTRY": "demo", "SPAGENT_DEVICE": "cpu", "SPAGENT_CACHE_DIR": str(demo_cache),
                "SPAGENT_ARTIFACTS_DIR": str(data / "runs"), "SPAGENT_SERVE_TOKENS_FILE": str(tokens),
                "SPAGENT_MAX_DOWNLOAD_BYTES": str(MAX_UPLOAD), "SPAGENT_MLLM_URL": "", **environment}
    port = free_port()
    langgraph = Path(sys.executable).with_name("langgraph")
    log_path = workdir / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(langgraph), "dev", "--config", "langgraph.json", "--host", "127.0.0.1", "--port", str(port),
         "--no-reload", "--no-browser", "--n-jobs-per-worker", str(jobs)],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **operator},
    )
    url = wait_until_up(process, f"http://127.0.0.1:{port}", log_path)
    try:
        yield Server(url, data, log_path)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_cache: Path):
    """The deployment the tests drive, its saver in LangGraph's strict msgpack mode (only listed types load)."""
    with langgraph_dev(tmp_path_factory.mktemp("langgraph-dev"), demo_cache, LANGGRAPH_STRICT_MSGPACK="true") as served:
        yield served


def upload(server: Server, content: bytes, name: str, user: str = "ada", kind: str = "image") -> httpx.Response:
    with server.http(user) as http:
        return http.post("/uploads", params={"name": name, "kind": kind}, content=content)


def png_bytes(tmp_path: Path) -> bytes:
    from PIL import Image

    from tests.conftest import smooth_picture

    path = tmp_path / "parrot.png"
    Image.fromarray(smooth_picture(1, tint=(0.85, 0.1, 0.1))).save(path)
    return path.read_bytes()


# What the server describes, and runs on threads ------------------------------------------------


def test_a_request_without_a_valid_token_is_refused(server: Server):
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/assistants/search", json={}).status_code == 401
        assert http.post("/assistants/search", json={}, headers={"Authorization": "Bearer nope"}).status_code == 401


# Headers LangGraph's server reads for its own ways in (Studio's scheme, API keys) and some a
# hostile caller may try: without a valid token, none of them gets a thread, an upload or a run.
HOSTILE_HEADERS = [{"x-auth-scheme": "langsmith"}, {"x-auth-scheme": "langsmith", "x-api-key": "lsv2_anything"},
                   {"x-api-key": "anything"}, {"x-auth-scheme": "bearer"}, {"Authorization": "Basic YWRhOmFkYQ=="},
                   {"Authorization": "token-of-ada"}, {"x-user-id": "ada", "x-forwarded-user": "ada"}]


@pytest.mark.parametrize("headers", HOSTILE_HEADERS, ids=lambda h: ",".join(h))
def test_no_header_without_a_valid_token_gets_in(server: Server, headers: dict):
    before = set(server.data.rglob("*")) if server.data.exists() else set()
    with httpx.Client(base_url=server.url, headers=headers) as http:
        assert http.post("/threads", json={}).status_code == 401
        assert http.post("/runs/wait", json={"assistant_id": "spagent", "input": REQUEST}).status_code == 401
        assert http.post("/uploads", params={"name": "x.png"}, content=b"x").status_code == 401
        assert http.post("/assistants/search", json={}).status_code == 401
        # The doors for other agents too.
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert http.post("/mcp", json=rpc, headers={"accept": "application/json, text/event-stream"}).status_code == 401
        assert http.post("/a2a/spagent", json=rpc).status_code == 401
    assert (set(server.data.rglob("*")) if server.data.exists() else set()) == before


def test_only_the_liveness_check_answers_without_a_token(server: Server):
    # /ok tells a load balancer the server is up; the API's docs, description and metrics are
    # switched off (`disable_meta`), so a stranger learns neither the routes nor the load.
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/ok").status_code == 200
        for path in ("/docs", "/openapi.json", "/info", "/metrics"):
            assert http.get(path).status_code in (401, 404), path


def test_the_server_describes_the_graph_for_a_client_to_build_a_request(server: Server):
    client = server.client()
    assistant = next(a for a in client.assistants.search() if a["graph_id"] == "spagent")
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    assert all(schemas[key] is not None for key in ("input_schema", "output_schema", "context_schema"))
    request = schemas["input_schema"]["$defs"]["Request"]["properties"]
    assert {"text", "image", "video", "options"} <= set(request)
    assert {"request", "messages", "options"} == set(schemas["input_schema"]["properties"])
    # A run answers with the conversation and the winner in brief; the thread keeps the whole state.
    assert {"run_id", "messages", "choice", "report_url"} == set(schemas["output_schema"]["properties"])
    assert {"candidates", "evaluations", "intent"} <= set(schemas["state_schema"]["properties"])
    settings = schemas["context_schema"]["properties"]
    assert settings["judge_frames"]["minimum"] == 1 and settings["judge_frames"]["scope"] == "run"
    assert "scope" not in settings["artifacts_dir"]


def test_a_streamed_run_carries_stages_and_denoising_progress(server: Server):
    stages, progress = [], []
    for part in server.client().runs.stream(None, "spagent", input=REQUEST, stream_mode=["updates", "custom"]):
        if part.event == "updates":
            stages.extend(part.data)
        elif part.event == "custom":
            progress.append(part.data)
    assert stages[:3] == ["inspect_inputs", "recognize_intent", "plan_routes"] and "choose_winner" in stages
    assert any(p.get("stage") == "denoise" for p in progress)


def test_three_runs_on_one_thread_through_the_sdk(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    texts = ["a red fox running through snow", "a sailboat crossing a bay", "a cyclist racing downhill"]
    answers, states = [], []
    for seed, text in enumerate(texts):
        request = {"request": {"text": text, "options": {"num_frames": 4, "height": 64, "width": 64, "seed": seed}}}
        answers.append(client.runs.wait(thread, "spagent", input=request, context={"judge_frames": 2}))
        states.append(client.threads.get_state(thread)["values"])  # the run answered in brief; the thread has it all
    assert len({answer["run_id"] for answer in answers}) == 3
    for answer, state, text in zip(answers, states, texts, strict=True):
        assert state["run_id"] == answer["run_id"] and state["request"]["text"] == text
        assert [c["id"] for c in state["candidates"]] == ["route-1", "route-2"]
        assert sorted(e["candidate_id"] for e in state["evaluations"]) == ["route-1", "route-2"]
        score = next(e for e in state["evaluations"] if e["candidate_id"] == answer["choice"]["candidate_id"])
        assert answer["choice"]["overall"] == score["overall"]  # the winner's video and score belong together
        assert f"/{answer['run_id']}/" in answer["choice"]["video_url"]
    history = client.threads.get_history(thread, limit=100)
    assert {answer["run_id"] for answer in answers} <= {h["values"].get("run_id") for h in history}


def test_a_bad_request_fails_its_run_and_the_server_serves_the_next(server: Server):
    client = server.client()
    thread = client.threads.create()
    bad = client.runs.create(thread["thread_id"], "spagent", input={"request": {"text": "  "}})
    client.runs.join(thread["thread_id"], bad["run_id"])
    assert client.runs.get(thread["thread_id"], bad["run_id"])["status"] == "error"
    assert client.runs.wait(None, "spagent", input=REQUEST)["choice"]["video"]


# What a caller may set -------------------------------------------------------------------------


OPERATORS = sorted(set(Context.model_fields) - run_options())


def refused(server: Server, context: dict | None = None, inputs: dict = REQUEST) -> str:
    """The 422 a run's creation gets, checked to have made no run."""
    client = server.client()
    thread = client.threads.create()["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        client.runs.create(thread, "spagent", input=inputs, context=context)
    assert caught.value.response.status_code == 422
    assert client.runs.list(thread) == []  # no run was made
    return caught.value.response.text


@pytest.mark.parametrize("name", OPERATORS)
def test_a_deployment_setting_in_a_callers_context_is_refused_with_its_name(server: Server, tmp_path: Path,
                                                                          name: str):
    named = tmp_path / "named-by-the-caller"
    values = {"mllm_url": "http://127.0.0.1:9/v1", "allowed_url_prefixes": ["http://"], "tools": None,
              "mllm_timeout_s": 1, "mllm_max_retries": 0, "max_download_bytes": 1, "max_input_side": 16,
              "max_input_frames": 1, "learning_weight": 1, "fallback_on_mllm_error": False, "mllm_api_key": "k",
              "judge": "classical", "learn_from": "any", "mllm_video_input": "video_url", "device": "cpu",
              "registry": str(named / "registry.yaml"), "mllm_model": "m"}
    value = values.get(name, str(named / name))
    detail = refused(server, {name: value})
    assert f"`{name}` is the operator's to set" in detail
    assert not named.exists()  # nothing was written where the caller pointed


def test_a_misspelt_setting_is_refused_naming_the_right_key(server: Server):
    detail = refused(server, {"judge_frame": 2})
    assert "`judge_frame` is not a setting" in detail and "Did you mean `judge_frames`?" in detail


def test_a_run_option_out_of_bounds_fails_the_run_naming_the_key(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "spagent", input=REQUEST, context={"judge_frames": 0})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"
    assert "Setting `judge_frames` is 0 in the run's context" in server.log.read_text()


# Inputs ----------------------------------------------------------------------------------------


def failed_run(server: Server, request: dict) -> None:
    client = server.client()
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "spagent", input={"request": {**REQUEST["request"], **request}})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"


def test_an_upload_is_checked_stored_for_its_owner_and_used_as_input(server: Server, tmp_path: Path):
    answer = upload(server, png_bytes(tmp_path), "parrot.png")
    assert answer.status_code == 200, answer.text
    name = answer.json()["path"]  # the name to put in a request, read from the caller's own input folder
    (stored,) = (server.data / "runs" / "inputs").rglob(name)
    assert answer.json()["kind"] == "single image" and Path(name).name == name
    ada = server.client()
    made = ada.threads.create()["thread_id"]
    answered = ada.runs.wait(made, "spagent", input={"request": {"text": "a red parrot", "image": name,
                                                                 "options": REQUEST["request"]["options"]}})
    assert answered["messages"][-1]["response_metadata"]["spagent"]["input"] == "your text and image"
    assert answered["choice"]["video"]
    # Bob cannot use Ada's upload: it is outside his input folder.
    client = server.client("bob")
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "spagent", input={"request": {"text": "x", "image": name}})
    client.runs.join(thread, run["run_id"])
    assert client.runs.get(thread, run["run_id"])["status"] == "error"


def test_an_oversized_or_non_media_upload_is_refused_and_not_kept(server: Server):
    def kept() -> set[Path]:  # files only: the caller's own (empty) input folder may be made on the way
        return {path for path in (server.data / "runs" / "inputs").rglob("*") if path.is_file()}

    before = kept()
    assert upload(server, os.urandom(MAX_UPLOAD + 1), "big.png").status_code == 413
    refusal = upload(server, b"#!/bin/sh\necho hello\n" * 10, "script.png")
    assert refusal.status_code == 422 and "`image`" in refusal.json()["detail"]
    assert kept() == before


def test_inputs_outside_the_input_folder_or_off_the_allow_list_are_refused_before_any_read(server: Server,
                                                                                           tmp_path: Path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png_bytes(tmp_path))
    failed_run(server, {"image": str(outside)})
    # A link inside the caller's own input folder that leads out of it.
    name = upload(server, png_bytes(tmp_path), "p.png").json()["path"]
    (folder,) = {path.parent for path in (server.data / "runs" / "inputs").rglob(name)}
    (folder / "link.png").symlink_to(outside)
    failed_run(server, {"image": str(folder / "link.png")})
    # A URL: the allow-list is empty, so no connection is made.
    hits: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        failed_run(server, {"image": f"http://127.0.0.1:{listener.server_port}/parrot.png"})
    finally:
        listener.shutdown()
    assert hits == []
    log = server.log.read_text()
    assert "outside the allowed input folder" in log and "(through a symbolic link)" in log


# Files and owners ------------------------------------------------------------------------------


def test_the_owner_downloads_the_winner_and_nobody_else_sees_it(server: Server):
    ada = server.client()
    thread = ada.threads.create()["thread_id"]
    choice = ada.runs.wait(thread, "spagent", input=REQUEST)["choice"]
    assert choice["video_url"].startswith("/artifacts/")
    assert all(c["video_url"] for c in ada.threads.get_state(thread)["values"]["candidates"])
    with server.http("ada") as http:
        video = http.get(choice["video_url"])
        assert video.status_code == 200 and video.content.startswith(b"\x00\x00\x00")  # an MP4's first box
        assert choice["video"] == choice["video_url"]  # the server's path, shown as its download route
        assert http.get("/artifacts/../../../etc/passwd").status_code == 404
    with server.http("bob") as http:
        assert http.get(choice["video_url"]).status_code == 404
    bob = server.client("bob")
    assert thread not in {t["thread_id"] for t in bob.threads.search(limit=100)}
    for call in (lambda: bob.threads.get(thread), lambda: bob.threads.get_state(thread),
                 lambda: bob.runs.wait(thread, "spagent", input=REQUEST)):
        with pytest.raises(httpx.HTTPStatusError) as caught:
            call()
        assert caught.value.response.status_code == 404
    assert thread in {t["thread_id"] for t in ada.threads.search(limit=100)}


# Limits of one request, checked before it is queued ---------------------------------------------


@pytest.mark.parametrize(("options", "named"), [({"num_inference_steps": 1000}, "serve_max_steps"),
                                                ({"num_frames": 1024}, "serve_max_frames"),
                                                ({"height": 4096, "width": 4096}, "serve_max_pixels")])
def test_a_request_over_the_operators_limits_is_refused_before_it_is_queued(server: Server, options: dict,
                                                                            named: str):
    detail = refused(server, inputs={"request": {"text": "a red fox", "options": options}})
    assert f"`{named}`" in detail and "at most" in detail


# Human answers on a served run, resumed without the context it started with ---------------------


def test_a_cancel_at_plan_review_is_applied_when_the_resume_carries_no_context(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    paused = client.runs.wait(thread, "spagent", input=REQUEST, context={"review_plan": True})
    assert paused["__interrupt__"][0]["value"]["kind"] == "plan_review"
    client.runs.wait(thread, "spagent", command={"resume": {"action": "cancel"}})
    result = client.threads.get_state(thread)["values"]
    assert result["cancelled"] is True and result["candidates"] == []
    assert "Cancelled by the user" in result["choice"]["reason"]


def test_a_picked_winner_is_applied_when_the_resume_carries_no_context(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    paused = client.runs.wait(thread, "spagent", input=REQUEST, context={"pick_winner": True})
    shown = paused["__interrupt__"][0]["value"]
    assert all(c["video_url"].startswith("/artifacts/") for c in shown["candidates"])
    other = next(c for c in shown["candidates"] if c["candidate_id"] != shown["suggested"])
    result = client.runs.wait(thread, "spagent", command={"resume": {"candidate_id": other["candidate_id"]}})
    assert result["choice"]["candidate_id"] == other["candidate_id"]
    assert result["choice"]["video_url"] == other["video_url"]


def test_an_approval_and_an_edit_are_applied_when_the_resume_carries_no_context(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    paused = client.runs.wait(thread, "spagent", input=REQUEST, context={"review_plan": True})
    shown = paused["__interrupt__"][0]["value"]
    other_t2v = next(t for t in shown["tools_by_task"]["text_to_video"] if t != shown["models"][0][0]["tool"])
    edit = {"action": "edit", "routes": [["text_to_video"], ["text_to_video"]], "tools": [[other_t2v], [None]]}
    client.runs.wait(thread, "spagent", command={"resume": edit})
    result = client.threads.get_state(thread)["values"]
    assert result["model_plan"]["decided_by"] == "human"
    assert [other_t2v] in [c["tools"] for c in result["candidates"]]
    paused = client.runs.wait(thread, "spagent", input=REQUEST, context={"review_plan": True})
    assert client.runs.wait(thread, "spagent", command={"resume": {"action": "approve"}})["choice"]["video_url"]


# State edits, as Studio makes them --------------------------------------------------------------


def test_a_state_edit_is_checked_against_the_states_types(server: Server):
    client = server.client()
    thread = client.threads.create()["thread_id"]
    client.runs.wait(thread, "spagent", input=REQUEST, context={"review_plan": True})
    with pytest.raises(httpx.HTTPStatusError) as caught:
        client.threads.update_state(thread, {"visual": {"path": "x.png"}})
    assert caught.value.response.status_code == 400 and "`visual`" in caught.value.response.text
    plan = client.threads.get_state(thread)["values"]["model_plan"]
    client.threads.update_state(thread, {"model_plan": {**plan, "notes": ["edited"]}})
    assert client.runs.wait(thread, "spagent", command={"resume": {"action": "approve"}})["choice"]["video_url"]
    assert client.threads.get_state(thread)["values"]["model_plan"]["notes"] == ["edited"]


# A parent graph that calls ours ------------------------------------------------------------------


def test_a_remote_graph_in_a_parent_with_its_own_configurable_keys_runs(server: Server):
    from langgraph.pregel.remote import RemoteGraph

    token = next(t for t, u in TOKENS.items() if u == "ada")
    remote = RemoteGraph("spagent", url=server.url, headers={"Authorization": f"Bearer {token}"})
    result = remote.invoke(REQUEST, config={"configurable": {"user_id": "u-42", "tenant": "acme"}})
    assert result["choice"]["video_url"].startswith("/artifacts/")
    # Keys the caller sets as our context stay strict.
    with pytest.raises(httpx.HTTPStatusError) as caught:
        server.client().runs.wait(None, "spagent", input=REQUEST, context={"user_id": "u-42"})
    assert caught.value.response.status_code == 422


# The server's own saver, without strict mode --------------------------------------------------------


def test_an_interrupted_run_resumes_on_a_permissive_server_with_no_serializer_warning(tmp_path: Path,
                                                                                     demo_cache: Path):
    with langgraph_dev(tmp_path, demo_cache, LANGGRAPH_STRICT_MSGPACK="false") as served:
        client = served.client()
        thread = client.threads.create()["thread_id"]
        client.runs.wait(thread, "spagent", input=REQUEST, context={"pick_winner": True})
        result = client.runs.wait(thread, "spagent", command={"resume": {"action": "accept"}})
        assert result["choice"]["video_url"]
        log = served.log.read_text()
    problem = next((line for line in log.splitlines() if "unregistered type" in line.lower() or "Traceback" in line),
                   None)
    assert problem is None, log[log.index(problem) - 2000:log.index(problem) + 3000]


# A thread's files go with it ---------------------------------------------------------------------


def test_deleting_a_thread_removes_its_videos_and_only_its_owner_can(server: Server):
    ada, bob = server.client(), server.client("bob")
    thread = ada.threads.create()["thread_id"]
    kept = ada.threads.create()["thread_id"]
    url = ada.runs.wait(thread, "spagent", input=REQUEST)["choice"]["video_url"]
    other_url = ada.runs.wait(kept, "spagent", input=REQUEST)["choice"]["video_url"]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        bob.threads.delete(thread)
    assert caught.value.response.status_code == 404
    with server.http("ada") as http:
        assert http.get(url).status_code == 200
        ada.threads.delete(thread)
        assert http.get(url).status_code == 404
        assert http.get(other_url).status_code == 200  # another thread's files stay
    assert not any(thread in str(path) for path in server.data.rglob("*"))


# What a remote caller receives names no folder of the server ------------------------------------


def test_nothing_a_caller_receives_names_a_server_folder(server: Server, tmp_path: Path):
    server_folder = str(server.data)
    client = server.client()
    name = upload(server, png_bytes(tmp_path), "parrot.png").json()["path"]
    request = {"request": {"text": "a green parrot", "image": name, "options": REQUEST["request"]["options"]}}
    thread = client.threads.create()["thread_id"]
    received = [client.runs.wait(thread, "spagent", input=request, context={"pick_winner": True})]
    received.append(list(client.runs.stream(thread, "spagent", command={"resume": {"action": "accept"}},
                                            stream_mode=["updates", "values", "custom"])))
    received.append(client.threads.get_state(thread))
    received.append(client.threads.get_history(thread, limit=50))
    # Errors too: a name that leads out of the caller's folder, and a file that is not there.
    for image in ("../../../../etc/hostname", "no-such-file.png"):
        failed = client.threads.create()["thread_id"]
        run = client.runs.create(failed, "spagent", input={"request": {"text": "x", "image": image}})
        client.runs.join(failed, run["run_id"])
        with pytest.raises(Exception) as caught:  # the SDK raises the run's error as the server sent it
            client.runs.wait(failed, "spagent", input={"request": {"text": "x", "image": image}})
        received.append(str(caught.value))
    text = json.dumps(received, default=str)
    assert name in text and "/artifacts/" in text  # the input by its name, the files by their routes
    assert server_folder not in text, text[text.index(server_folder) - 300:text.index(server_folder) + 300]


def test_a_served_run_publishes_its_report_at_a_url_for_its_owner(server: Server):
    state = server.client().runs.wait(None, "spagent", input=REQUEST)
    page_url = state["report_url"]
    assert page_url.startswith("/artifacts/") and page_url.endswith(f"/{state['run_id']}/report.html")
    with server.http("ada") as http:
        page = http.get(page_url)
        assert page.status_code == 200 and "<html" in page.text.lower()
        document = http.get(page_url.replace("report.html", "report.json")).json()
        assert document["choice"]["candidate_id"] == state["choice"]["candidate_id"]
        assert str(server.data) not in page.text + json.dumps(document)  # shown as routes, like every answer
    with server.http("bob") as http:
        assert http.get(page_url).status_code == 404
