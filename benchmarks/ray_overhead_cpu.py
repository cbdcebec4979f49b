"""Added latency of a tool call through Ray Serve, against the same tool in process.

    python benchmarks/ray_overhead_cpu.py [--calls 10]

On a local CPU Ray (`ray.init(num_cpus=2)`), with two demo tools. Both sides
run torch on one thread (as Ray's workers do), warm, same request; the
difference is Ray's: serialising the request and the input and output files,
routing through the deployment handle, and the replica's own bookkeeping.
Prints one table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch
from _table import table
from PIL import Image
from ray import serve

from spagent_graph.tool_adapters.ray_backend import deploy_tools
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox


def registry(backend: str) -> ToolRegistry:
    demo = ToolRegistry.from_yaml("demo")
    return ToolRegistry({n: demo.get(n).model_copy(update={"backend": backend}) for n in ("demo-svd", "demo-sd3")})


def timed_calls(tool, args: dict, calls: int, folder: Path) -> list[float]:
    seconds = []
    for i in range(calls + 1):  # the first call warms up
        started = time.perf_counter()
        tool.invoke({**args, "output_path": str(folder / f"{tool.name}-{i}{tool.output_suffix}")})
        seconds.append(time.perf_counter() - started)
    return seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="spagent-ray-bench-"))
    image = folder / "input.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(image)
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        deploy_tools(registry("ray"), device="cpu", cache_dir=str(folder / "cache"))
        served = Toolbox(registry("ray"))
        local = Toolbox(registry("in_process"), device="cpu", cache_dir=folder / "cache")
        rows = []
        for name, extra in (("demo-svd", {"image": str(image), "num_frames": 8}), ("demo-sd3", {})):
            request = {"prompt": "a red fox", "height": 64, "width": 64, "fps": 8, "seed": 0, **extra}
            here = statistics.median(timed_calls(local.tool(name), request, args.calls, folder))
            there = statistics.median(timed_calls(served.tool(name), request, args.calls, folder))
            rows.append([name, f"{here * 1000:.1f}", f"{there * 1000:.1f}", f"{(there - here) * 1000:+.1f}"])
    finally:
        serve.shutdown()
        ray.shutdown()
    header = ["tool", "in process ms", "Ray Serve ms", "added ms"]
    print(f"median of {args.calls} warm calls, local Ray on 2 CPUs, torch on 1 thread")
    print(table(header, rows))


if __name__ == "__main__":
    main()
