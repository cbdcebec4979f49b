"""Acceleration: the registry's levers per family, the fidelity gate, and the levers on a real tiny pipeline.

The tiny CogVideoX is the library entry with its weights swapped for a random build of the same structure
(as in test_library_adapters.py); its cache hooks are diffusers' own, run on the CPU.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from spagent_graph.capability_store import CapabilityStore, FidelityRecord
from spagent_graph.errors import ConfigError
from spagent_graph.media import read_frames
from spagent_graph.tool_adapters.acceleration import (
    COMPILE_CACHE_VARIABLE,
    CacheLever,
    Levers,
    apply_levers,
    choose_levers,
    float8_runs_on,
    set_attention_backend,
    use_compile_cache,
)
from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.tool_adapters.registry import ToolRegistry, UsualSize
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.unit.test_library_adapters import tiny_spec

LIBRARY = ToolRegistry.from_yaml("library")
COGVIDEOX = LIBRARY.get("cogvideox")
FAST = COGVIDEOX.acceleration["fast"]
# As the registry's, but predicting every other step of the tiny run's few steps.
TAYLORSEER = CacheLever(kind="taylorseer", config={**FAST.cache.config, "cache_interval": 2,
                                                   "disable_cache_before_step": 1, "taylor_factors_dtype": "float32"})


def bench(levers: Levers, psnr: float = 35.0, ssim: float = 0.95, tool: str = "cogvideox") -> FidelityRecord:
    return FidelityRecord(tool=tool, profile="fast", levers=levers.key(), speedup=2.1, psnr_db=psnr, ssim=ssim,
                          probes=3, measured_at="2026-12-02T00:00:00+00:00")


def gate(profile: str, record: FidelityRecord | None):
    return choose_levers("cogvideox", COGVIDEOX.acceleration, profile, record, min_psnr_db=30, min_ssim=0.9)


# The gate ------------------------------------------------------------------------------


def test_exact_pulls_nothing():
    chosen = gate("exact", bench(FAST))
    assert chosen.levers.is_plain and chosen.reason == "the exact profile"


def test_levers_that_keep_the_math_need_no_bench():
    chosen = gate("balanced", None)
    assert chosen.levers == COGVIDEOX.acceleration["balanced"] and chosen.reason == "these levers keep the math"


def test_a_cache_never_benched_is_left_out_for_the_balanced_levers():
    chosen = gate("fast", None)
    assert chosen.levers == COGVIDEOX.acceleration["balanced"] and chosen.levers.cache is None
    assert "never benched" in chosen.reason and "spagent bench --tool cogvideox --profile fast" in chosen.reason


def test_without_balanced_levers_an_unbenched_fast_set_keeps_the_rest_of_its_levers():
    chosen = choose_levers("cogvideox", {"fast": FAST}, "fast", None, min_psnr_db=30, min_ssim=0.9)
    assert chosen.levers == FAST.keeping_the_math() and "only the levers that keep the math" in chosen.reason


def test_a_bench_of_other_levers_does_not_count():
    chosen = gate("fast", bench(FAST.keeping_the_math()))
    assert chosen.levers.cache is None and "benched with other levers" in chosen.reason


def test_a_passing_bench_lets_the_cache_run():
    record = bench(FAST)
    chosen = gate("fast", record)
    assert chosen.levers == FAST and chosen.reason.startswith("benched: PSNR 35.0 dB, SSIM 0.950")
    assert chosen.bench == record  # what the run's manifest records the levers resting on
    assert gate("balanced", None).bench is None


def test_a_steps_manifest_carries_the_bench_its_levers_rest_on(tmp_path: Path):
    from langchain_core.messages import ToolMessage

    from spagent_graph.nodes.execute import recorded_step

    record, output = bench(FAST), tmp_path / "step.mp4"
    chosen = gate("fast", record)
    message = ToolMessage(content=str(output), tool_call_id="k", artifact={"options": {"seed": 3}})
    step = recorded_step(message, {"args": {}}, {"index": 0, "task": "text_to_video", "tool": "cogvideox",
                                                 "inputs": {"prompt": "a kite"}, "acceleration": chosen.reason},
                         "k", chosen, tmp_path, types.SimpleNamespace(name="cogvideox", spec=COGVIDEOX))
    assert step.bench == record.model_dump(mode="json") and step.levers == FAST.model_dump(mode="json",
                                                                                          exclude_defaults=True)
    assert step.output == "step.mp4" and step.options == {"seed": 3}


@pytest.mark.parametrize("psnr, ssim", [(25.0, 0.95), (35.0, 0.8)])
def test_a_failed_bench_runs_exact_and_says_why(psnr, ssim):
    chosen = gate("fast", bench(FAST, psnr, ssim))
    assert chosen.profile == "exact" and chosen.levers.is_plain
    assert "failed the fidelity thresholds (PSNR at least 30 dB, SSIM at least 0.9)" in chosen.reason


def test_a_tool_without_levers_runs_plain_under_every_profile():
    demo = ToolRegistry.from_yaml("demo").get("demo-sd3")
    for profile in ("balanced", "fast"):
        chosen = choose_levers(demo.name, demo.acceleration, profile, None, min_psnr_db=30, min_ssim=0.9)
        assert chosen.levers.is_plain and "no " + profile + " levers" in chosen.reason


WAN = ToolRegistry.from_yaml("library").get("wan22-5b-t2v")
WAN_FAST = WAN.acceleration["fast"]


def wan_gate(record: FidelityRecord | None, float8_runs: bool):
    return choose_levers(WAN.name, WAN.acceleration, "fast", record, min_psnr_db=30, min_ssim=0.9,
                         float8_runs=float8_runs)


def test_fp8_weights_change_the_math_and_run_where_their_bench_passed():
    assert WAN_FAST.quantize == "float8" and WAN_FAST.changes_math
    assert WAN_FAST.keeping_the_math() == WAN.acceleration["balanced"]
    assert "float8 linears in the blocks" in WAN_FAST.in_words()
    chosen = wan_gate(bench(WAN_FAST, tool=WAN.name), float8_runs=True)
    assert chosen.levers == WAN_FAST and chosen.reason.startswith("benched:")
    unbenched = wan_gate(None, float8_runs=True)
    assert unbenched.levers == WAN.acceleration["balanced"]
    assert "taylorseer cache and FP8 weights: never benched" in unbenched.reason


def test_where_fp8_cannot_run_the_profile_and_its_bench_are_taken_without_it():
    without = WAN_FAST.model_copy(update={"quantize": None})
    # A bench made on such a machine measured the set without FP8 (spagent bench drops it the same way).
    chosen = wan_gate(bench(without, tool=WAN.name), float8_runs=False)
    assert chosen.levers == without and chosen.levers.cache is not None
    assert "without FP8 weights" in chosen.reason and "compute capability 8.9" in chosen.reason
    # A bench of the FP8 set does not vouch for what runs here.
    assert wan_gate(bench(WAN_FAST, tool=WAN.name), float8_runs=False).levers == WAN.acceleration["balanced"]


def test_fp8_does_not_run_on_a_cpu_and_says_what_it_needs(monkeypatch):
    from spagent_graph.tool_adapters.acceleration import quantize_blocks

    assert not float8_runs_on("cpu")
    # Offloaded layer by layer, the hooks would run the original weights: no GPU makes that work.
    assert not float8_runs_on("cuda:0", "sequential") and not float8_runs_on("auto", "sequential")
    assert "layer by layer" in wan_gate(None, float8_runs=False).reason
    blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4, dtype=torch.bfloat16) for _ in range(2)])
    with monkeypatch.context() as without_torchao:
        without_torchao.setitem(sys.modules, "torchao.quantization", None)  # as if not installed
        with pytest.raises(ImportError, match=r"spagent-graph\[fp8\]"):
            quantize_blocks(torch.nn.Sequential(blocks))


def tiny_kandinsky5_transformer(folder: Path, dtype: torch.dtype):
    """Kandinsky 5's transformer as `from_pretrained` gives it: in `dtype`, but the modulation inside every
    block in float32 (its `_keep_in_fp32_modules`)."""
    from diffusers import Kandinsky5Transformer3DModel

    if not (folder / "config.json").exists():
        Kandinsky5Transformer3DModel(
            in_visual_dim=16, out_visual_dim=16, in_text_dim=32, in_text_dim2=32, time_dim=32,
            patch_size=(1, 2, 2), model_dim=32, ff_dim=64, num_text_blocks=1, num_visual_blocks=1,
            axes_dims=(4, 6, 6), visual_cond=True, attention_type="regular").save_pretrained(folder)
    return Kandinsky5Transformer3DModel.from_pretrained(folder, torch_dtype=dtype)


def test_fp8_leaves_the_linears_a_model_keeps_in_float32(tmp_path: Path, monkeypatch):
    """torchao's per-row FP8 refuses float32 weights ("PerRow quantization only works for bfloat16 precision
    input weight", Kandinsky 5 on an H100): those stay, the rest of the blocks' linears are quantized. Runs
    where torchao is installed (the `fp8` extra)."""
    from spagent_graph.tool_adapters.acceleration import _repeated_blocks, quantize_blocks

    quant_api = pytest.importorskip("torchao.quantization.quant_api")
    # torchao asks for FP8 tensor cores before it quantizes; which weights it is handed is ours to check.
    monkeypatch.setattr(quant_api, "_check_hardware_support", lambda *args, **kwargs: None)
    model = tiny_kandinsky5_transformer(tmp_path, torch.bfloat16)
    changed = quantize_blocks(model)
    linears = {f"{index}.{name}": module for index, block in enumerate(_repeated_blocks(model))
               for name, module in block.named_modules() if isinstance(module, torch.nn.Linear)}
    kept = {name for name, module in linears.items() if type(module.weight).__name__ != "Float8Tensor"}
    assert kept and all("modulation" in name and linears[name].weight.dtype == torch.float32 for name in kept)
    assert any("attention" in name for name in set(linears) - kept)
    assert changed == sum(module.weight.numel() for name, module in linears.items() if name not in kept)


def test_fp8_says_so_when_the_blocks_hold_no_linear_it_can_take(tmp_path: Path):
    from spagent_graph.tool_adapters.acceleration import _takes_float8, quantize_blocks

    # In bfloat16 every linear of the blocks but the float32 modulation takes FP8 ...
    model = tiny_kandinsky5_transformer(tmp_path, torch.bfloat16)
    taken = {name for name, module in model.named_modules() if _takes_float8(module)}
    assert taken and not any("modulation" in name for name in taken)
    # ... in float16 none does: say so rather than quantize nothing.
    half = tiny_kandinsky5_transformer(tmp_path, torch.float16)
    with pytest.raises(ValueError, match=r"hold none \(their weights are float16, float32\).*bfloat16"):
        quantize_blocks(half)


# The registry ---------------------------------------------------------------------------


def test_families_are_shared_by_entries_and_by_files_that_include_the_library(tmp_path: Path):
    assert LIBRARY.get("cogvideox-i2v").acceleration == COGVIDEOX.acceleration
    assert LIBRARY.get("i2vgen-xl").acceleration == {}  # a family of none
    own = tmp_path / "mine.yaml"
    own.write_text("include: [library]\ntools:\n  my-cogvideox:\n    task: text_to_video\n"
                   "    pipeline: CogVideoXPipeline\n    model: me/cogvideox-finetune\n    acceleration: cogvideox\n")
    assert ToolRegistry.from_yaml(own).get("my-cogvideox").acceleration == COGVIDEOX.acceleration


def test_an_unknown_family_is_named(tmp_path: Path):
    own = tmp_path / "mine.yaml"
    own.write_text("tools:\n  t:\n    task: text_to_video\n    pipeline: CogVideoXPipeline\n    model: a/b\n"
                   "    acceleration: cogvideo\n")
    with pytest.raises(ConfigError, match="names the acceleration family `cogvideo`, which is not among"):
        ToolRegistry.from_yaml(own)


# On a real (tiny) pipeline ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_compile_cache(monkeypatch: pytest.MonkeyPatch):
    """A tool that compiles points PyTorch's compile cache at its cache folder for the whole process: each test
    here starts with the variable unset and leaves it as it found it."""
    monkeypatch.delenv(COMPILE_CACHE_VARIABLE, raising=False)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-acceleration")


def generate(tool, tmp_path: Path, name: str, levers: Levers | None = None) -> list[np.ndarray]:
    request = {"output_path": str(tmp_path / f"{name}.mp4"), "prompt": "a red fox in the snow", "num_frames": 9,
               "height": 64, "width": 96, "fps": 8, "num_inference_steps": 4, "seed": 0}
    config = {"configurable": {"levers": {tool.name: levers}}} if levers is not None else None
    path = tool.invoke(request, config=config)
    return [np.asarray(frame, dtype=np.float32) for frame in read_frames(path)]


def test_exact_is_the_plain_call_and_a_cache_changes_the_output(tiny_cache: Path, tmp_path: Path):
    spec = tiny_spec("cogvideox", tiny_cache).model_copy(update={"defaults": {"num_inference_steps": 4}})
    toolbox = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=tmp_path / "cache")
    tool = toolbox.tool("cogvideox")
    plain = generate(tool, tmp_path, "plain")
    exact = generate(tool, tmp_path, "exact", Levers())
    cached = generate(tool, tmp_path, "cached", Levers(cache=TAYLORSEER))
    assert all(np.array_equal(a, b) for a, b in zip(plain, exact))
    assert any(not np.array_equal(a, b) for a, b in zip(exact, cached))
    # One pipeline object per set of levers: the exact one never runs through the cache's hooks.
    assert toolbox.pool.resident_keys() == ["cogvideox", f"cogvideox@{Levers(cache=TAYLORSEER).key()}"]
    assert generate(tool, tmp_path, "exact-again") and all(
        np.array_equal(a, b) for a, b in zip(plain, generate(tool, tmp_path, "exact-again", Levers())))


def test_compile_levers_compile_the_blocks_or_their_submodules(tiny_cache: Path, tmp_path: Path):
    spec = tiny_spec("cogvideox", tiny_cache)
    tool = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=tmp_path / "cache").tool("cogvideox")
    blocks = tool.pipeline(Levers(compile="blocks")).transformer.transformer_blocks
    assert all(block._compiled_call_impl is not None for block in blocks)
    inner = tool.pipeline(Levers(compile=("norm1", "ff"))).transformer.transformer_blocks
    assert all(block._compiled_call_impl is None and block.norm1._compiled_call_impl is not None
               and block.ff._compiled_call_impl is not None and block.norm2._compiled_call_impl is None
               for block in inner)
    assert all(block._compiled_call_impl is None for block in tool.pipeline().transformer.transformer_blocks)


def test_a_unet_compiles_the_block_classes_its_family_names(tiny_cache: Path, tmp_path: Path):
    tool = Toolbox(ToolRegistry({"svd": tiny_spec("svd", tiny_cache)}), device="cpu",
                   cache_dir=tmp_path / "cache").tool("svd")
    classes = ("TransformerSpatioTemporalModel", "SpatioTemporalResBlock")
    unet = tool.pipeline(Levers(target="unet", compile="blocks", blocks=classes)).unet
    chosen = [m for m in unet.modules() if type(m).__name__ in classes]
    assert chosen and all(m._compiled_call_impl is not None for m in chosen)
    assert all(m._compiled_call_impl is None for m in unet.modules() if type(m).__name__ not in classes)
    with pytest.raises(ValueError, match="has no block of the classes NoSuchBlock"):
        apply_levers(tool.pipeline(), Levers(target="unet", compile="blocks", blocks=("NoSuchBlock",)))
    with pytest.raises(ValueError, match="`blocks` names the blocks to compile, but `compile` is 'whole'"):
        Levers(target="unet", compile="whole", blocks=classes)


def test_a_warm_up_compiles_at_the_usual_size_so_that_the_first_call_does_not(tiny_cache: Path, tmp_path: Path):
    from torch._dynamo.utils import counters

    spec = tiny_spec("cogvideox", tiny_cache).model_copy(update={"usual": UsualSize(frames=9, height=64, width=96)})
    toolbox = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=tmp_path / "cache")
    tool, levers = toolbox.tool("cogvideox"), Levers(compile="blocks")
    graphs = counters["stats"]["unique_graphs"]
    assert tool.warm_up(levers) > 0
    assert counters["stats"]["unique_graphs"] > graphs
    graphs = counters["stats"]["unique_graphs"]
    generate(tool, tmp_path, "first", levers)  # the usual size: nothing left to compile
    assert counters["stats"]["unique_graphs"] == graphs
    assert toolbox.pool.loads == {f"cogvideox@{levers.key()}": 1}


def test_services_warm_the_tools_the_settings_name(tiny_cache: Path, tmp_path: Path, caplog):
    spec = tiny_spec("cogvideox", tiny_cache)
    toolbox = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=tmp_path / "cache")
    context = Context(acceleration="exact", cache_dir=str(tmp_path / "cache"))
    with caplog.at_level("INFO", logger="spagent_graph.services"):
        seconds = Services(toolbox=toolbox).warm_up(["cogvideox", "no-such-tool"], context)
    assert list(seconds) == ["cogvideox"]
    assert "warm-up of no-such-tool failed" in caplog.text and "warm-up of cogvideox:" in caplog.text
    assert toolbox.pool.resident_keys() == ["cogvideox"]  # exact: loaded, nothing to compile


def test_compiled_code_is_kept_in_the_tools_cache_folder(tiny_cache: Path, tmp_path: Path):
    spec = tiny_spec("cogvideox", tiny_cache)
    tool = Toolbox(ToolRegistry({"cogvideox": spec}), device="cpu", cache_dir=tmp_path / "cache").tool("cogvideox")
    tool.pipeline()  # the plain pipeline compiles nothing: the variable stays unset
    assert COMPILE_CACHE_VARIABLE not in os.environ
    tool.pipeline(Levers(compile="blocks"))
    folder = tmp_path / "cache" / "torch-compile"
    assert os.environ[COMPILE_CACHE_VARIABLE] == str(folder.resolve()) and folder.is_dir()


def test_the_compile_cache_folder_is_set_once_and_a_users_own_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    # Importing diffusers writes inductor's default folder into the variable: that one counts as unset.
    monkeypatch.setenv(COMPILE_CACHE_VARIABLE, os.path.abspath(default_cache_dir()))
    assert use_compile_cache(tmp_path / "ours") == (tmp_path / "ours").resolve()
    assert use_compile_cache(tmp_path / "another") == (tmp_path / "ours").resolve()  # the first one stays
    monkeypatch.setenv(COMPILE_CACHE_VARIABLE, str(tmp_path / "users"))
    assert use_compile_cache(tmp_path / "ours") == tmp_path / "users"
    assert os.environ[COMPILE_CACHE_VARIABLE] == str(tmp_path / "users")


def test_the_compile_cache_serves_a_new_compile_of_the_same_code(tmp_path: Path):
    """What a new process finds: inductor's FX graph cache in the folder, hit when the same graph compiles again
    (here in one process, with the in-memory caches cleared; the GPU run is benchmarks/compile_cache_gpu.py)."""
    import torch
    from torch._dynamo.utils import counters

    use_compile_cache(tmp_path / "torch-compile")
    torch._dynamo.reset()
    counters.clear()
    module = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU())
    inputs = torch.randn(4, 8)
    expected = module(inputs)
    compiled = torch.compile(module)
    assert torch.allclose(compiled(inputs), expected, atol=1e-5)
    assert counters["inductor"]["fxgraph_cache_miss"] >= 1
    assert any((tmp_path / "torch-compile").rglob("*")), "nothing was written to the tool's cache folder"
    torch._dynamo.reset()  # a fresh dynamo, as in a new process; the files stay
    counters.clear()
    assert torch.allclose(torch.compile(module)(inputs), expected, atol=1e-5)
    assert counters["inductor"]["fxgraph_cache_hit"] >= 1


# A cache's memory ----------------------------------------------------------------------------


def test_a_cache_that_would_not_fit_the_gpu_is_left_out():
    record = bench(FAST)  # benched and passed: only the memory stands in the way
    chosen = choose_levers("cogvideox", COGVIDEOX.acceleration, "fast", record, min_psnr_db=30, min_ssim=0.9,
                           fits=lambda levers: levers.cache is None)
    assert chosen.levers == COGVIDEOX.acceleration["balanced"] and chosen.profile == "fast"
    assert chosen.reason == "its taylorseer cache would not fit the GPU at this size, so the levers that keep the math"
    fitting = choose_levers("cogvideox", COGVIDEOX.acceleration, "fast", record, min_psnr_db=30, min_ssim=0.9,
                            fits=lambda levers: True)
    assert fitting.levers == FAST and fitting.reason.startswith("benched")
    # Without balanced levers, the fast set keeps what keeps the math (its compiled submodules).
    alone = choose_levers("cogvideox", {"fast": FAST}, "fast", record, min_psnr_db=30, min_ssim=0.9,
                          fits=lambda levers: levers.cache is None)
    assert alone.levers == FAST.keeping_the_math()


def test_the_measured_families_name_their_levers():
    hunyuan = LIBRARY.get("hunyuanvideo-1.5").acceleration
    assert hunyuan == LIBRARY.get("hunyuanvideo-1.5-i2v").acceleration
    assert hunyuan["balanced"] == Levers(compile="blocks")
    fast = hunyuan["fast"]
    assert fast.compile == "blocks" and fast.cache.kind == "taylorseer"
    assert fast.cache.config["skip_predict_identifiers"] == [r"transformer_blocks\.\d+"]
    assert fast.cache.config["cache_identifiers"] == ["proj_out"]
    wan = LIBRARY.get("wan22-5b-t2v").acceleration["fast"]
    assert wan.compile == "blocks" and wan.cache.config["cache_identifiers"] == ["proj_out"]


def test_apply_levers_names_a_missing_target():
    class NoDenoiser:
        pass

    with pytest.raises(ValueError, match="no `unet` to accelerate"):
        apply_levers(NoDenoiser(), Levers(target="unet", compile="whole"))


def test_the_store_keeps_the_latest_bench_per_tool_and_profile(tmp_path: Path):
    store = CapabilityStore(tmp_path / "s.sqlite")
    assert store.fidelity("cogvideox", "fast") is None
    store.record_fidelity(bench(FAST, psnr=28.0))
    store.record_fidelity(bench(FAST, psnr=33.0))
    assert CapabilityStore(tmp_path / "s.sqlite").fidelity("cogvideox", "fast").psnr_db == 33.0


def test_an_attention_backend_is_one_models_and_not_the_processs():
    """diffusers makes a model's backend everyone's default; a levered copy must not change the plain one."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    from tests.tiny_pipelines.wan22 import _wan_transformer

    levered, plain = _wan_transformer(0, 16), _wan_transformer(0, 16)
    default = _AttentionBackendRegistry._active_backend
    set_attention_backend(levered, "_native_math")

    assert _AttentionBackendRegistry._active_backend == default
    backends = {block.attn1.processor._attention_backend for block in levered.blocks}
    assert backends == {AttentionBackendName("_native_math")}
    assert {block.attn1.processor._attention_backend for block in plain.blocks} == {None}


def test_a_set_without_fp8_keeps_the_key_it_had_before_the_lever_existed():
    # Benches in users' stores and the steps of runs to resume are found by this key (CogVideoX's fast row).
    assert FAST.key() == "9d73d51216"  # as spagent-graph computed it before FP8 (e4a6529)
    assert FAST.model_copy(update={"quantize": "float8"}).key() != FAST.key()


def test_only_a_profile_whose_own_set_had_fp8_says_it_runs_without():
    assert "without FP8 weights" in wan_gate(None, float8_runs=False).reason
    balanced = choose_levers(WAN.name, WAN.acceleration, "balanced", None, min_psnr_db=30, min_ssim=0.9)
    assert balanced.reason == "these levers keep the math"
