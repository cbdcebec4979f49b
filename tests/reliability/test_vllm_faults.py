"""Faults of the MLLM, against real vLLM servers (the shared one of scripts/test.sh, frozen for a while,
and one of a test's own, stopped mid-run): each ends in a retry, the MLLM-free planner's fallback or a
clear error, and the state says which. Like every `test_vllm_*` module, one pytest-xdist worker runs
these tests together with the other modules that talk to the server, after everything else."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from spagent_graph import MLLMClient, Services, build_graph
from spagent_graph.errors import MLLMError
from spagent_graph.principles import valid_routes
from tests.conftest import free_port

pytestmark = pytest.mark.vllm

URL = os.environ.get("SPAGENT_TEST_MLLM_URL")
SERVE = Path(__file__).parents[1] / "integration" / "tiny_mllm" / "serve.sh"
REQUEST = {"request": {"text": "a sailboat crossing a calm bay", "options": {"num_frames": 4, "height": 64, "width": 64}}}
needs_server = pytest.mark.skipif(not URL, reason="SPAGENT_TEST_MLLM_URL is not set; scripts/test.sh starts a server")


@needs_server
def test_a_server_stopped_mid_run_leaves_the_rest_to_the_fallback(demo_context):
    """A server of this test's own, stopped once the intent is recognized (the paper's planner asks on)."""
    paper = demo_context.changed(planner="paper")
    port = free_port()
    subprocess.run(["bash", str(SERVE), str(port)], check=True, capture_output=True, timeout=400)
    stopped = False
    try:
        client = MLLMClient(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=10, max_retries=1)
        state = {}
        for chunk in build_graph(services=Services(mllm=client)).stream(REQUEST, context=paper, stream_mode="updates"):
            if "recognize_intent" in chunk and not stopped:
                subprocess.run(["bash", str(SERVE), "--stop", str(port)], check=True, capture_output=True, timeout=60)
                stopped = True
            for update in chunk.values():
                state.update(update or {})
    finally:
        if not stopped:
            subprocess.run(["bash", str(SERVE), "--stop", str(port)], capture_output=True, timeout=60)
    assert state["intent"].types_decided_by == "mllm"  # asked before the stop
    assert state["route_plan"].decided_by == "fallback"
    assert any("MLLM failed while planning" in repair for repair in state["route_plan"].repairs)
    assert state["evaluations"] and all("MLLM judge failed" in e.notes[-1] for e in state["evaluations"])
    assert state["choice"].video is not None


@contextlib.contextmanager
def frozen_server(url: str):
    """The shared server, stopped (SIGSTOP) and resumed afterwards: it still accepts connections
    (the kernel does) but answers nothing, as a hung server does. A timeout of a millisecond
    against a running server is no such fault: on a busy machine the client's thread can wake
    after the answer has come, and the call succeeds."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    cache = Path(os.environ.get("TINY_MLLM_CACHE", Path(__file__).parents[2] / ".cache" / "tiny_mllm"))
    pid_file = cache / f"server-{port}.pid"
    if not pid_file.is_file():
        pytest.skip(f"no pid file {pid_file}: the server was not started by serve.sh")
    group = int(pid_file.read_text())
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


@needs_server
@pytest.mark.parametrize("fault, client_settings, says", [
    ("a hung server", {"timeout_s": 0.5, "max_retries": 1}, "could not be reached"),
    ("an error status", {"model": "no-such-model", "max_retries": 0}, "HTTP 404"),
])
def test_an_mllm_fault_falls_back_and_the_state_says_so(demo_context, fault, client_settings, says):
    client = MLLMClient(base_url=URL, **client_settings)
    with frozen_server(URL) if fault == "a hung server" else contextlib.nullcontext():
        state = build_graph(services=Services(mllm=client)).invoke(REQUEST, context=demo_context.changed(planner="paper"))
        assert state["intent"].types_decided_by == "fallback" and state["route_plan"].decided_by == "fallback"
        assert any(says in note for note in state["intent"].notes), state["intent"].notes
        assert state["choice"].video is not None
        with pytest.raises(MLLMError, match=says):
            build_graph(services=Services(mllm=client)).invoke(
                REQUEST, context=demo_context.changed(fallback_on_mllm_error=False))


@needs_server
def test_a_schema_valid_but_senseless_plan_is_repaired_and_recorded(demo_context):
    """The random-weight model's routes are valid JSON and usually senseless; the principles repair them."""
    client = MLLMClient(base_url=URL, timeout_s=60, max_retries=1)
    for seed in range(3):
        request = {"request": {**REQUEST["request"], "text": f"a sailboat, take {seed}"}}
        state = build_graph(services=Services(mllm=client)).invoke(request, context=demo_context.changed(planner="paper"))
        proposed = state["route_plan"].raw_answers
        assert all(route in valid_routes(state["intent"]) for route in state["route_plan"].routes)
        if state["route_plan"].repairs:
            assert all("repaired to" in r or "missing" in r for r in state["route_plan"].repairs), proposed
