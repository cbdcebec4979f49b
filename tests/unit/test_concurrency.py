"""Concurrent requests: a bounded queue refuses the excess clearly and every admitted request
completes; tool calls on one GPU queue, on two GPUs they run side by side."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from spagent_graph.admission import FairTurns, RequestGate
from spagent_graph.errors import BusyError
from spagent_graph.tool_adapters.pool import PipelinePool


def test_requests_beyond_running_and_waiting_are_refused_and_the_rest_complete():
    gate = RequestGate(max_running=2, max_waiting=2)
    started = threading.Barrier(8, timeout=10)

    def request(i: int) -> str:
        started.wait()
        try:
            with gate.slot():
                time.sleep(0.3)
                return "done"
        except BusyError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(request, range(8)))
    assert outcomes.count("done") == 4
    refused = [o for o in outcomes if o != "done"]
    assert len(refused) == 4 and all("busy" in o and "retry later" in o for o in refused)
    assert gate.running == gate.waiting == 0 and gate.refused == 4
    with pytest.raises(ValueError, match="max_running"):
        RequestGate(max_running=0)


def test_eight_concurrent_graph_requests_on_the_demo_tools(demo_context):
    from spagent_graph import build_graph

    graph, gate = build_graph(), RequestGate(max_running=2, max_waiting=2)
    start = threading.Barrier(8, timeout=30)

    def request(i: int):
        start.wait()
        try:
            return gate.invoke(graph, {"request": {"text": f"a fox, take {i}",
                                                   "options": {"num_frames": 4, "height": 64, "width": 64, "seed": i}}},
                               context=demo_context)
        except BusyError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(request, range(8)))
    busy = [o for o in outcomes if isinstance(o, BusyError)]
    done = [o for o in outcomes if isinstance(o, dict)]
    assert len(busy) == 4 and len(done) == 4  # and nothing failed
    assert all(o["choice"].video is not None and o["choice"].video.is_file() for o in done)


def test_calls_on_one_gpu_queue_and_on_two_gpus_run_side_by_side():
    pool = PipelinePool(calls_per_gpu=1)
    lock, running, most = threading.Lock(), [0], [0]

    def call(device: torch.device, meeting: threading.Barrier | None) -> None:
        with pool.gpu_slot(device):  # no GPU is touched: only the queueing is under test
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            if meeting is not None:
                meeting.wait()  # returns only once both calls hold their slots at once
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    one, two = torch.device("cuda", 0), torch.device("cuda", 1)
    with ThreadPoolExecutor(max_workers=4) as workers:
        list(workers.map(call, [one, one, one], [None] * 3))
    assert most[0] == 1  # one GPU: one call at a time
    meeting = threading.Barrier(2, timeout=30)
    with ThreadPoolExecutor(max_workers=4) as workers:
        list(workers.map(call, [one, two], [meeting, meeting]))
    assert most[0] == 2
    # A CPU has no queue.
    with pool.gpu_slot(torch.device("cpu")), pool.gpu_slot(torch.device("cpu")):
        pass


def test_fair_turns_go_round_the_callers_and_keep_each_callers_order():
    turns, order, release = FairTurns(at_once=1), [], threading.Event()

    def hold() -> None:
        with turns.turn("first"):
            release.wait()

    def call(caller: str, index: int) -> None:
        with turns.turn(caller):
            order.append(f"{caller}{index}")

    workers = [threading.Thread(target=hold)]
    workers[0].start()
    queued = [("ada", 0), ("ada", 1), ("ada", 2), ("bob", 0), ("bob", 1), ("cy", 0)]
    for count, (caller, index) in enumerate(queued, start=1):
        workers.append(threading.Thread(target=call, args=(caller, index)))
        workers[-1].start()
        while sum(turns.waiting().values()) < count:  # each waits before the next asks: a known arrival order
            time.sleep(0.001)
    release.set()
    for worker in workers:
        worker.join(timeout=10)
    assert order == ["ada0", "bob0", "cy0", "ada1", "bob1", "ada2"]


def test_fair_turns_hold_at_most_their_number_at_once():
    turns, lock, held, most = FairTurns(at_once=2), threading.Lock(), [0], [0]

    def call(caller: str) -> None:
        with turns.turn(caller):
            with lock:
                held[0] += 1
                most[0] = max(most[0], held[0])
            time.sleep(0.01)
            with lock:
                held[0] -= 1

    workers = [threading.Thread(target=call, args=(name,)) for name in "aabbccdd"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert most[0] == 2 and turns.waiting() == {}
    with pytest.raises(ValueError, match="at_once >= 1"):
        FairTurns(at_once=0)
