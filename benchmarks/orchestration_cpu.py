"""What the graph costs beyond its tools, on the CPU with the demo tools and the MLLM-free planner.

    python benchmarks/orchestration_cpu.py [--repeats 5]

Prints three tables, all from one process:

1. Orchestration overhead per request: a warm graph run against the same
   tool calls made directly (`tool.invoke`), arranged as the graph runs them
   (the two routes side by side, each route's steps in order). The judge is
   timed apart: it is a stage of the method, not plumbing.
2. Warm vs cold: the first request (pipelines built and loaded) against the
   second (the pool reuses them).
3. Eight concurrent requests through a `RequestGate`: completed, refused as
   busy, failed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _table import table

from spagent_graph import Context, Services, build_graph
from spagent_graph.admission import RequestGate
from spagent_graph.errors import BusyError
from spagent_graph.judging import FrameStatisticsJudge

OPTIONS = {"num_frames": 8, "height": 64, "width": 64}
REAL_SIZE_RUN_S = 34.52  # CogVideoX-2B, 50 steps, one H100 (benchmarks/results/tools_gpu_h100.md)


class TimedJudge(FrameStatisticsJudge):
    """The frame-statistics judge, recording how long each evaluation takes."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def evaluate(self, candidate, request, visual):
        started = time.perf_counter()
        try:
            return super().evaluate(candidate, request, visual)
        finally:
            self.seconds.append(time.perf_counter() - started)


def direct_calls(toolbox, state: dict, workdir: Path) -> float:
    """The graph's tool calls made directly: each route's steps in order, the routes side by side."""

    def run_route(candidate) -> None:
        for step in candidate.steps:
            args = {"output_path": str(workdir / f"{candidate.id}-{step.index}{Path(step.output).suffix}"),
                    **step.inputs, "fps": 8, "seed": candidate.seed, **OPTIONS}
            toolbox.tool(step.tool).invoke(args)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run_route, state["candidates"]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="spagent-bench-"))
    judge = TimedJudge()
    context = Context(registry="demo", device="cpu", artifacts_dir=str(workdir / "runs"),
                      cache_dir=str(workdir / "cache"))
    services = Services(judge=judge)
    graph = build_graph(services=services)

    def request(seed: int) -> dict:
        return {"request": {"text": "a red fox running through snow", "options": {**OPTIONS, "seed": seed}}}

    # 2. Cold, then warm (a new seed each time, so no step is reused).
    started = time.perf_counter()
    graph.invoke(request(0), context=context)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    graph.invoke(request(1), context=context)
    second = time.perf_counter() - started

    # 1. Warm runs against their own tool calls made directly.
    rows = []
    overheads, overheads_without_judge = [], []
    for repeat in range(args.repeats):
        judge.seconds.clear()
        started = time.perf_counter()
        state = graph.invoke(request(100 + repeat), context=context)
        graph_s = time.perf_counter() - started
        judge_s = max(judge.seconds)  # the candidates are judged concurrently
        direct_s = direct_calls(services.toolbox(context), state, workdir / f"direct-{repeat}")
        overheads.append(graph_s - direct_s)
        overheads_without_judge.append(graph_s - direct_s - judge_s)
        rows.append([str(repeat + 1), f"{graph_s * 1000:.0f}", f"{direct_s * 1000:.0f}", f"{judge_s * 1000:.0f}",
                     f"{(graph_s - direct_s) * 1000:.0f}", f"{(graph_s - direct_s - judge_s) * 1000:.0f}"])
    median = statistics.median(overheads_without_judge)
    print("Orchestration overhead per request (demo tools, MLLM-free planner, CPU):")
    print(table(["run", "graph ms", "direct tool calls ms", "judge ms", "graph - direct ms",
                 "graph - direct - judge ms"], rows))
    print(f"median overhead without the judge: {median * 1000:.1f} ms; as a fraction of a real-size run "
          f"({REAL_SIZE_RUN_S} s, CogVideoX-2B on an H100): {median / REAL_SIZE_RUN_S:.3%}; "
          f"with the judge: {statistics.median(overheads) * 1000:.1f} ms\n")

    print("Warm vs cold:")
    print(table(["request", "seconds"], [["first (cold: build + load)", f"{cold:.2f}"],
                                           ["second (warm pool)", f"{second:.2f}"],
                                           ["ratio second / first", f"{second / cold:.2f}"]]))
    print()

    # 3. Eight concurrent requests, two gate settings.
    rows = []
    for max_running, max_waiting in ((2, 2), (2, 6)):
        gate = RequestGate(max_running=max_running, max_waiting=max_waiting)
        barrier = threading.Barrier(8)

        def one(i: int, gate=gate, barrier=barrier) -> str:
            barrier.wait()
            try:
                state = gate.invoke(graph, request(1000 + i), context=context)
                return "completed" if state["choice"].video else "failed"
            except BusyError:
                return "busy"
            except Exception:  # noqa: BLE001 - counted, which is the point
                return "failed"

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(one, range(8)))
        seconds = time.perf_counter() - started
        rows.append([f"{max_running} running + {max_waiting} waiting", str(outcomes.count("completed")),
                     str(outcomes.count("busy")), str(outcomes.count("failed")), f"{seconds:.2f}"])
    print("Eight concurrent requests:")
    print(table(["gate", "completed", "refused busy", "failed", "wall s"], rows))


if __name__ == "__main__":
    main()
