"""The pipeline pool: reuse, eviction order, one load under concurrency, room for a call; and the tool's
recovery from out-of-memory and its step timeout, on a real demo pipeline."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from spagent_graph.errors import ToolError, ToolTimeoutError
from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.acceleration import Levers
from spagent_graph.tool_adapters.diffusers_adapter import DiffusersTool
from spagent_graph.tool_adapters.gpus import GiB, Gpu
from spagent_graph.tool_adapters.memory import estimate_memory
from spagent_graph.tool_adapters.pipeline_calls import CALL_STYLES, generic
from spagent_graph.tool_adapters.pool import Freed, PipelinePool
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.conftest import invoke_for_message
from tests.unit.test_doctor import attn1_taylorseer
from tests.unit.test_library_adapters import tiny_cache, tiny_request, tiny_tool  # noqa: F401 (a fixture)


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


class StandIn:
    """Stands for a loaded pipeline; unlike a bare object(), the pool's call locks can name it weakly."""


class Offloaded(StandIn):
    """Stands for a pipeline under CPU offload between calls: its weights wait on the host."""

    def __init__(self) -> None:
        self.components = {"transformer": torch.nn.Linear(2, 2)}


class SimulatedGPUs:
    """GPUs whose free memory is their capacity less the pipelines the pool placed on them."""

    def __init__(self, capacities_gb: list[int], sizes_gb: dict[str, int], **options) -> None:
        self.capacity = {torch.device("cuda", i): gb * GB for i, gb in enumerate(capacities_gb)}
        self.sizes = {key: gb * GB for key, gb in sizes_gb.items()}
        self.placed: dict[str, torch.device] = {}
        self.pool = PipelinePool(gpus=lambda: list(self.capacity), free_bytes=self.free, **options)

    def free(self, device: torch.device) -> int:
        used = sum(self.sizes[key] for key in self.pool.resident_keys() if self.placed[key] == device)
        return self.capacity[device] - used

    def load(self, key: str, kind: type = StandIn) -> torch.device:
        def loader(device):
            self.placed[key] = device
            return kind()

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


def holders(pool: PipelinePool) -> dict[str, int]:
    """How many calls hold each resident pipeline now."""
    return {key: pool.get(key, resident(key)).holders for key in pool.resident_keys()}


def resident(key: str):
    """A loader for a key the test knows is resident: loading it again would be a failure."""
    return lambda device: pytest.fail(f"{key} is resident and was loaded again")


def test_room_for_a_call_is_made_of_idle_pipelines_only():
    gpus = SimulatedGPUs([12], {"a": 3, "b": 2, "c": 2, "d": 2})
    for key in "bcda":
        gpus.load(key)  # 3 GB free
    pool, gpu = gpus.pool, torch.device("cuda", 0)
    held = pool.get("b", resident("b"), hold=True)  # handed to a call that has not started yet
    running = pool.get("c", resident("c")).pipeline
    pool.get("a", resident("a"))  # least recently used first: d, b, c, a
    with pool.calling(running):
        assert pool.make_room(gpu, 8 * GB, keep="a") == ["d"]  # a is the caller, b held, c in a call
    pool.release(held)
    assert pool.resident_keys() == ["b", "c", "a"] and gpus.free(gpu) == 5 * GB
    assert pool.make_room(gpu, 8 * GB, keep="a") == ["b", "c"]  # idle now
    assert pool.make_room(gpu, 8 * GB, keep="a") == []  # enough is free
    assert pool.resident_keys() == ["a"]


def test_a_pipeline_whose_weights_wait_on_the_host_is_not_evicted_for_room():
    gpus = SimulatedGPUs([10], {"offloaded": 0, "a": 3})
    gpus.load("offloaded", Offloaded), gpus.load("a")
    assert gpus.pool.make_room(torch.device("cuda", 0), 100 * GB) == ["a"]  # a goes, in vain; offloaded stays
    assert gpus.pool.resident_keys() == ["offloaded"]


def test_making_room_leaves_a_device_whose_free_memory_is_unknown_alone():
    pool = PipelinePool(free_bytes=lambda device: None)  # a CPU's, by default
    pool.get("a", Loader())
    assert pool.make_room(torch.device("cpu"), 10**15) == [] and pool.resident_keys() == ["a"]


def test_a_pool_whose_caller_manages_memory_keeps_every_pipeline():
    gpus = SimulatedGPUs([10], {"a": 6, "b": 6}, manage_memory=False)
    gpus.load("a"), gpus.load("b")  # b does not fit beside a; the caller holds its pipelines itself
    assert gpus.pool.make_room(torch.device("cuda", 0), 8 * GB) == []
    assert gpus.pool.evict_neighbours("b") == Freed([], 0)
    assert gpus.pool.resident_keys() == ["a", "b"] and gpus.pool.evictions == []


def test_evicting_a_pipelines_neighbours_spares_it_and_other_gpus():
    gpus = SimulatedGPUs([10, 9], {"a": 2, "b": 2, "c": 2, "d": 2})
    for key in "abcd":
        gpus.load(key)  # a and c on cuda:0, b and d on cuda:1
    assert gpus.pool.evict_neighbours("c") == Freed(["a"], 2 * GB)
    assert gpus.pool.resident_keys() == ["b", "c", "d"]
    assert gpus.pool.evict_neighbours("never placed") == Freed([], 0)


def test_a_load_that_ran_out_of_memory_can_still_clear_its_gpu():
    gpus = SimulatedGPUs([10, 10], {"a": 2, "b": 2})
    gpus.load("a"), gpus.load("b")  # one on each GPU

    def out_of_memory(device):
        raise torch.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(torch.OutOfMemoryError):
        gpus.pool.get("c", out_of_memory)  # placed on cuda:0, where a is: a tie goes to the first
    assert gpus.pool.evict_neighbours("c") == Freed(["a"], 2 * GB) and gpus.pool.resident_keys() == ["b"]


def test_toolbox_tools_share_the_pool_across_calls(tmp_path: Path, demo_cache: Path):
    toolbox = Toolbox(ToolRegistry.from_yaml("demo").restricted_to(["demo-sd"]), device="cpu", cache_dir=demo_cache)
    tool = toolbox.tool("demo-sd")
    for index in range(3):
        tool.invoke({"output_path": str(tmp_path / f"{index}.png"), "prompt": "a cat", "height": 64, "width": 64})
    assert toolbox.pool.loads == {"demo-sd": 1}


def scripted_style(monkeypatch, name: str, *failures: BaseException) -> list:
    """Registers the call style `name`, whose calls raise `failures` in turn and then run as `generic`
    does (a fault injected at the public hook); the pipelines it is called with, as they come."""
    calls = []

    def style(pipeline, offered, spec):
        calls.append(pipeline)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return generic(pipeline, offered, spec)

    monkeypatch.setitem(CALL_STYLES, name, style)
    return calls


@pytest.fixture
def flaky_style(monkeypatch):
    """A call style that runs out of memory on its first call."""
    return scripted_style(monkeypatch, "out_of_memory_once",
                          torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"))


def cat_request(tmp_path: Path) -> dict:
    return {"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 64}


def demo_tool(demo_cache: Path, **changes):
    registry = ToolRegistry.from_yaml("demo")
    spec = registry.get("demo-sd").model_copy(update=changes)
    return Toolbox(ToolRegistry({"demo-sd": spec}), device="cpu", cache_dir=demo_cache)


def test_out_of_memory_reloads_with_low_memory_settings_and_retries_once(flaky_style, tmp_path: Path, demo_cache: Path):
    toolbox = demo_tool(demo_cache, call_style="out_of_memory_once")
    message = invoke_for_message(toolbox.tool("demo-sd"), cat_request(tmp_path))
    assert inspect_media(message.content, "image").kind == "single image"
    assert len(flaky_style) == 2
    # Nothing else was resident to make way, so the tool fell back to its low-memory settings at once.
    assert toolbox.pool.evictions == ["demo-sd"] and toolbox.pool.resident_keys() == ["demo-sd@low-memory"]
    assert message.artifact["adjustments"] == [
        "ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB); ran again with its low-memory "
        "settings (cpu_offload model, vae_tiling True, vae_slicing True) and no acceleration levers"]


def two_demo_tools(demo_cache: Path, call_style: str, pool: PipelinePool | None = None) -> Toolbox:
    """demo-sd calling through `call_style`, beside demo-sd3 in the same pool."""
    registry = ToolRegistry.from_yaml("demo")
    specs = {"demo-sd": registry.get("demo-sd").model_copy(update={"call_style": call_style}),
             "demo-sd3": registry.get("demo-sd3")}
    return Toolbox(ToolRegistry(specs), device="cpu", cache_dir=demo_cache, pool=pool)


def test_out_of_memory_first_unloads_the_other_idle_pipelines_and_runs_again_as_it_was(flaky_style, tmp_path,
                                                                                         demo_cache):
    toolbox = two_demo_tools(demo_cache, "out_of_memory_once")
    toolbox.tool("demo-sd3").pipeline()  # loaded by an earlier step, idle now
    message = invoke_for_message(toolbox.tool("demo-sd"), cat_request(tmp_path))
    assert inspect_media(message.content, "image").kind == "single image"
    assert len(flaky_style) == 2
    assert toolbox.pool.evictions == ["demo-sd3"]
    assert toolbox.pool.resident_keys() == ["demo-sd"]  # as it was, not in its low-memory mode
    assert message.artifact["adjustments"] == [
        "ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB); ran again after unloading "
        "demo-sd3 from its GPU"]


def test_out_of_memory_is_not_run_again_where_the_evictions_gave_the_gpu_nothing_back(flaky_style, tmp_path,
                                                                                        demo_cache):
    # The CPU stands for a GPU whose free memory stays as it was when demo-sd3 goes (its modules shared,
    # say): running every step again as before would only run out of memory again.
    toolbox = two_demo_tools(demo_cache, "out_of_memory_once", PipelinePool(free_bytes=lambda device: 5 * GB))
    toolbox.tool("demo-sd3").pipeline()
    message = invoke_for_message(toolbox.tool("demo-sd"), cat_request(tmp_path))
    assert len(flaky_style) == 2  # the first call, then the low-memory one
    assert toolbox.pool.evictions == ["demo-sd3", "demo-sd"]
    assert toolbox.pool.resident_keys() == ["demo-sd@low-memory"]
    assert message.artifact["adjustments"][0].endswith("ran again with its low-memory settings (cpu_offload "
                                                       "model, vae_tiling True, vae_slicing True) and no "
                                                       "acceleration levers")


def test_a_call_its_gpu_could_not_hold_runs_with_the_low_memory_settings_from_the_start(tiny_cache, tmp_path,
                                                                                        monkeypatch):
    # Found out before loading; else the call would run every step and run out of memory at the decode.
    from spagent_graph.tool_adapters import diffusers_adapter

    monkeypatch.setattr(diffusers_adapter, "gpu_for_device", lambda device: Gpu("simulated 1 MiB", 2**20))
    tool = tiny_tool("wan22-5b-t2v", tiny_cache, tmp_path)
    tool.warm_up()  # as a server starts: loaded as its calls will run
    assert tool.pool.resident_keys() == ["wan22-5b-t2v@low-memory"]
    for _ in range(2):  # each call's record says why
        message = invoke_for_message(tool, tiny_request("wan22-5b-t2v", tmp_path))
        assert inspect_media(message.content, "video").frame_count > 1
        (note,) = [note for note in message.artifact["adjustments"] if "low-memory" in note]
    assert tool.pool.loads == {"wan22-5b-t2v@low-memory": 1}
    assert re.fullmatch(r"would need about \d+\.\d GiB with everything on simulated 1 MiB, more than the "
                        r"90% of it a call may count on \(the doctor's estimate\): ran with its low-memory "
                        r"settings \(cpu_offload model, vae_tiling True, vae_slicing True\) and no "
                        r"acceleration levers", note), note
    assert message.artifact["made_with"]["memory"]["cpu_offload"] == "model"
    # Where the GPU can hold it, the same call runs as the entry places it.
    monkeypatch.setattr(diffusers_adapter, "gpu_for_device", lambda device: Gpu("simulated 80 GiB", 80 * GiB))
    roomy = tiny_tool("wan22-5b-t2v", tiny_cache, tmp_path / "roomy")
    message = invoke_for_message(roomy, tiny_request("wan22-5b-t2v", tmp_path))
    assert roomy.pool.resident_keys() == ["wan22-5b-t2v"]
    assert not any("low-memory" in note for note in message.artifact["adjustments"])


def test_out_of_memory_after_the_others_made_way_falls_back_to_the_low_memory_settings(tmp_path: Path,
                                                                                        demo_cache: Path,
                                                                                        monkeypatch):
    calls = scripted_style(monkeypatch, "out_of_memory_twice", *(
        torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {gib}.00 GiB. Some advice.")
        for gib in (10, 20)))
    toolbox = two_demo_tools(demo_cache, "out_of_memory_twice")
    toolbox.tool("demo-sd3").pipeline()
    message = invoke_for_message(toolbox.tool("demo-sd"), cat_request(tmp_path))
    assert len(calls) == 3 and calls[0] is calls[1] is not calls[2]
    assert toolbox.pool.evictions == ["demo-sd3", "demo-sd"]
    assert toolbox.pool.resident_keys() == ["demo-sd@low-memory"]
    # The note quotes the second message: what the last try before the fallback met.
    assert message.artifact["adjustments"] == [
        "ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB); ran again with its low-memory "
        "settings (cpu_offload model, vae_tiling True, vae_slicing True) and no acceleration levers"]


def test_each_call_makes_room_on_its_device_for_the_memory_it_will_allocate(tmp_path: Path, demo_cache: Path,
                                                                             monkeypatch):
    # The CPU stands for a 10 GB GPU: each resident demo pipeline takes 3 GB of it, and a demo-sd call
    # allocates 5 GB more (the doctor has no estimate for demo tools: `_call_bytes` gives it here).
    pool = PipelinePool(free_bytes=lambda device: 10 * GB - 3 * GB * len(pool.resident_keys()))
    toolbox = two_demo_tools(demo_cache, "generic", pool)
    asked = []

    def call_bytes(tool, offered, placement):
        asked.append((tool.name, offered["height"], offered["width"], placement.key))
        return 5 * GB if tool.name == "demo-sd" else 0

    monkeypatch.setattr(DiffusersTool, "_call_bytes", call_bytes)
    request = {"output_path": str(tmp_path / "x.png"), "prompt": "a cat", "height": 64, "width": 96}
    invoke_for_message(toolbox.tool("demo-sd3"), {**request, "output_path": str(tmp_path / "y.png")})
    message = invoke_for_message(toolbox.tool("demo-sd"), request)
    assert asked == [("demo-sd3", 64, 96, "demo-sd3"), ("demo-sd", 64, 96, "demo-sd")]
    assert pool.evictions == ["demo-sd3"]  # 4 GB free beside both pipelines, 7 GB once demo-sd3 had gone
    assert pool.resident_keys() == ["demo-sd"] and message.artifact["adjustments"] == []


def test_a_low_memory_retry_that_fails_otherwise_says_the_first_call_ran_out_of_memory(tmp_path: Path,
                                                                                      demo_cache: Path,
                                                                                      monkeypatch):
    calls = scripted_style(monkeypatch, "out_of_memory_then_broken",
                           torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. "
                                                  "GPU 0 has 1 GiB free."),
                           ValueError("the low-memory pipeline is broken"))
    tool = demo_tool(demo_cache, call_style="out_of_memory_then_broken").tool("demo-sd")
    with pytest.raises(ToolError) as caught:
        tool.invoke(cat_request(tmp_path))
    assert str(caught.value) == (
        "Tool `demo-sd`: ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB), and the retry "
        "with its low-memory settings failed: ValueError: the low-memory pipeline is broken")
    assert len(calls) == 2 and calls[0] is not calls[1]  # the retry ran on a pipeline loaded anew
    assert holders(tool.pool) == {"demo-sd@low-memory": 0}  # the failed call let go of it
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


def test_transient_errors_are_retried(tmp_path: Path, demo_cache: Path, monkeypatch):
    drop = ConnectionError("connection reset while fetching a shard")
    calls = scripted_style(monkeypatch, "connection_drops_twice", drop, drop)
    tool = demo_tool(demo_cache, call_style="connection_drops_twice", max_retries=2).tool("demo-sd")
    tool.invoke(cat_request(tmp_path))
    assert len(calls) == 3 and holders(tool.pool) == {"demo-sd": 0}  # each attempt let go of its pipeline


def test_a_calls_need_is_the_doctors_estimate_of_what_the_call_adds_to_its_resident_weights(demo_cache: Path):
    library = Toolbox(ToolRegistry.from_yaml("library"), device="cpu", cache_dir=demo_cache)
    wan, size = library.tool("wan22-5b-t2v"), {"num_frames": 121, "height": 704, "width": 1280}
    plain = estimate_memory(wan.spec, frames=121, height=704, width=1280)
    cache = attn1_taylorseer("blocks")
    cached = estimate_memory(wan.spec, frames=121, height=704, width=1280, levers=cache)
    assert wan._call_bytes(size, wan._placement(None)) == plain.activations_bytes  # the decode's 19.8 GiB
    assert cached.cache_bytes > 0
    assert wan._call_bytes(size, wan._placement(cache)) == plain.activations_bytes + cached.cache_bytes
    # Offloaded weights come to the GPU as the call runs: the whole offloaded peak is the call's.
    kandinsky = library.tool("kandinsky5-i2v")  # memory: {cpu_offload: model}
    assert kandinsky._call_bytes({"num_frames": 121, "height": 512, "width": 768},
                                 kandinsky._placement(None)) == estimate_memory(
        kandinsky.spec, frames=121, height=512, width=768).model_offload_peak_bytes
    assert wan._call_bytes(size, wan._placement(cache, low_memory=True)) == plain.model_offload_peak_bytes
    demo = demo_tool(demo_cache).tool("demo-sd")
    assert demo._call_bytes({"height": 64, "width": 64}, demo._placement(None)) == 0  # the doctor cannot tell


def test_the_low_memory_fallback_is_kept_for_the_levers_that_needed_it_only(demo_cache: Path):
    wan = Toolbox(ToolRegistry.from_yaml("library"), device="cpu", cache_dir=demo_cache).tool("wan22-5b-t2v")
    fast = wan.spec.acceleration["fast"]
    wan._low_memory[wan.pool_key(None)] = "an earlier call ran out of memory"  # the exact call fell back
    exact, levered = wan._placement(None), wan._placement(fast)
    assert (exact.key, exact.options, exact.levers, exact.low_memory) == (
        "wan22-5b-t2v@low-memory", wan.spec.low_memory, Levers(), True)
    assert (levered.key, levered.options, levered.levers, levered.low_memory) == (
        f"wan22-5b-t2v@{fast.key()}", wan.spec.memory, fast, False)
    assert wan.pool_key(fast) == levered.key
