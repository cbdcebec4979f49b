"""Load: 50 requests on the demo tools from 8 concurrent clients through the Python API and a
`RequestGate`: none fails, every artifact is on disk, and memory comes back to where it was."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from spagent_graph import build_graph
from spagent_graph.admission import RequestGate

REQUESTS, CLIENTS = 50, 8


def test_fifty_requests_from_eight_clients(demo_context, red_parrot_png: Path):
    graph = build_graph()
    gate = RequestGate(max_running=2, max_waiting=CLIENTS)  # every client may wait; none is refused
    kinds = [{"text": "a red fox running through snow"}, {"text": "a red parrot", "image": str(red_parrot_png)},
             {"text": "a green parrot", "image": str(red_parrot_png)}]

    def request(i: int) -> dict:
        inputs = {"request": {**kinds[i % 3], "options": {"num_frames": 4, "height": 64, "width": 64, "seed": i}}}
        return gate.invoke(graph, inputs, context=demo_context)

    # Warm, the same way as the load: pipelines loaded, classifier built, and the allocator's
    # per-thread arenas at their working size.
    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        list(clients.map(request, range(CLIENTS)))
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss

    lock, errors = threading.Lock(), []

    def client(i: int):
        try:
            return request(i)
        except Exception as exc:  # noqa: BLE001 - a failure is what this test counts
            with lock:
                errors.append(f"request {i}: {exc!r}")
            return None

    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        results = list(clients.map(client, range(REQUESTS)))

    assert errors == [] and gate.refused == 0
    for result in results:
        assert result["choice"].video is not None
        for candidate in result["candidates"]:
            assert candidate.error is None and Path(candidate.video).is_file()
            assert all(Path(step.output).is_file() for step in candidate.steps)
    del results
    gc.collect()
    after = process.memory_info().rss
    assert after <= before * 1.10, f"resident memory {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB"
