"""The pipeline pool: reuse, eviction order, one load under concurrency; and the tool's
recovery from out-of-memory and its step timeout, on a real demo pipeline."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from spagent_graph.errors import ToolError, ToolTimeoutError
from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.pipeline_calls import CALL_STYLES, generic
from spagent_graph.tool_adapters.pool import PipelinePool
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox


class Loader:
    """Counts loads; each load returns a fresh object standing for a pipeline."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.count = 0
        self.seconds = seconds
        self.lock = threading.Lock()

    def __call__(self, device):
        time.sleep(self.seconds)
        with self.lock:
            self.count += 1
        return object()


def test_a_resident_pipeline_is_reused():
    pool, load = PipelinePool(), Loader()
    first = pool.get("svd", load).pipeline
    assert all(pool.get("svd", load).pipeline is first for _ in range(5))
    assert load.count == 1 and pool.loads == {"svd": 1}


def test_least_recently_used_is_evicted_first():
    pool = PipelinePool(max_resident=2)
    pool.get("a", Loader())
    pool.get("b", Loader())
    pool.get("a", Loader())  # a is now the most recent
    pool.get("c", Loader())
    assert pool.evictions == ["b"] and pool.resident_keys() == ["a", "c"]
    pool.get("b", Loader())
    assert pool.evictions == ["b", "a"] and pool.resident_keys() == ["c", "b"]


def test_concurrent_requests_for_one_tool_load_it_once():
    pool, load = PipelinePool(), Loader(seconds=0.2)
    with ThreadPoolExecutor(max_workers=6) as workers:
        pipelines = list(workers.map(lambda _: pool.get("cogvideox", load).pipeline, range(6)))
    assert load.count == 1 and len({id(p) for p in pipelines}) == 1


GB = 10**9


class SimulatedGPUs:
    """GPUs whose free memory is their capacity less the pipelines the pool placed on them."""

    def __init__(self, capacities_gb: list[int], sizes_gb: dict[str, int]) -> None:
        self.capacity = {torch.device("cuda", i): gb * GB for i, gb in enumerate(capacities_gb)}
        self.sizes = {key: gb * GB for key, gb in sizes_gb.items()}
        self.placed: dict[str, torch.device] = {}
        self.pool = PipelinePool(gpus=lambda: list(self.capacity), free_bytes=self.free)

    def free(self, device: torch.device) -> int:
        used = sum(self.sizes[key] for key in self.pool.resident_keys() if self.placed[key] == device)
        return self.capacity[device] - used

    def load(self, key: str) -> torch.device:
        def loader(device):
            self.placed[key] = device
            return object()

        return self.pool.get(key, loader, estimate_bytes=lambda: self.sizes[key]).device


def test_placement_picks_the_gpu_with_most_free_memory_and_evicts_only_there():
    gpus = SimulatedGPUs([10, 10], {"a": 4, "b": 4, "c": 4, "d": 6})
    assert gpus.load("a") == torch.device("cuda", 0)
    assert gpus.load("b") == torch.device("cuda", 1)  # 10 GB free there against 6
    assert gpus.load("c") == torch.device("cuda", 0)  # a tie; 4 GB (+ headroom) fits beside a
    # d needs 7.8 GB with headroom; cuda:1 has the most free (6 GB), so its only resident goes.
    assert gpus.load("d") == torch.device("cuda", 1)
    assert gpus.pool.evictions == ["b"]
    assert gpus.pool.resident_keys() == ["a", "c", "d"]


def test_making_room_evicts_least_recently_used_until_the_load_fits():
    gpus = SimulatedGPUs([10], {"a": 3, "b": 3, "c": 6})
    gpus.load("a"), gpus.load("b"), gpus.load("a")  # a used last
    assert gpus.load("c") == torch.device("cuda", 0)
    assert gpus.pool.evictions == ["b", "a"]  # b alone leaves 7 GB free, short of 7.8


def test_toolbox_tools_share_the_pool_across_calls(tmp_path: Path, demo_cache: Path):
    toolbox = Toolbox(ToolRegistry.from_yaml("demo").restricted_to(["demo-sd"]), device="cpu", cache_dir=demo_cache)
    tool = toolbox.tool("demo-sd")
    for index in range(3):
        tool.invoke({"output_path": str(tmp_path / f"{index}.png"), "prompt": "a cat", "height": 64, "width": 64})
    assert toolbox.pool.loads == {"demo-sd": 1}


@pytest.fixture
def flaky_style():
    """A call style that runs out of memory on its first call: a fault injected at the public hook."""
    calls = {"n": 0}

    def out_of_memory_once(pipeline, offered, spec):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return generic(pipeline, offered, spec)

    CALL_STYLES["out_of_memory_once"] = out_of_memory_once
    yield calls
    del CALL_STYLES["out_of_memory_once"]


def demo_tool(demo_cache: Path, **changes):
    registry = ToolRegistry.from_yaml("demo")
    spec = registry.get("demo-sd").model_copy(update=changes)
    return Toolbox(ToolRegistry({"demo-sd": spec}), device="cpu", cache_dir=demo_cache)


def test_out_of_memory_reloads_with_low_memory_settings_and_retries_once(flaky_style, tmp_path: Path, demo_cache: Path):
    toolbox = demo_tool(demo_cache, call_style="out_of_memory_once")
    path = toolbox.tool("demo-sd").invoke({"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64})
    assert inspect_media(path, "image").kind == "single image"
    assert flaky_style["n"] == 2
    assert toolbox.pool.evictions == ["demo-sd"] and toolbox.pool.resident_keys() == ["demo-sd@low-memory"]


def test_a_low_memory_retry_that_fails_otherwise_says_the_first_call_ran_out_of_memory(tmp_path: Path,
                                                                                      demo_cache: Path,
                                                                                      monkeypatch):
    calls = []

    def out_of_memory_then_broken(pipeline, offered, spec):
        calls.append(pipeline)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has 1 GiB "
                                         "free.")
        raise ValueError("the low-memory pipeline is broken")

    monkeypatch.setitem(CALL_STYLES, "out_of_memory_then_broken", out_of_memory_then_broken)
    tool = demo_tool(demo_cache, call_style="out_of_memory_then_broken").tool("demo-sd")
    with pytest.raises(ToolError) as caught:
        tool.invoke({"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64})
    assert str(caught.value) == (
        "Tool `demo-sd`: ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB), and the retry "
        "with its low-memory settings failed: ValueError: the low-memory pipeline is broken")
    assert len(calls) == 2 and calls[0] is not calls[1]  # the retry ran on a pipeline loaded anew
    assert not list(tmp_path.iterdir())


def test_a_step_past_its_timeout_is_stopped(tmp_path: Path, demo_cache: Path):
    toolbox = demo_tool(demo_cache, timeout_s=0.001)
    with pytest.raises(ToolTimeoutError, match="timeout of 0.001 s"):
        toolbox.tool("demo-sd").invoke({"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64})


def test_progress_is_reported_per_denoising_step(tmp_path: Path, demo_cache: Path):
    events = []
    tool = demo_tool(demo_cache).tool("demo-sd")
    tool.invoke({"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64, "num_inference_steps": 3},
                config={"configurable": {"progress": events.append}})
    assert events == [{"tool": "demo-sd", "step": s, "total": 3} for s in (1, 2, 3)]


def test_memory_options_are_applied_when_the_pipeline_loads(demo_cache: Path):
    from spagent_graph.tool_adapters.registry import MemoryOptions

    options = MemoryOptions(vae_tiling=True, vae_slicing=True, attention_backend="native", cpu_offload="model")
    tool = demo_tool(demo_cache, memory=options).tool("demo-sd")
    pipeline = tool.pipeline()
    assert pipeline.vae.use_tiling and pipeline.vae.use_slicing
    assert pipeline.device.type == "cpu"  # offloading needs a GPU; on a CPU the pipeline just stays there


def test_transient_errors_are_retried(tmp_path: Path, demo_cache: Path):
    calls = {"n": 0}

    def connection_drops_twice(pipeline, offered, spec):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("connection reset while fetching a shard")
        return generic(pipeline, offered, spec)

    CALL_STYLES["connection_drops_twice"] = connection_drops_twice
    try:
        tool = demo_tool(demo_cache, call_style="connection_drops_twice", max_retries=2).tool("demo-sd")
        tool.invoke({"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64})
    finally:
        del CALL_STYLES["connection_drops_twice"]
    assert calls["n"] == 3
