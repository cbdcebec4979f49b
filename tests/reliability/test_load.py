"""Load: 50 requests on the demo tools from 8 concurrent clients through the Python API and a
`RequestGate`: none fails, every artifact is on disk, and memory comes back to where it was.

The load runs in a process of its own, as a service would, so that the memory it reports
is its own and not that of the tests that ran before it.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REQUESTS, CLIENTS = 50, 8


def settle() -> None:
    """Frees what is garbage and hands glibc's free pages back, so that resident memory counts what is
    held rather than what the allocator happens to keep cached, which varies from run to run."""
    import ctypes
    import ctypes.util

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):
        ctypes.CDLL(libc).malloc_trim(0)


def serve_load(artifacts: str, cache: str, image: str) -> dict:
    import psutil

    from spagent_graph import Context, build_graph
    from spagent_graph.admission import RequestGate

    context = Context(mllm_url=None, registry="demo", device="cpu", artifacts_dir=artifacts, cache_dir=cache)
    graph = build_graph()
    gate = RequestGate(max_running=2, max_waiting=CLIENTS)  # every client may wait; none is refused
    kinds = [{"text": "a red fox running through snow"}, {"text": "a red parrot", "image": image},
             {"text": "a green parrot", "image": image}]

    def request(i: int) -> dict:
        inputs = {"request": {**kinds[i % 3], "options": {"num_frames": 4, "height": 64, "width": 64, "seed": i}}}
        return gate.invoke(graph, inputs, context=context)

    # Warm, the same way as the load: pipelines loaded, classifier built, and the allocator's
    # per-thread arenas at their working size.
    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        list(clients.map(request, range(CLIENTS)))
    settle()
    process = psutil.Process()
    before = process.memory_info().rss

    lock, errors, lost = threading.Lock(), [], []

    def client(i: int) -> None:
        try:
            result = request(100 + i)
        except Exception as exc:  # noqa: BLE001 - a failure is what this counts
            with lock:
                errors.append(f"request {i}: {exc!r}")
            return
        files = [result["choice"].video] + [s.output for c in result["candidates"] for s in c.steps]
        with lock:
            lost.extend(str(f) for f in files if f is None or not Path(f).is_file())
            errors.extend(f"request {i}: {c.error}" for c in result["candidates"] if c.error)

    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        list(clients.map(client, range(REQUESTS)))
    settle()
    after = process.memory_info().rss
    return {"errors": errors, "lost": lost, "refused": gate.refused, "before": before, "after": after}


def test_fifty_requests_from_eight_clients(tmp_path: Path, demo_cache: Path, red_parrot_png: Path):
    completed = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "runs"), str(demo_cache), str(red_parrot_png)],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == [] and outcome["lost"] == [] and outcome["refused"] == 0
    before, after = outcome["before"], outcome["after"]
    assert after <= before * 1.10, f"resident memory {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB"


if __name__ == "__main__":
    print(json.dumps(serve_load(*sys.argv[1:4])))
