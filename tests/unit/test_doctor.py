"""`spagent doctor`: weights found in a fake Hugging Face cache, memory estimates against measured peaks,
verdicts on simulated GPUs, and the error a run stops with when weights are missing.

The cache is laid out as huggingface_hub lays out the real one, files living in blobs/ and linked from
snapshots/<commit>/, with tiny pipelines the tests save there; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spagent_graph.apps import doctor
from spagent_graph.apps.doctor import Readiness, format_readiness, readiness
from spagent_graph.errors import ConfigError, MissingWeightsError
from spagent_graph.tool_adapters import memory, weights
from spagent_graph.tool_adapters.gpus import GiB, Gpu, parse_gpu_sizes, visible_gpus
from spagent_graph.tool_adapters.acceleration import Levers
from spagent_graph.tool_adapters.memory import (
    MemoryEstimate,
    cache_bytes,
    estimate_memory,
    fit_on,
    fit_request,
    levers_fit,
    profile_fits,
)
from spagent_graph.tool_adapters.weights import check_weights, require_weights
from spagent_graph.tool_adapters.demo_pipelines import DEMO_PIPELINES, build_demo_pipeline
from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec

LIBRARY = ToolRegistry.from_yaml("library")
RESEARCH = ToolRegistry.from_yaml("research")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SVD_DOWNLOAD = "hf download acme/tiny-svd --include model_index.json --include '*/*'"


# A fake hub cache ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny pipelines saved once for the module: SVD plain and as an fp16 variant, SD-1.5 and a motion adapter."""
    root = tmp_path_factory.mktemp("doctor-builds")
    saved = {name: build_demo_pipeline(name, root / name)
             for name in ("demo-svd", "tiny-sd15", "tiny-animatediff-motion-adapter")}
    fp16 = root / "demo-svd-fp16"
    DEMO_PIPELINES["demo-svd"].builder(0).save_pretrained(fp16, variant="fp16", safe_serialization=True)
    saved["demo-svd-fp16"] = fp16
    return saved


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache, named the way a user names theirs, after huggingface_hub was imported."""
    cache = tmp_path / "hf-cache" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def cache_repo(cache: Path, repo_id: str, build: Path | None) -> Path:
    """Puts `build` into the cache as repo_id's main snapshot: files in blobs/, linked from the snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for source in sorted(p for p in (build.rglob("*") if build else []) if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
        blob.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, blob)
        link = snapshot / source.relative_to(build)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def svd_spec(model: str = "acme/tiny-svd", **changes) -> ToolSpec:
    return ToolSpec(name="svd", task="image_to_video", pipeline="StableVideoDiffusionPipeline", model=model, **changes)


# Weights -------------------------------------------------------------------------------


def test_a_cached_pipeline_is_present(hub: Path, builds):
    snapshot = cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    assert check_weights(svd_spec()) == weights.WeightsCheck(present=True, found=[str(snapshot)], missing=[],
                                                            download=None)


def test_a_repo_not_in_the_cache_is_missing_with_the_command_that_fetches_it(hub: Path):
    check = check_weights(svd_spec())
    assert (check.present, check.missing, check.download) == (False, ["acme/tiny-svd"], SVD_DOWNLOAD)


def test_the_cache_is_found_through_hf_home_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    cache_repo(tmp_path / "home" / "hub", "acme/tiny-svd", builds["demo-svd"])
    assert check_weights(svd_spec()).present


@pytest.mark.parametrize("damage", ["component weights deleted", "blob never arrived", "empty snapshot"])
def test_a_partial_snapshot_is_not_present(hub: Path, builds, damage: str):
    snapshot = cache_repo(hub, "acme/tiny-svd", None if damage == "empty snapshot" else builds["demo-svd"])
    weights = snapshot / "unet" / "diffusion_pytorch_model.safetensors"
    if damage == "component weights deleted":
        weights.unlink()
    elif damage == "blob never arrived":
        weights.resolve().unlink()  # the link stays, dangling, as after an interrupted download
    check = check_weights(svd_spec())
    assert (check.present, check.missing, check.download) == (False, ["acme/tiny-svd"], SVD_DOWNLOAD)
    if damage != "empty snapshot":  # an empty one has no model_index.json: it is not found at all
        assert check.hint == f"{snapshot} lacks unet's weights"


def test_a_missing_shard_makes_a_sharded_component_absent(hub: Path, builds, tmp_path: Path):
    build = tmp_path / "sharded"
    shutil.copytree(builds["demo-svd"], build)
    unet = build / "unet"
    (unet / "diffusion_pytorch_model.safetensors").rename(unet / "diffusion_pytorch_model-00001-of-00002.safetensors")
    (unet / "diffusion_pytorch_model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "diffusion_pytorch_model-00001-of-00002.safetensors",'
        ' "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}'
    )
    cache_repo(hub, "acme/tiny-svd", build)
    assert not check_weights(svd_spec()).present


def test_a_variant_entry_needs_the_variants_weights(hub: Path, builds):
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd-fp16"])
    cache_repo(hub, "acme/plain-svd", builds["demo-svd"])
    assert check_weights(svd_spec(variant="fp16")).present
    # The plain files are what a variant-less entry loads, and an fp16-only snapshot has none.
    assert not check_weights(svd_spec()).present
    plain = check_weights(svd_spec("acme/plain-svd", variant="fp16"))
    assert not plain.present and plain.hint.endswith("lacks any fp16 weights")
    assert plain.download == (
        "hf download acme/plain-svd --include model_index.json --include '*/*.json' --include '*/*.txt' "
        "--include '*/*.model' --include '*/*.fp16*.safetensors'"
    )


def test_a_local_folder_is_present_and_a_missing_one_cannot_be_downloaded(hub: Path, builds, tmp_path: Path):
    folder = builds["demo-svd"]
    assert check_weights(svd_spec(str(folder))) == weights.WeightsCheck(True, [str(folder)], [], None)
    absent = check_weights(svd_spec(str(tmp_path / "weights" / "svd")))
    assert (absent.present, absent.missing, absent.download) == (False, [str(tmp_path / "weights" / "svd")], None)
    assert "neither a folder here nor a hub id" in absent.hint


def test_a_components_own_model_is_checked_too(hub: Path, builds):
    animatediff = LIBRARY.get("animatediff")
    base = cache_repo(hub, "emilianJR/epiCRealism", builds["tiny-sd15"])
    check = check_weights(animatediff)
    assert (check.present, check.found, check.missing) == (
        False, [str(base)], ["guoyww/animatediff-motion-adapter-v1-5-2"])
    assert check.download == "hf download guoyww/animatediff-motion-adapter-v1-5-2"
    adapter = cache_repo(hub, "guoyww/animatediff-motion-adapter-v1-5-2", builds["tiny-animatediff-motion-adapter"])
    assert check_weights(animatediff) == weights.WeightsCheck(True, [str(base), str(adapter)], [], None)


def test_demo_models_are_built_in_code_and_always_present(hub: Path):
    assert check_weights(ToolRegistry.from_yaml("demo").get("demo-svd")).present


def test_research_repositories_are_present_once_cloned(tmp_path: Path):
    template = check_weights(RESEARCH.get("tokenflow"))
    assert (template.present, template.missing, template.download) == (
        False, ["https://github.com/omerbt/TokenFlow"], None)
    assert template.hint == "clone https://github.com/omerbt/TokenFlow and set `repo_dir` of `tokenflow` to the clone"
    cloned = RESEARCH.get("tokenflow").model_copy(update={"repo_dir": str(tmp_path)})
    assert check_weights(cloned) == weights.WeightsCheck(True, [str(tmp_path)], [], None)
    not_a_folder = RESEARCH.get("tokenflow").model_copy(update={"repo_dir": str(tmp_path / "nope")})
    assert not check_weights(not_a_folder).present
    # RAVE's config takes the {checkpoint}: the clone alone is not enough.
    rave = RESEARCH.get("rave").model_copy(update={"repo_dir": str(tmp_path)})
    assert "set `model` of `rave`" in check_weights(rave).hint
    assert check_weights(rave.model_copy(update={"model": str(tmp_path)})).present


def test_gated_models_say_how_to_log_in(hub: Path):
    check = check_weights(LIBRARY.get("flux"))
    assert "black-forest-labs/FLUX.1-dev is gated" in check.hint and "`hf auth login`" in check.hint


def test_the_command_is_the_installed_hub_cli(monkeypatch: pytest.MonkeyPatch, hub: Path):
    assert weights._hub_cli() == "hf"  # huggingface_hub 0.34 and later ship `hf`
    monkeypatch.setattr(weights, "_hub_cli", lambda: "huggingface-cli")
    assert check_weights(svd_spec()).download == (
        "huggingface-cli download acme/tiny-svd --include model_index.json '*/*'")


# Memory ---------------------------------------------------------------------------------


def saved_parameters(folder: Path) -> dict[str, int]:
    """Parameters per component, counted by loading every tensor the pipeline saved."""
    return {path.parent.name: sum(t.numel() for t in load_file(path).values())
            for path in folder.glob("*/*.safetensors")}


def test_estimates_read_parameter_counts_from_the_local_headers(hub: Path, builds):
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    counts = saved_parameters(builds["demo-svd"])
    half = estimate_memory(svd_spec(torch_dtype="float16"), frames=8, height=64, width=64)
    assert half.weights_bytes == 2 * sum(counts.values())
    assert half.basis == "parameter counts from the local weights' safetensors headers"
    mixed = estimate_memory(svd_spec(torch_dtype={"default": "bfloat16", "vae": "float32"}),
                            frames=8, height=64, width=64)
    assert mixed.weights_bytes == 2 * sum(counts.values()) + 2 * counts["vae"]
    # The same counts as the built modules hold, so nothing was missed in the files.
    built = DEMO_PIPELINES["demo-svd"].builder(0)
    assert counts == {name: sum(p.numel() for p in built.components[name].parameters()) for name in counts}


def test_without_weights_the_registrys_counts_are_used(hub: Path):
    estimate = estimate_memory(LIBRARY.get("svd"), frames=14, height=576, width=1024)
    assert estimate.weights_bytes == int(2 * sum(LIBRARY.get("svd").parameters.values()))
    assert estimate.basis == "the registry's parameter counts (weights not present)"
    assert estimate_memory(RESEARCH.get("tokenflow"), frames=16, height=512, width=512) is None
    assert estimate_memory(ToolRegistry.from_yaml("demo").get("demo-svd"), frames=8, height=64, width=64) is None


# The models of benchmarks/tools_gpu.py, with their components' parameter counts as built there (parameters
# and buffers, as allocated on the GPU; they sum to the table's 6.53B, 2.25B and 6.7B).
M = 1e6
BENCHMARK_BUILDS = {
    "sd3": dict(task="text_to_image", pipeline="StableDiffusion3Pipeline", size_multiple=16,
                parameters={"transformer": 866.78 * M, "text_encoder": 123.65 * M, "text_encoder_2": 694.66 * M,
                            "text_encoder_3": 4762.31 * M, "vae": 83.82 * M}),
    "svd": dict(task="image_to_video", pipeline="StableVideoDiffusionPipeline", size_multiple=8, frames={"max": 25},
                call={"decode_chunk_size": 8},
                parameters={"unet": 1524.62 * M, "image_encoder": 632.08 * M, "vae": 97.74 * M}),
    "cogvideox": dict(task="text_to_video", pipeline="CogVideoXPipeline", size_multiple=16,
                      frames={"offset": 1, "step": 8, "max": 49},
                      parameters={"transformer": 1727.91 * M, "text_encoder": 4762.31 * M, "vae": 215.58 * M}),
    # Measured only in the H200 probe: Wan 2.1 1.3B with its float32 VAE, and LTX-Video 0.9.
    "wan": dict(task="text_to_video", pipeline="WanPipeline", size_multiple=16, frames={"offset": 1, "step": 4},
                torch_dtype={"default": "bfloat16", "vae": "float32"},
                parameters={"transformer": 1419.26 * M, "text_encoder": 5680.91 * M, "vae": 126.89 * M}),
    "ltx": dict(task="text_to_video", pipeline="LTXPipeline", size_multiple=32, frames={"offset": 1, "step": 8},
                parameters={"transformer": 1923.39 * M, "text_encoder": 4762.31 * M, "vae": 419.19 * M}),
}


def benchmark_spec(name: str, tiled: bool = False, **changes) -> ToolSpec:
    build = {"torch_dtype": "bfloat16", **BENCHMARK_BUILDS[name], **changes}
    return ToolSpec(name=name, model="/nowhere/weights", memory={"vae_tiling": tiled}, **build)


@pytest.mark.parametrize(
    "name, frames, height, width, measured_gib",
    [  # benchmarks/results/tools_gpu_h100.md: everything on the GPU, bf16, no VAE tiling
        ("sd3", 1, 1024, 1024, 14.6),
        ("svd", 14, 576, 1024, 13.3),
        ("cogvideox", 49, 480, 720, 27.5),
    ],
)
def test_estimates_match_the_measured_peaks(name: str, frames: int, height: int, width: int, measured_gib: float):
    estimate = estimate_memory(benchmark_spec(name), frames=frames, height=height, width=width)
    assert estimate.peak_bytes / GiB == pytest.approx(measured_gib, rel=0.15)


@pytest.mark.parametrize(
    "name, frames, height, width, changes, measured_gib",
    [  # peaks measured per stage on an H200 (torch 2.11, diffusers 0.42; see the module docstring of tool_adapters/memory.py)
        ("sd3", 1, 1024, 1024, {}, 14.61),
        ("sd3", 1, 512, 512, {}, 12.83),
        ("svd", 14, 576, 1024, {}, 15.00),
        ("svd", 25, 576, 1024, {}, 15.07),
        ("svd", 14, 576, 1024, {"call": {"decode_chunk_size": 2}}, 8.66),
        ("svd", 14, 320, 512, {}, 7.27),
        ("cogvideox", 49, 480, 720, {}, 27.29),
        ("cogvideox", 49, 480, 720, {"tiled": True}, 16.32),
        ("cogvideox", 25, 480, 720, {}, 27.28),
        ("cogvideox", 49, 320, 480, {}, 19.11),
        ("wan", 81, 480, 832, {}, 22.57),
        ("wan", 33, 480, 832, {}, 22.32),
        ("ltx", 121, 480, 704, {}, 17.13),
        ("ltx", 41, 480, 704, {}, 14.61),
    ],
)
def test_estimates_follow_other_sizes_and_models(name, frames, height, width, changes, measured_gib):
    estimate = estimate_memory(benchmark_spec(name, **changes), frames=frames, height=height, width=width)
    assert estimate.peak_bytes / GiB == pytest.approx(measured_gib, rel=0.15)


@pytest.mark.parametrize(
    "name, frames, height, width, model_gib, sequential_gib",
    [  # the H200 probe, with enable_model_cpu_offload / enable_sequential_cpu_offload and no VAE tiling
        ("sd3", 1, 1024, 1024, 10.21, 2.44),
        ("svd", 14, 576, 1024, 10.93, 10.75),
        ("cogvideox", 49, 480, 720, 15.21, 14.87),
        ("wan", 81, 480, 832, 10.89, None),
    ],
)
def test_offload_estimates_match_the_measured_peaks(name, frames, height, width, model_gib, sequential_gib):
    spec = benchmark_spec(name, low_memory={"cpu_offload": "model", "vae_tiling": False})
    estimate = estimate_memory(spec, frames=frames, height=height, width=width)
    assert estimate.model_offload_peak_bytes / GiB == pytest.approx(model_gib, rel=0.15)
    if sequential_gib is not None:
        assert estimate.sequential_offload_peak_bytes / GiB == pytest.approx(sequential_gib, rel=0.15)


@pytest.mark.parametrize(
    "name, offload, measured_gib",
    [  # benchmarks/results/library_gpu_h200.md: each entry's usual size, bf16 (its VAE as the entry says)
        ("wan22-5b-t2v", False, 43.75), ("wan22-a14b-t2v", False, 84.93), ("wan22-a14b-t2v", True, 34.91),
        ("skyreels-v2-t2v", False, 49.47), ("skyreels-v2-df", False, 25.41), ("sana-video", False, 18.13),
        ("ltx-2", False, 69.56), ("kandinsky5-t2v", False, 24.44), ("kandinsky5-i2v", False, 61.45),
        ("hunyuanvideo-1.5", False, 45.30), ("hunyuanvideo-1.5-i2v", False, 46.10),
        ("skyreels-v2-i2v", False, 54.61), ("wan22-a14b-i2v", False, 84.98),
    ],
)
def test_estimates_match_the_library_entries_measured_at_their_usual_size(name, offload, measured_gib):
    spec = LIBRARY.get(name)
    estimate = estimate_memory(spec, frames=spec.usual.frames, height=spec.usual.height, width=spec.usual.width)
    peak = estimate.model_offload_peak_bytes if offload else estimate.peak_bytes
    assert peak / GiB == pytest.approx(measured_gib, rel=0.10)


def test_estimates_are_made_at_the_size_the_tool_runs(hub: Path):
    cogvideox_i2v = LIBRARY.get("cogvideox-i2v")  # runs at 720x480 only, 8k+1 frames up to 49
    asked = estimate_memory(cogvideox_i2v, frames=100, height=1080, width=1920)
    assert asked == estimate_memory(cogvideox_i2v, frames=49, height=480, width=720)
    assert fit_request(cogvideox_i2v, frames=100, height=1080, width=1920) == memory.FittedSize(49, 480, 720)


@pytest.mark.parametrize("frames, height, width", [(49, 480, 720), (100, 2160, 3840), (3, 90, 100)])
def test_fit_request_is_the_tools_own_fitting(frames: int, height: int, width: int):
    from spagent_graph.tool_adapters.diffusers_adapter import DiffusersTool
    from spagent_graph.principles import output_kind

    for spec in LIBRARY:
        fitted = DiffusersTool(spec).fit({"output_path": "out", "num_frames": frames, "height": height,
                                          "width": width}).args
        expected = memory.FittedSize(fitted.num_frames if output_kind(spec.task) == "video" else 1,
                                     fitted.height, fitted.width)
        assert fit_request(spec, frames=frames, height=height, width=width) == expected, spec.name


def test_the_decode_chunk_defaults_are_the_pipelines_own():
    import diffusers

    for spec in LIBRARY:
        parameter = inspect.signature(getattr(diffusers, spec.pipeline).__call__).parameters.get("decode_chunk_size")
        default = parameter.default if parameter is not None else None
        assert memory.DECODE_CHUNK_DEFAULTS.get(spec.pipeline) == default, spec.pipeline


# GPUs and verdicts ------------------------------------------------------------------------


def test_gpu_sizes_are_parsed_in_binary_and_decimal_units():
    assert [gpu.total_bytes for gpu in parse_gpu_sizes("24,80")] == [24 * GiB, 80 * GiB]
    assert [gpu.total_bytes for gpu in parse_gpu_sizes("24GiB, 80GB,512MiB")] == [24 * GiB, 80 * 10**9, 512 * 2**20]
    assert [gpu.name for gpu in parse_gpu_sizes("8,80GB")] == ["simulated 8 GiB", "simulated 80 GB"]
    assert all(gpu.index is None for gpu in parse_gpu_sizes("8"))
    for bad, part in [("24,eighty", "'eighty'"), ("24,-8", "'-8'"), ("", "''"), ("24 GiB 80", "'24 GiB 80'"),
                      ("0", "'0'"), ("24XB", "'24XB'")]:
        with pytest.raises(ValueError, match=f"GPU size {part}"):
            parse_gpu_sizes(bad)


def test_visible_gpus_come_from_torch(monkeypatch: pytest.MonkeyPatch):
    if not torch.cuda.is_available():
        assert visible_gpus() == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Card {i}")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(total_memory=(i + 1) * GiB))
    assert visible_gpus() == [Gpu("Card 0", GiB, 0), Gpu("Card 1", 2 * GiB, 1)]


def test_a_large_model_fits_by_the_gpus_size(hub: Path):
    wan_i2v = LIBRARY.get("wan-i2v")  # 23B parameters: about 53 GiB at once, 35 with model offload, 5 sequential
    estimate = estimate_memory(wan_i2v, frames=81, height=480, width=832)
    verdicts = [fit_on(estimate, gpu).verdict for gpu in parse_gpu_sizes("80,40,24,4")]
    assert verdicts == ["fits", "fits with model offload", "fits with sequential offload", "does not fit"]


def test_a_gpu_is_filled_to_ninety_percent():
    gpu = Gpu("simulated 10 GiB", 10 * GiB)
    need = int(0.9 * 10 * GiB)
    estimate = MemoryEstimate(need, 0, need, need + 1, need + 1, "test")
    assert fit_on(estimate, gpu).verdict == "fits"
    assert fit_on(MemoryEstimate(need, 0, need + 1, need, need, "test"), gpu).verdict == "fits with model offload"
    assert fit_on(MemoryEstimate(need, 0, need + 1, need + 1, need + 1, "test"), gpu).verdict == "does not fit"


def test_ready_needs_weights_and_a_gpu_it_fits(hub: Path, builds):
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    present, absent = svd_spec(parameters=2e9), svd_spec("acme/absent", parameters=2e9)
    rows = readiness([present, absent], frames=14, height=576, width=1024, gpus=parse_gpu_sizes("80"))
    assert [row.ready for row in rows] == [True, False]
    assert not readiness([present], frames=14, height=576, width=1024, gpus=parse_gpu_sizes("0.001"))[0].ready
    assert readiness([present], frames=14, height=576, width=1024, gpus=[])[0].ready


# Before a run and on the terminal ----------------------------------------------------------


def test_require_weights_names_every_tool_without_weights(hub: Path, builds, tmp_path: Path):
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    unset_template = RESEARCH.get("tokenflow")  # never selected while repo_dir is unset
    missing_clone = RESEARCH.get("vidtome").model_copy(update={"repo_dir": str(tmp_path / "VidToMe")})
    specs = [svd_spec(), LIBRARY.get("animatediff"), LIBRARY.get("svd"), unset_template, missing_clone]
    with pytest.raises(MissingWeightsError) as raised:
        require_weights(specs)
    assert isinstance(raised.value, ConfigError)
    assert str(raised.value).splitlines() == [
        "the weights of 3 tools this run would use are not on this machine (nothing was generated):",
        "animatediff (text_to_video): emilianJR/epiCRealism, guoyww/animatediff-motion-adapter-v1-5-2 — "
        "hf download emilianJR/epiCRealism --include model_index.json --include '*/*' && "
        "hf download guoyww/animatediff-motion-adapter-v1-5-2",
        "svd (image_to_video): stabilityai/stable-video-diffusion-img2vid-xt — "
        "hf download stabilityai/stable-video-diffusion-img2vid-xt --include model_index.json "
        "--include '*/*.json' --include '*/*.txt' --include '*/*.model' --include '*/*.fp16*.safetensors'",
        f"vidtome (video_to_video): {tmp_path / 'VidToMe'} — `repo_dir` of `vidtome` is not a folder: "
        "clone https://github.com/lixirui142/VidToMe there",
    ]
    assert set(raised.value.missing) == {"animatediff", "svd", "vidtome"}
    require_weights([svd_spec(), unset_template])  # nothing missing: no error


def test_format_readiness_shows_sizes_memory_verdicts_and_commands(hub: Path, builds):
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    gpus = parse_gpu_sizes("8,24,80")
    specs = [svd_spec(parameters=2e9), LIBRARY.get("wan-i2v"), LIBRARY.get("svd"), RESEARCH.get("rave")]
    rows = readiness(specs, frames=81, height=480, width=832, gpus=gpus)
    text = format_readiness(rows, gpus)
    lines = text.splitlines()
    assert lines[0].split()[:8] == ["tool", "task", "weights", "size", "(frames", "x", "WxH)", "weights"]
    assert "GPU simulated 8 GiB" in lines[0] and "GPU simulated 80 GiB" in lines[0]
    wan = next(line for line in lines if line.startswith("wan-i2v"))
    estimate = rows[1].memory
    assert wan.split()[:7] == ["wan-i2v", "image_to_video", "missing", "81", "x", "832x480",
                               f"{estimate.weights_bytes / GiB:.1f}"]
    assert f"{estimate.peak_bytes / GiB:.1f}" in wan and wan.endswith("fits")
    assert next(line for line in lines if line.startswith("svd ")).split()[2] == "present"
    assert "rave" in text and "clone https://github.com/rehg-lab/RAVE" in text
    assert f"  wan-i2v: {rows[1].weights.download}" in lines
    assert f"  svd: {rows[2].weights.download}" in lines
    assert "No CUDA GPU is visible here" in format_readiness(rows, [])


def test_readiness_rows_carry_the_fitted_size(hub: Path):
    row: Readiness = readiness([LIBRARY.get("latte")], frames=81, height=480, width=832, gpus=[])[0]
    assert str(row.size) == "16 x 512x288"


def test_a_truncated_weights_file_is_named(hub: Path, builds, tmp_path: Path):
    build = tmp_path / "truncated"
    shutil.copytree(builds["demo-svd"], build)
    (build / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x01\x02")
    cache_repo(hub, "acme/tiny-svd", build)
    with pytest.raises(ConfigError, match=r"diffusion_pytorch_model.safetensors is not a readable safetensors file"):
        estimate_memory(svd_spec(), frames=8, height=64, width=64)


# The commands ----------------------------------------------------------------------------


def test_spagent_doctor_on_a_fake_cache_and_simulated_gpus(hub: Path, builds, tmp_path: Path, capsys, monkeypatch):
    from spagent_graph.apps.cli import main

    monkeypatch.chdir(tmp_path)
    cache_repo(hub, "acme/tiny-svd", builds["demo-svd"])
    registry = tmp_path / "tools.yaml"
    registry.write_text(
        "tools:\n"
        "  here:\n    task: image_to_video\n    pipeline: StableVideoDiffusionPipeline\n    model: acme/tiny-svd\n"
        "  big:\n    task: image_to_video\n    pipeline: StableVideoDiffusionPipeline\n    model: acme/not-here\n"
        "    parameters: 30.0e9\n    torch_dtype: bfloat16\n")
    assert main(["doctor", "--registry", str(registry), "--gpu-memory", "8,80", "--frames", "14"]) == 1
    printed = capsys.readouterr().out
    here = next(line for line in printed.splitlines() if line.startswith("here "))
    big = next(line for line in printed.splitlines() if line.startswith("big "))
    assert "present" in here and "14 x 512x320" in here and here.split()[-2:] == ["fits", "fits"]
    assert "missing" in big and big.split()[-3:] == ["sequential", "offload", "fits"]
    assert "GPU simulated 8 GiB" in printed and "GPU simulated 80 GiB" in printed
    assert "big: hf download acme/not-here --include model_index.json --include '*/*'" in printed
    assert main(["tools", "--registry", str(registry)]) == 0
    listed = capsys.readouterr().out
    assert next(line for line in listed.splitlines() if line.startswith("big ")).split()[-2] == "no"


def test_spagent_doctor_refuses_a_gpu_size_it_cannot_read(capsys):
    from spagent_graph.apps.cli import main

    assert main(["doctor", "--registry", "demo", "--gpu-memory", "lots"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --gpu-memory:") and "lots" in error and len(error.splitlines()) == 1


def test_a_run_whose_tools_lack_weights_stops_before_generating(hub: Path, tmp_path: Path, capsys, monkeypatch):
    from spagent_graph.apps.cli import main

    monkeypatch.chdir(tmp_path)
    artifacts = tmp_path / "runs"
    assert main(["run", "--registry", "paper", "--no-progress", "--artifacts-dir", str(artifacts)]) == 2
    error = capsys.readouterr().err.splitlines()
    assert error[0] == "error: the weights of 3 tools this run would use are not on this machine (nothing was generated):"
    assert [line.split()[0] for line in error[1:]] == ["cogvideox", "sd3", "svd"]
    assert all(" — hf download " in line for line in error[1:])
    assert not list(artifacts.rglob("*.mp4")) and not list(artifacts.rglob("*.png"))


def test_the_docs_table_of_the_library_is_current():
    readme = (Path(__file__).parents[2] / "docs" / "library.md").read_text()
    shown = readme.split("<!-- library table -->\n", 1)[1].split("<!-- end of library table -->", 1)[0]
    assert shown == doctor.library_table(LIBRARY), "run `python -m spagent_graph.apps.doctor` and paste its table"


# Acceleration profiles: a cache's extra memory ------------------------------------------------------------


def attn1_taylorseer(blocks: str) -> Levers:
    """TaylorSeer on each block's self-attention, as the wan and ltx-2 fast rows were before the lite layout."""
    return Levers.model_validate({"cache": {"kind": "taylorseer", "config": {
        "cache_interval": 5, "disable_cache_before_step": 3, "max_order": 1,
        "cache_identifiers": [rf"{blocks}\.\d+\.attn1"], "taylor_factors_dtype": "bfloat16"}}})


@pytest.mark.parametrize(
    "name, levers, frames, measured_gib",
    [  # one deployment's peak with the levers pulled, decode included, random weights at real size on a GPU
        # benchmarks/results/levers_gpu_wan22_ltx2_h200.md (complete calls, H200)
        ("wan22-5b-t2v", attn1_taylorseer("blocks"), None, 62.4),
        ("ltx-2", attn1_taylorseer("transformer_blocks"), None, 87.4),
        ("ltx-2", LIBRARY.get("ltx-2").acceleration["fast"].model_copy(update={"quantize": None}), None,
         69.4),
        # benchmarks/results/levers_gpu_ltx2_kandinsky5_fp8_h100.md (whole calls, H100): the fast row, its
        # transformer quantized in place
        ("ltx-2", "fast", None, 52.1),
        # benchmarks/results/two_candidates_wan22_h200.md: the request's Wan calls with TaylorSeer lite and the
        # blocks compiled peaked 0.3 GiB above the plain call's (21.3 against 21.0 GiB above what was resident),
        # whose peak alone is 43.7 GiB
        ("wan22-5b-t2v", LIBRARY.get("wan22-5b-t2v").acceleration["fast"].model_copy(update={"quantize": None}),
         None, 44.0),
        # benchmarks/results/levers_gpu_wan22_fp8_h100.md: the fast row (FP8 beside that set) peaked at 43.7 GiB
        # with the bf16 weights counted; the FP8 copy holds 4,907,335,680 parameters of its blocks' linears
        # (counted on the real config) in one byte instead of two
        ("wan22-5b-t2v", "fast", None, 43.7 - 4_907_335_680 / GiB),
        # benchmarks/results/levers_gpu_hunyuanvideo15_h100.md: complete calls at 33 frames (H100); the fast
        # row (FP8 beside TaylorSeer lite and the compiled blocks) 27.52 GiB, the set without FP8 35.24
        ("hunyuanvideo-1.5", "fast", 33, 27.52),
        ("hunyuanvideo-1.5", LIBRARY.get("hunyuanvideo-1.5").acceleration["fast"].model_copy(
            update={"quantize": None}), 33, 35.24),
        ("hunyuanvideo-1.5", "balanced", 33, 35.24),
        # benchmarks/results/levers_gpu_skyreels_sana_kandinsky_h200.md: a complete call with the blocks
        # compiled peaked where the plain one did (18.0 GiB, H200)
        ("sana-video", "balanced", None, 18.0),
        # benchmarks/results/levers_gpu_kandinsky5_h100.md: the complete plain call peaked at 24.3 GiB (H100);
        # the compiled blocks' steps peaked 0.9 GiB under the plain steps'
        ("kandinsky5-t2v", "balanced", None, 24.3),
        # levers_gpu_ltx2_kandinsky5_fp8_h100.md: complete calls of the fast row (FP8, compiled blocks), H100,
        # their peaks as corrected there (FP8 leaves the float32 modulations as they are)
        ("kandinsky5-t2v", "fast", None, 22.7),
        ("kandinsky5-t2v", "fast", 61, 22.5),
    ],
)
def test_each_profiles_estimate_is_within_ten_percent_of_its_measured_peak(name, levers, frames, measured_gib):
    spec = LIBRARY.get(name)
    chosen = spec.acceleration[levers] if isinstance(levers, str) else levers
    usual = spec.usual
    estimate = estimate_memory(spec, frames=frames or usual.frames, height=usual.height, width=usual.width,
                               levers=chosen)
    assert estimate.peak_bytes / GiB == pytest.approx(measured_gib, rel=0.10)
    plain = estimate_memory(spec, frames=frames or usual.frames, height=usual.height, width=usual.width)
    assert estimate.peak_bytes == plain.peak_bytes + estimate.cache_bytes - estimate.float8_saved_bytes
    assert (estimate.float8_saved_bytes > 0) == (chosen.quantize is not None)


@pytest.mark.parametrize(("profile", "measured_gib"), [(None, 37.7), ("balanced", 37.7), ("fast", 24.5)])
def test_the_two_expert_models_offload_estimate_is_within_ten_percent_of_its_measured_peak(profile,
                                                                                         measured_gib):
    # Wan 2.2 T2V A14B with model offload on an H100, 81 x 1280x720, the steps' peak (one expert on the GPU):
    # 37.7 GiB plain and balanced (benchmarks/results/levers_gpu_wan22_a14b_h100.md), 24.5 GiB for the fast
    # row, whose FP8 blocks come onto the GPU at half their bytes (levers_gpu_wan22_a14b_fp8_offload_h100.md)
    spec = LIBRARY.get("wan22-a14b-t2v")
    usual = spec.usual
    estimate = estimate_memory(spec, frames=usual.frames, height=usual.height, width=usual.width,
                               levers=spec.acceleration[profile] if profile else None)
    assert estimate.model_offload_peak_bytes / GiB == pytest.approx(measured_gib, rel=0.10)


def test_a_taylorseer_cache_keeps_two_factors_of_each_hooked_output_per_guidance_branch():
    # CogVideoX-2B's fast row at 49 x 720x480: the request's peaks were 70.0 GiB with it against 62.4 without
    # (benchmarks/results/two_candidates_h200.md): 7.6 GiB for 30 blocks x 2 factors x a batch of 2 x 17,776 tokens
    # (the video's 17,550 and the 226 of the text its joint attention returns too) x 1,920 channels in bf16.
    spec = LIBRARY.get("cogvideox")
    size = fit_request(spec, frames=49, height=480, width=720)
    assert cache_bytes(spec, spec.acceleration["fast"], size) / GiB == pytest.approx(7.6, rel=0.10)
    assert cache_bytes(spec, spec.acceleration["fast"], size) == 30 * 2 * 2 * (13 * 30 * 45 + 226) * 1920 * 2
    # The lite layout keeps only the output projection's few channels; compiling keeps nothing.
    wan = LIBRARY.get("wan22-5b-t2v")
    usual = fit_request(wan, frames=121, height=704, width=1280)
    assert cache_bytes(wan, wan.acceleration["fast"], usual) == 0
    assert cache_bytes(wan, wan.acceleration["balanced"], usual) == 0
    assert cache_bytes(wan, attn1_taylorseer("blocks"), usual) == 30 * 2 * 2 * 31 * 22 * 40 * 3072 * 2
    # A model whose denoiser's shape is unknown adds nothing it cannot tell.
    assert cache_bytes(LIBRARY.get("sd3"), attn1_taylorseer("transformer_blocks"), usual) == 0


def test_other_caches_are_counted_from_the_same_shapes():
    spec = LIBRARY.get("cogvideox")
    size = fit_request(spec, frames=49, height=480, width=720)
    one = 2 * (13 * 30 * 45 + 226) * 1920 * 2  # one block output, both branches, bf16
    kinds = {kind: cache_bytes(spec, Levers.model_validate({"cache": {"kind": kind}}), size)
             for kind in ("faster_cache", "pyramid_attention_broadcast", "first_block_cache", "mag_cache")}
    assert kinds == {"faster_cache": 2 * 30 * one, "pyramid_attention_broadcast": 30 * one,
                     "first_block_cache": 2 * one, "mag_cache": 2 * one}


def test_a_profile_whose_cache_would_not_fit_a_gpu_is_not_chosen_there():
    # Wan 2.2 TI2V-5B at 121 x 1280x704: 42.3 GiB plainly, 61.1 with TaylorSeer on each block's attn1.
    spec = LIBRARY.get("wan22-5b-t2v")
    heavy = spec.model_copy(update={"acceleration": {**spec.acceleration, "fast": attn1_taylorseer("blocks")}})
    size = dict(frames=121, height=704, width=1280)
    gpus = parse_gpu_sizes("56,80")  # 50.4 and 72 GiB usable
    assert [profile_fits(heavy, "fast", gpu, **size) for gpu in gpus] == [False, True]
    assert [profile_fits(heavy, "balanced", gpu, **size) for gpu in gpus] == [True, True]
    assert profile_fits(spec, "fast", gpus[0], **size)  # the registry's lite layout costs no memory
    chosen = choose_under(heavy, gpus[0], size)
    assert chosen.levers == spec.acceleration["balanced"] and "would not fit the GPU" in chosen.reason
    assert choose_under(heavy, gpus[1], size).levers == heavy.acceleration["fast"]

    rows = readiness([heavy, spec], gpus=gpus, **size)
    assert rows[0].profiles["fast"].cache_bytes / GiB == pytest.approx(18.7, abs=0.1)
    assert not rows[0].cache_fits("fast", gpus[0]) and rows[0].cache_fits("fast", gpus[1])
    text = format_readiness(rows, gpus)
    lines = text.splitlines()
    assert "fast GiB" in lines[0]
    first = next(line for line in lines if line.startswith("wan22-5b-t2v"))
    assert f"{rows[0].memory.peak_bytes / GiB:.1f}" in first and "61.1" in first and first.endswith("fits")
    assert ("  wan22-5b-t2v on GPU simulated 56 GiB: fast's cache (+18.7 GiB, 61.1 GiB in all) would not fit; "
            "fast runs there without it") in lines
    assert not any("on GPU simulated 80 GiB" in line for line in lines)


def choose_under(spec: ToolSpec, gpu: Gpu, size: dict):
    from spagent_graph.capability_store import FidelityRecord
    from spagent_graph.tool_adapters.acceleration import choose_levers

    fast = spec.acceleration["fast"]
    record = FidelityRecord(tool=spec.name, profile="fast", levers=fast.key(), speedup=1.4, psnr_db=36.0,
                            ssim=0.98, probes=3, measured_at="2026-12-05T00:00:00+00:00")
    return choose_levers(spec.name, spec.acceleration, "fast", record, min_psnr_db=30, min_ssim=0.9,
                         fits=lambda levers: levers_fit(spec, levers, gpu, **size))


def test_a_run_leaves_out_a_cache_its_gpu_has_no_room_for(monkeypatch, tmp_path: Path):
    # What execute_route asks for: the levers of a tool at the request's size on the GPU `device` names.
    from spagent_graph.capability_store import CapabilityStore, FidelityRecord
    from spagent_graph.context import Context
    from spagent_graph.services import Services
    from spagent_graph.tool_adapters import gpus as gpu_module
    from spagent_graph.tool_adapters.toolbox import Toolbox

    spec = LIBRARY.get("wan22-5b-t2v")
    heavy = spec.model_copy(update={"acceleration": {**spec.acceleration, "fast": attn1_taylorseer("blocks")}})
    store = CapabilityStore(tmp_path / "store.sqlite")
    store.record_fidelity(FidelityRecord(tool=heavy.name, profile="fast", levers=heavy.acceleration["fast"].key(),
                                         speedup=1.4, psnr_db=36.0, ssim=0.98, probes=3,
                                         measured_at="2026-12-05T00:00:00+00:00"))
    services = Services(toolbox=Toolbox(ToolRegistry({heavy.name: heavy}), device="cpu", cache_dir=tmp_path),
                        store=store)
    context = Context(acceleration="fast", device="cuda:1", cache_dir=str(tmp_path))
    usual = (121, 704, 1280)
    gib56, gib80 = (Gpu(name=f"simulated {size} GiB", total_bytes=size * GiB) for size in (56, 80))

    def cards(*sizes: Gpu) -> None:
        monkeypatch.setattr(gpu_module, "visible_gpus",
                            lambda: [Gpu(card.name, card.total_bytes, index) for index, card in enumerate(sizes)])

    cards(gib56, gib80)  # cuda:1 has 72 GiB usable: the cache's 61.1 GiB in all fit
    assert services.acceleration(heavy, context, usual).levers == heavy.acceleration["fast"]
    cards(gib80, gib56)  # 50.4 GiB usable: not
    chosen = services.acceleration(heavy, context, usual)
    assert chosen.levers == heavy.acceleration["balanced"] and "would not fit the GPU" in chosen.reason
    auto = context.model_copy(update={"device": "auto"})  # auto: the largest card
    assert services.acceleration(heavy, auto, usual).levers == heavy.acceleration["fast"]
    # Without a size, or on the CPU, nothing is known to fit or not: the bench alone decides.
    assert services.acceleration(heavy, context).levers == heavy.acceleration["fast"]
    on_cpu = Context(acceleration="fast", device="cpu", cache_dir=str(tmp_path))
    assert services.acceleration(heavy, on_cpu, usual).levers == heavy.acceleration["fast"]
