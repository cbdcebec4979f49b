"""The tool paths that only a GPU exercises: half precision by default, model CPU
offload, placement in the pool, free memory as the pool counts it, and freeing memory on eviction.

Run on the lent GPU machine: `python -m pytest -m gpu tests/gpu`. Where spagent-graph is
installed there from a wheel rather than editable, run a copy of `tests/` from outside the
repository root, whose source `spagent_graph/` folder would otherwise shadow the wheel (the
package-dir mapping makes `nodes/` and `tool_adapters/` its subpackages only when installed):
`cp -r tests /tmp/t && cd /tmp/t && python -m pytest -c /dev/null --rootdir . -m gpu tests/gpu`
(`-c /dev/null` leaves out the project's pytest settings, which need pytest-asyncio).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.registry import MemoryOptions, ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.unit.test_library_adapters import tiny_request, tiny_spec

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def toolbox_for(name: str, cache: Path, **changes) -> Toolbox:
    spec = ToolRegistry.from_yaml("demo").get(name).model_copy(update=changes)
    return Toolbox(ToolRegistry({name: spec}), device="auto", cache_dir=cache)


def test_auto_device_and_dtype_put_the_pipeline_on_the_gpu_in_half_precision(tmp_path: Path):
    toolbox = toolbox_for("demo-animatediff", tmp_path)
    tool = toolbox.tool("demo-animatediff")
    path = tool.invoke({"output_path": str(tmp_path / "a.mp4"), "prompt": "a cat", "num_frames": 8, "height": 64, "width": 64})
    assert inspect_media(path, "video").frame_count == 8
    pipeline = tool.pipeline()
    assert pipeline.unet.device.type == "cuda" and pipeline.unet.dtype == torch.float16


def test_model_cpu_offload_keeps_weights_off_the_gpu_between_calls(tmp_path: Path):
    toolbox = toolbox_for("demo-sd", tmp_path, memory=MemoryOptions(cpu_offload="model", vae_tiling=True))
    tool = toolbox.tool("demo-sd")
    path = tool.invoke({"output_path": str(tmp_path / "a.png"), "prompt": "a cat", "height": 64, "width": 64})
    assert inspect_media(path, "image").kind == "single image"
    assert tool.pipeline().unet.device.type == "cpu"  # moved back after the call


def test_eviction_frees_gpu_memory(tmp_path: Path):
    toolbox = toolbox_for("demo-svd", tmp_path)
    tool = toolbox.tool("demo-svd")
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(image)
    tool.invoke({"output_path": str(tmp_path / "a.mp4"), "image": str(image), "num_frames": 8, "height": 64, "width": 64})
    loaded = torch.cuda.memory_allocated()
    toolbox.unload_all()
    assert torch.cuda.memory_allocated() < loaded
    assert toolbox.pool.resident_keys() == []


def test_free_memory_counts_what_the_allocator_holds_cached():
    # A freed tensor's block stays reserved by PyTorch: CUDA counts it as used, the next allocation takes it.
    from spagent_graph.tool_adapters.pool import _free_bytes

    gpu = torch.device("cuda", torch.cuda.current_device())
    block = torch.empty(2**30, dtype=torch.uint8, device=gpu)
    del block
    assert _free_bytes(gpu) >= torch.cuda.mem_get_info(gpu)[0] + 2**30
    assert _free_bytes(torch.device("cpu")) is None
    torch.cuda.empty_cache()


def test_a_gpu_named_without_its_index_is_placed_under_its_full_name():
    # Placement compares devices: "cuda" and "cuda:0" must not be two GPUs to it.
    from spagent_graph.tool_adapters.pool import PipelinePool

    pool = PipelinePool()
    assert pool.get("a", lambda device: device, device="cuda").device == torch.device(
        "cuda", torch.cuda.current_device())


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 9),
                    reason="FP8 weights need a GPU of compute capability 8.9 or later")
def test_wan_fast_profile_runs_fp8_experts_under_model_cpu_offload(tmp_path: Path, monkeypatch):
    """A deployment that places Wan 2.2 A14B with model offload (`memory: {cpu_offload: model}`: a 48 GB card,
    or one GPU shared with other models) and runs its `fast` row quantizes both experts to FP8 before any
    hook moves them, each block on the GPU rather than with the host's cores: the quantized weights must
    travel between host and GPU call after call."""
    torchao_quantization = pytest.importorskip("torchao.quantization")
    from torchao.quantization import Float8Tensor

    quantize, quantized_on = torchao_quantization.quantize_, []

    def quantize_and_note_where(block, config, **options):
        quantized_on.append(next(block.parameters()).device.type)
        return quantize(block, config, **options)

    monkeypatch.setattr(torchao_quantization, "quantize_", quantize_and_note_where)

    name = "wan22-a14b-t2v"
    spec = tiny_spec(name, tmp_path / "tiny").model_copy(
        update={"torch_dtype": "bfloat16", "memory": MemoryOptions(cpu_offload="model")})
    tool = Toolbox(ToolRegistry({name: spec}), device="cuda", cache_dir=tmp_path / "cache").tool(name)
    fast = spec.acceleration["fast"]
    assert fast.quantize == "float8"
    config = {"configurable": {"levers": {name: fast}}}
    for call in range(2):  # the second call finds the experts back on the host, still FP8
        path = tool.invoke(tiny_request(name, tmp_path, output=f"{call}.mp4"), config=config)
        assert inspect_media(path, "video").frame_count == 9
    assert quantized_on and set(quantized_on) == {"cuda"}
    pipeline = tool.pipeline(fast)
    for expert in (pipeline.transformer, pipeline.transformer_2):
        linear = expert.blocks[0].attn1.to_q
        assert isinstance(linear.weight, Float8Tensor)
        assert linear.weight.device.type == "cpu"  # offloaded again after the call
