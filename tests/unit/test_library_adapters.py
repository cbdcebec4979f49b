"""Every entry of the tool library, run through the real tool with a tiny stand-in for its weights.

Each `registries/library.yaml` entry keeps everything it declares -- pipeline class, call style, call
arguments, frame rule, size multiple, largest side, memory options -- except that `model` (and each
component's `model`) points at the tiny random-weight build that mirrors that checkpoint's structure
(`tests/tiny_pipelines`), the dtype is float32 and it runs 2 steps on the CPU.  The request goes
through `Toolbox(...).tool(name).invoke(...)`, so the fitting to the entry's rules, the call style, the
loading with `from_pretrained` and the writing of the artifact are the ones a real run uses; the written
file must have the fitted frame count and size (and 8 fps for video).

The requests are chosen so that fitting changes something for most entries (8 frames for an 8k+1 model,
sides that are not a multiple of the entry's `size_multiple`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from spagent_graph.media import inspect_media, read_frames
from spagent_graph.principles import output_kind
from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
from spagent_graph.tool_adapters.registry import ToolRegistry, ToolSpec
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.tiny_pipelines import TINY_PIPELINES, tiny_pipeline_for

LIBRARY = ToolRegistry.from_yaml("library")
FPS = 8
PROMPT = "a red fox running through snow"

#: What each entry is asked for, and why.  Sizes stay small (the tiny models' position tables: SD3 128 px,
#: CogVideoX-5b-I2V's learned table exactly 64x96) and every one is fitted by the entry's own rules.
REQUESTS: dict[str, dict[str, int]] = {
    "animatediff": dict(num_frames=12, height=64, width=100),  # width 100 -> 96 (multiple of 8)
    "latte": dict(num_frames=8, height=64, width=72),  # exactly 16 frames; 72 -> 64 (multiple of 16)
    "cogvideox": dict(num_frames=8, height=70, width=100),  # 8 -> 9 (8k+1); 70x100 -> 64x96
    "ltx-video": dict(num_frames=10, height=70, width=100),  # 10 -> 17 (8k+1); 70x100 -> 64x96 (of 32)
    "wan-t2v": dict(num_frames=8, height=64, width=100),  # 8 -> 9 (4k+1); 100 -> 96
    "svd": dict(num_frames=6, height=70, width=130),  # any count; 70x130 -> 64x128 (multiple of 64)
    "i2vgen-xl": dict(num_frames=6, height=64, width=70),  # 70 -> 64 (multiple of 64)
    "cogvideox-i2v": dict(num_frames=8, height=70, width=100),  # 8 -> 9; any size -> the fixed 96x64
    "ltx-video-i2v": dict(num_frames=9, height=64, width=96),  # already valid: nothing to fit
    "wan-i2v": dict(num_frames=6, height=64, width=96),  # 6 -> 9
    "animatediff-v2v": dict(num_frames=8, height=64, width=64),  # the input video as it is
    "cogvideox-v2v": dict(num_frames=12, height=64, width=100),  # 12 -> 17; input resampled 8 -> 17 frames
    "wan-v2v": dict(num_frames=8, height=64, width=96),  # 8 -> 9: off-rule input would lose frames
    "sd3": dict(height=70, width=90),  # -> 64x80 (multiple of 16)
    "flux": dict(height=64, width=100),  # -> 64x96 (multiple of 16)
    "sd3-img2img": dict(height=64, width=64),
    "instruct-pix2pix": dict(height=70, width=90),  # -> 64x88; the output takes the fitted input's size
    "ledits-pp": dict(height=70, width=100),  # -> 64x96 (multiple of 32)
    # Wan 2.2 and VACE (see test_library_wan22.py for what is particular to them)
    "wan22-5b-t2v": dict(num_frames=8, height=70, width=100),  # 8 -> 9 (4k+1); 70x100 -> 64x96 (of 32)
    "wan22-5b-i2v": dict(num_frames=6, height=64, width=80),  # 6 -> 9; 80 -> 64 (a multiple of 16, not 32)
    "wan22-a14b-t2v": dict(num_frames=8, height=64, width=100),  # 8 -> 9; 100 -> 96 (of 16)
    "wan22-a14b-i2v": dict(num_frames=10, height=64, width=90),  # 10 -> 13; 90 -> 80
    "wan-vace": dict(num_frames=8, height=64, width=96),  # 8 -> 9: the 8-frame input is resampled to 9
    "wan-vace-14b": dict(num_frames=12, height=64, width=100),  # 12 -> 13; input 8 -> 13 frames at 64x96
    # the image editors and newer text-to-image models (see test_library_image_edit.py)
    "qwen-image-edit": dict(height=70, width=100),  # -> 64x96 (multiple of 16)
    "flux-kontext": dict(height=64, width=100),  # -> 64x96; Kontext alone would make ~1248x832
    "flux2-edit": dict(height=70, width=90),  # -> 64x80 (multiple of 16)
    "qwen-image-2.1-edit": dict(height=70, width=100),  # -> 64x96 (multiple of 32)
    "flux2": dict(height=64, width=100),  # -> 64x96
    "qwen-image-2.1": dict(height=80, width=100),  # -> 64x96 (multiple of 32)
    # SkyReels-V2, Kandinsky 5, SANA-Video (see test_library_skyreels_kandinsky_sana.py)
    "skyreels-v2-t2v": dict(num_frames=8, height=70, width=100),  # 8 -> 9 (4k+1); 70x100 -> 64x96 (of 16)
    "skyreels-v2-df": dict(num_frames=10, height=64, width=90),  # 10 -> 13; 90 -> 80
    "skyreels-v2-i2v": dict(num_frames=6, height=64, width=96),  # 6 -> 9
    "kandinsky5-t2v": dict(num_frames=8, height=64, width=100),  # 8 -> 9; 100 -> 96
    "kandinsky5-i2v": dict(num_frames=5, height=70, width=96),  # 5 -> 17 (its least); 70 -> 64
    "sana-video": dict(num_frames=8, height=64, width=112),  # 8 -> 9; 112 -> 96 (of 32)
    "sana-video-i2v": dict(num_frames=12, height=80, width=96),  # 12 -> 13; 80 -> 64
    # LTX-2 and HunyuanVideo 1.5 (see test_library_ltx2_hunyuan15.py)
    "ltx-2": dict(num_frames=10, height=70, width=100),  # 10 -> 17 (8k+1); 70x100 -> 64x96 (of 32)
    "ltx-2-i2v": dict(num_frames=9, height=64, width=96),  # already valid: nothing to fit
    "ltx-2-v2v": dict(num_frames=12, height=64, width=100),  # 12 -> 17; the 8-frame input is resampled to 17
    "hunyuanvideo-1.5": dict(num_frames=8, height=70, width=100),  # 8 -> 9 (4k+1); 70x100 -> 64x96 (of 16)
    "hunyuanvideo-1.5-i2v": dict(num_frames=6, height=64, width=80),  # 6 -> 9; any size -> the fixed 96x64
}


def test_every_library_entry_has_a_request_and_a_tiny_stand_in():
    assert set(REQUESTS) == set(LIBRARY.names())
    for spec in LIBRARY:
        for hub_id in [spec.model, *(component.model or spec.model for component in spec.components.values())]:
            assert tiny_pipeline_for(hub_id) in TINY_PIPELINES


def expected_size(spec: ToolSpec, height: int, width: int) -> tuple[int, int]:
    """The fitting rule: a fixed size wins; else scale down to `max_side`, then round down to `size_multiple`."""
    if spec.fixed_size:
        return spec.fixed_size[1], spec.fixed_size[0]
    if spec.max_side and max(height, width) > spec.max_side:
        scale = spec.max_side / max(height, width)
        height, width = round(height * scale), round(width * scale)
    multiple = spec.size_multiple
    return max(multiple, height // multiple * multiple), max(multiple, width // multiple * multiple)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny builds for the module; entries that share weights share a build."""
    return tmp_path_factory.mktemp("tiny-library")


def tiny_spec(name: str, cache: Path) -> ToolSpec:
    """The library entry `name`, with tiny weights, float32 and 2 steps; everything else as declared."""
    entry = LIBRARY.get(name)
    data: dict[str, Any] = entry.model_dump(by_alias=True)
    data["model"] = str(ensure_demo_pipeline(tiny_pipeline_for(entry.model), cache))
    for component in data["components"].values():
        if component["model"]:  # None means the entry's own model, now the tiny one
            component["model"] = str(ensure_demo_pipeline(tiny_pipeline_for(component["model"]), cache))
    data["torch_dtype"] = "float32"
    data["variant"] = None  # the tiny builds are saved without an fp16 variant
    data["defaults"] = {**data["defaults"], "num_inference_steps": 2}
    if entry.fixed_size:
        data["fixed_size"] = (96, 64)  # the tiny CogVideoX-5b-I2V's learned table, as 720x480 is the real one's
    return ToolSpec(**data)


def tiny_tool(name: str, cache: Path, tmp_path: Path, spec: ToolSpec | None = None):
    """The library entry `name` as a tool on the CPU, with its tiny weights (or as `spec` says)."""
    spec = spec or tiny_spec(name, cache)
    return Toolbox(ToolRegistry({name: spec}), device="cpu", cache_dir=tmp_path / "cache").tool(name)


def tiny_request(name: str, tmp_path: Path, image: Path | None = None, video: Path | None = None, *,
                 output: str | None = None, **changes: int) -> dict[str, Any]:
    """What entry `name` is asked here (its REQUESTS row, with `changes`), with the inputs its task takes."""
    spec = LIBRARY.get(name)
    asked = {**REQUESTS[name], **changes}
    request = {
        "output_path": str(tmp_path / (output or ("out.mp4" if output_kind(spec.task) == "video" else "out.png"))),
        "prompt": PROMPT,
        "num_frames": asked.get("num_frames", 16),
        "height": asked["height"],
        "width": asked["width"],
        "fps": FPS,
        "num_inference_steps": 2,
        "seed": 0,
    }
    if spec.task.startswith("image_to"):
        request["image"] = str(image)
    if spec.task.startswith("video_to"):
        request["video"] = str(video)
    return request


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_library_entry_runs_through_the_tool(name, tiny_cache, tmp_path, red_parrot_png, panning_mp4):
    spec = tiny_spec(name, tiny_cache)
    asked = REQUESTS[name]
    video = output_kind(spec.task) == "video"

    path = tiny_tool(name, tiny_cache, tmp_path, spec).invoke(tiny_request(name, tmp_path, red_parrot_png, panning_mp4))

    height, width = expected_size(spec, asked["height"], asked["width"])
    info = inspect_media(path, "video" if video else "image")
    assert (info.width, info.height) == (width, height)
    if video:
        assert info.kind == "video"
        assert info.frame_count == spec.frames.fit(asked["num_frames"])
        assert info.fps == pytest.approx(FPS)
    else:
        assert info.frame_count == 1
    assert has_picture(path)  # not the black frames a NaN output is written as


def has_picture(path: str | Path) -> bool:
    frames = np.stack([np.asarray(frame, dtype=np.float32) for frame in read_frames(path)])
    return float(frames.std()) > 1.0


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_fitting_a_large_request_keeps_to_the_entry_rules(name):
    """No weights needed: a 1080p, 100-frame request is fitted to each entry's declared rules."""
    spec = LIBRARY.get(name)
    tool = Toolbox(ToolRegistry({name: spec}), device="cpu").tool(name)
    request = {"output_path": "unused", "prompt": PROMPT, "num_frames": 100, "height": 1080, "width": 1920}
    fitted = tool.fit(request)
    height, width = fitted.args.height, fitted.args.width
    assert (height, width) == expected_size(spec, 1080, 1920)
    assert height % spec.size_multiple == 0 and width % spec.size_multiple == 0
    assert spec.max_side is None or max(height, width) <= spec.max_side
    if output_kind(spec.task) == "video":
        frames = fitted.args.num_frames
        assert frames == spec.frames.fit(100)
        assert (frames - spec.frames.offset) % spec.frames.step == 0
        assert spec.frames.min <= frames <= (spec.frames.max or frames)
    assert fitted.adjustments  # 1920x1080 is larger than every entry's largest side


#: Off-rule calls straight to the tiny pipelines, which fail the way the real models do: the reason each
#: entry declares its frame rule, size multiple or fixed size.  (tiny build, pipeline class, call, error)
OFF_RULE_CALLS = [
    ("tiny-ltx-video", "LTXPipeline", dict(height=64, width=80, num_frames=9), "divisible by 32"),
    ("tiny-wan-t2v", "WanPipeline", dict(height=64, width=88, num_frames=9), "divisible by 16"),
    ("tiny-cogvideox-2b", "CogVideoXPipeline", dict(height=64, width=88, num_frames=9), "size of tensor"),
    ("tiny-cogvideox-5b-i2v", "CogVideoXImageToVideoPipeline", dict(height=64, width=64, num_frames=9),
     "different resolution"),
    ("tiny-latte", "LattePipeline", dict(height=64, width=64, video_length=8, clean_caption=False),
     "size of tensor"),
]


def _load_tiny(name: str, pipeline_class: str, cache: Path):
    import diffusers

    pipe = getattr(diffusers, pipeline_class).from_pretrained(ensure_demo_pipeline(name, cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize(
    ("tiny", "pipeline_class", "call", "error"), OFF_RULE_CALLS, ids=[case[0] for case in OFF_RULE_CALLS]
)
def test_tiny_models_refuse_what_their_real_models_refuse(tiny, pipeline_class, call, error, tiny_cache):
    import torch
    from PIL import Image

    pipe = _load_tiny(tiny, pipeline_class, tiny_cache)
    if "ImageToVideo" in pipeline_class:
        call = {**call, "image": Image.new("RGB", (call["width"], call["height"]))}
    with pytest.raises((ValueError, RuntimeError), match=error):
        pipe(prompt=PROMPT, num_inference_steps=1, generator=torch.Generator().manual_seed(0), **call)


def test_off_rule_frame_counts_lose_frames_in_wan_video_to_video(tiny_cache):
    """8 input frames make 5: why wan-v2v's input video is resampled to 4k+1 frames first."""
    import torch
    from PIL import Image

    from spagent_graph.tool_adapters.pipeline_calls import wan

    pipe = _load_tiny("tiny-wan-t2v", "WanVideoToVideoPipeline", tiny_cache)
    kwargs = wan(pipe, {}, LIBRARY.get("wan-v2v"))  # the ftfy stand-in, and the entry's call arguments
    video = [Image.new("RGB", (96, 64), (40 * i, 80, 120)) for i in range(8)]
    out = pipe(video=video, prompt=PROMPT, height=64, width=96, num_inference_steps=2, output_type="pil",
               **kwargs)
    assert len(out.frames[0]) == 5


def test_ledits_pp_refuses_sides_that_are_not_multiples_of_32(tiny_cache):
    from PIL import Image

    pipe = _load_tiny("tiny-sd15", "LEditsPPPipelineStableDiffusion", tiny_cache)
    with pytest.raises(ValueError, match="factor of 32"):
        pipe.invert(image=Image.new("RGB", (88, 64)), num_inversion_steps=2, height=64, width=88)


def test_per_component_dtypes_and_scheduler_overrides_reach_the_loaded_pipeline(tiny_cache, tmp_path):
    """Wan's VAE stays in float32 beside a bfloat16 transformer; AnimateDiff gets the motion
    module's DDIM settings instead of the checkpoint's own scheduler."""
    wan = tiny_spec("wan-t2v", tiny_cache).model_copy(update={"torch_dtype": LIBRARY.get("wan-t2v").torch_dtype})
    toolbox = Toolbox(ToolRegistry({"wan-t2v": wan}), device="cpu", cache_dir=tmp_path)
    pipeline = toolbox.tool("wan-t2v").pipeline()
    assert pipeline.vae.dtype == torch.float32
    assert pipeline.transformer.dtype == pipeline.text_encoder.dtype == torch.bfloat16

    animatediff = tiny_spec("animatediff", tiny_cache)
    pipeline = Toolbox(ToolRegistry({"animatediff": animatediff}), device="cpu", cache_dir=tmp_path).tool(
        "animatediff"
    ).pipeline()
    assert type(pipeline.scheduler).__name__ == "DDIMScheduler"
    assert pipeline.scheduler.config.beta_schedule == "linear"
    assert pipeline.scheduler.config.timestep_spacing == "linspace"
    assert pipeline.scheduler.config.clip_sample is False
