"""What is particular to the SkyReels-V2, Kandinsky 5.0 video and SANA-Video entries of the tool library, on
tiny stand-ins for their weights (tests/tiny_pipelines/skyreels_kandinsky_sana.py; test_library_adapters.py
runs each through the real tool like every library entry): the
diffusion-forcing model slides its window past 97 frames; the entries' scheduler shifts and Kandinsky's
plain Qwen2 tokenizer reach the loaded pipelines; Kandinsky's prompt embedding starts where the user's text
does; image-to-video keeps the image's latent frame; SANA-Video's call style passes `frames` and the
motion score; and the tiny models refuse or change what their real models refuse or change, which is why
the entries declare their rules (and why the video-extending SkyReels pipeline has no entry).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
from spagent_graph.tool_adapters.registry import ToolRegistry
from tests.tiny_pipelines import tiny_pipeline_for
from tests.unit.test_library_adapters import REQUESTS as LIBRARY_REQUESTS
from tests.unit.test_library_adapters import has_picture, tiny_request, tiny_spec, tiny_tool

PROMPT = "a red fox running through snow"

ENTRIES = ("skyreels-v2-t2v", "skyreels-v2-df", "skyreels-v2-i2v", "kandinsky5-t2v", "kandinsky5-i2v", "sana-video", "sana-video-i2v")
FAMILY = ToolRegistry.from_yaml("library").restricted_to(list(ENTRIES))
#: The requests of test_library_adapters.py for these entries.
REQUESTS = {name: asked for name, asked in LIBRARY_REQUESTS.items() if name in ENTRIES}


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny builds for the module; entries that share weights share a build."""
    return tmp_path_factory.mktemp("tiny-skyreels-kandinsky-sana")


def test_the_usual_sizes_are_kept():
    """Each model's own size and length pass the fitting unchanged."""
    usual = {"skyreels-v2-t2v": (97, 544, 960), "skyreels-v2-df": (97, 544, 960),
             "skyreels-v2-i2v": (97, 544, 960), "kandinsky5-t2v": (121, 512, 768),
             "kandinsky5-i2v": (121, 512, 768), "sana-video": (81, 480, 832),
             "sana-video-i2v": (81, 480, 832)}
    assert set(usual) == set(FAMILY.names())
    for name, (frames, height, width) in usual.items():
        assert FAMILY.get(name).fit_size(frames, height, width) == (frames, height, width, [])


def _record(module: torch.nn.Module, seen: list[dict[str, Any]]):
    def before_forward(_module, args, kwargs):
        seen.append({"hidden_states": (args[0] if args else kwargs["hidden_states"]).detach().clone(),
                     **{k: v for k, v in kwargs.items() if k != "hidden_states"}})

    return module.register_forward_pre_hook(before_forward, with_kwargs=True)


def test_diffusion_forcing_slides_its_window_past_97_frames(tiny_cache, tmp_path, red_parrot_png):
    """105 frames are more than one 97-frame window (25 latent frames): a second window of 7 latent frames
    starts from the last 5 of the first (overlap_history 17 frames), and the video has all 105 frames.
    The frame-rate embedding gets 24 fps's index (1), as the pipeline's default `fps` gives."""
    tool = tiny_tool("skyreels-v2-df", tiny_cache, tmp_path)
    seen: list[dict[str, Any]] = []
    hook = _record(tool.pipeline().transformer, seen)
    try:
        request = tiny_request("skyreels-v2-df", tmp_path, red_parrot_png, num_frames=105, height=32, width=48)
        path = tool.invoke(request)
    finally:
        hook.remove()

    assert inspect_media(path, "video").frame_count == 105
    windows = [call["hidden_states"].shape[2] for call in seen]
    assert windows == [25] * 4 + [7] * 4  # 2 steps, each with and without the prompt
    assert all(call["enable_diffusion_forcing"] and call["fps"] == [1] for call in seen)


def test_diffusion_forcing_video_to_video_extends_rather_than_remakes(tiny_cache):
    """Why SkyReelsV2DiffusionForcingVideoToVideoPipeline has no entry: it returns the whole input video
    followed by `num_frames` new ones, never the input remade at the requested count."""
    from PIL import Image

    pipe = _load_tiny("tiny-skyreels-v2-df", "SkyReelsV2DiffusionForcingVideoToVideoPipeline", tiny_cache)
    video = [Image.new("RGB", (48, 32), (30 * i, 90, 160)) for i in range(8)]
    out = pipe(video=video, prompt=PROMPT, height=32, width=48, num_frames=9, overlap_history=5,
               num_inference_steps=1, output_type="np", generator=torch.Generator().manual_seed(0))
    assert out.frames[0].shape[0] == 8 + 9


@pytest.mark.parametrize(
    ("name", "scheduler", "shift"),
    [
        ("skyreels-v2-t2v", "UniPCMultistepScheduler", 8.0),
        ("skyreels-v2-df", "UniPCMultistepScheduler", 8.0),
        ("skyreels-v2-i2v", "UniPCMultistepScheduler", 5.0),
        ("sana-video", "DPMSolverMultistepScheduler", 8.0),  # the repo's own
        ("sana-video-i2v", "FlowMatchEulerDiscreteScheduler", 8.0),
    ],
)
def test_the_entries_sampling_shift_reaches_the_pipeline(name, scheduler, shift, tiny_cache, tmp_path):
    """The SkyReels-V2 repos' scheduler has no shift (1.0); the entries set the model card's."""
    config = tiny_tool(name, tiny_cache, tmp_path).pipeline().scheduler.config
    assert config._class_name == scheduler
    assert config.get("flow_shift", config.get("shift")) == shift
    if name.startswith("skyreels"):
        assert FAMILY.get(name).components["scheduler"].config == {"flow_shift": shift}
        assert _load_tiny(tiny_pipeline_for(FAMILY.get(name).model), "DiffusionPipeline",
                          tiny_cache).scheduler.config.flow_shift == 1.0


@pytest.mark.parametrize("name", ["kandinsky5-t2v", "kandinsky5-i2v"])
def test_kandinsky_prompt_embedding_starts_at_the_users_text(name, tiny_cache, tmp_path):
    """The entries load the tokenizer as a plain Qwen2Tokenizer (no torchvision needed). The pipeline drops
    the first `prompt_template_encode_start_idx` (128) Qwen hidden states, the system prompt's length with
    the real vocabulary; the tiny vocabulary has the same length there, so what is kept is the user's
    text and the closing <|im_end|>."""
    from transformers import Qwen2Tokenizer

    pipeline = tiny_tool(name, tiny_cache, tmp_path).pipeline()
    assert type(pipeline.tokenizer) is Qwen2Tokenizer
    start = pipeline.prompt_template_encode_start_idx
    assert start == 128
    ids = pipeline.tokenizer(pipeline.prompt_template.format(PROMPT)).input_ids
    assert pipeline.tokenizer.decode(ids[start:]) == PROMPT + "<|im_end|>"
    embeds, _pooled, cu_seqlens = pipeline.encode_prompt(PROMPT, device=torch.device("cpu"))
    assert embeds.shape[1] == cu_seqlens[-1] == len(ids) - start


@pytest.mark.parametrize(("name", "image_kept"), [("kandinsky5-t2v", False), ("kandinsky5-i2v", True)])
def test_kandinsky_image_to_video_keeps_the_image_latent_frame(name, image_kept, tiny_cache, tmp_path,
                                                               red_parrot_png):
    """Kandinsky5I2VPipeline puts the image's latents in the first latent frame and never steps it; the
    text-to-video pipeline denoises that frame like the others."""
    tool = tiny_tool(name, tiny_cache, tmp_path)
    seen: list[dict[str, Any]] = []
    hook = _record(tool.pipeline().transformer, seen)
    try:
        tool.invoke(tiny_request(name, tmp_path, red_parrot_png, num_frames=17, height=64, width=96))
    finally:
        hook.remove()

    # (batch, latent frames, height, width, 16 noise + 16 visual_cond + 1 mask channels)
    assert seen[0]["hidden_states"].shape == (1, 5, 8, 12, 33)
    first_frames = [call["hidden_states"][:, 0, ..., :16] for call in seen]
    assert all(torch.equal(first_frames[0], frame) for frame in first_frames) is image_kept


def test_kandinsky_image_to_video_needs_17_frames(tiny_cache):
    """Why kandinsky5-i2v's least frame count is 17: the pipeline renormalises the first 4 latent frames by
    the statistics of the following ones, and with 4 or fewer latent frames (13 frames or fewer) there are
    none: every frame comes out NaN. One latent frame fails outright."""
    from PIL import Image

    pipe = _load_tiny("tiny-kandinsky5", "Kandinsky5I2VPipeline", tiny_cache)
    image = Image.new("RGB", (48, 32), (200, 30, 30))

    def nan_frames(num_frames: int) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's "degrees of freedom is <= 0" on the empty reference
            video = pipe(image=image, prompt=PROMPT, height=32, width=48, num_frames=num_frames,
                         num_inference_steps=1, output_type="pt", generator=torch.Generator().manual_seed(0))
        return int(torch.isnan(video.frames[0]).flatten(1).any(1).sum())

    assert nan_frames(13) == 13
    assert nan_frames(17) == 0
    assert FAMILY.get("kandinsky5-i2v").frames.min == 17
    with pytest.raises(AttributeError):
        pipe(image=image, prompt=PROMPT, height=32, width=48, num_frames=1, num_inference_steps=1)


def test_sana_video_call_style_passes_frames_and_the_motion_score(tiny_cache, tmp_path):
    from spagent_graph.tool_adapters.pipeline_calls import sana_video

    spec = FAMILY.get("sana-video")
    pipeline = tiny_tool("sana-video", tiny_cache, tmp_path).pipeline()
    kwargs = sana_video(pipeline, {"prompt": PROMPT, "num_frames": 9, "height": 64, "width": 96}, spec)
    assert kwargs["frames"] == 9 and "num_frames" not in kwargs
    assert kwargs["prompt"] == PROMPT + " motion score: 30."
    assert "motion_score" not in kwargs
    assert kwargs["use_resolution_binning"] is False and kwargs["guidance_scale"] == 6.0


def test_per_component_dtypes_and_vae_tiling_reach_the_loaded_pipelines(tiny_cache, tmp_path):
    """SkyReels-V2's and SANA-Video's VAEs stay in float32 beside bfloat16 transformers and text encoders;
    Kandinsky's VAE tiles, as in the original code."""
    for name in ("skyreels-v2-t2v", "sana-video"):
        spec = tiny_spec(name, tiny_cache).model_copy(update={"torch_dtype": FAMILY.get(name).torch_dtype})
        pipeline = tiny_tool(name, tiny_cache, tmp_path, spec).pipeline()
        assert pipeline.vae.dtype == torch.float32
        assert pipeline.transformer.dtype == pipeline.text_encoder.dtype == torch.bfloat16
    for name in ("kandinsky5-t2v", "kandinsky5-i2v"):
        assert tiny_tool(name, tiny_cache, tmp_path).pipeline().vae.use_tiling is True


def _load_tiny(name: str, pipeline_class: str, cache: Path):
    import diffusers

    from spagent_graph.tool_adapters.pipeline_calls import wan

    pipe = getattr(diffusers, pipeline_class).from_pretrained(ensure_demo_pipeline(name, cache))
    pipe.set_progress_bar_config(disable=True)
    wan(pipe, {}, FAMILY.get("skyreels-v2-t2v"))  # the ftfy stand-in the tool's call style installs
    return pipe


#: Off-rule calls straight to the tiny pipelines, which fail the way the real models do: the reason each
#: entry declares its size multiple and SANA-Video's entries turn resolution binning off.
#: (tiny build, pipeline class, call, error)
OFF_RULE_CALLS = [
    ("tiny-skyreels-v2", "SkyReelsV2Pipeline", dict(height=64, width=88, num_frames=9), "divisible by 16"),
    ("tiny-kandinsky5", "Kandinsky5T2VPipeline", dict(height=64, width=88, num_frames=9), "divisible by 16"),
    ("tiny-sana-video", "SanaVideoPipeline",
     dict(height=64, width=80, frames=9, use_resolution_binning=False), "divisible by 32"),
    # Binning maps a square request to the 624x624 bin, which the pipeline's own check then refuses.
    ("tiny-sana-video", "SanaVideoPipeline", dict(height=64, width=64, frames=9),
     "divisible by 32 but are 624"),
]


@pytest.mark.parametrize(
    ("tiny", "pipeline_class", "call", "error"), OFF_RULE_CALLS,
    ids=[f"{case[0]}-{case[2]['height']}x{case[2]['width']}" for case in OFF_RULE_CALLS],
)
def test_tiny_models_refuse_what_their_real_models_refuse(tiny, pipeline_class, call, error, tiny_cache):
    pipe = _load_tiny(tiny, pipeline_class, tiny_cache)
    with pytest.raises(ValueError, match=error):
        pipe(prompt=PROMPT, num_inference_steps=1, generator=torch.Generator().manual_seed(0), **call)


@pytest.mark.parametrize(("tiny", "pipeline_class", "frames_argument"), [
    ("tiny-skyreels-v2", "SkyReelsV2Pipeline", "num_frames"),
    ("tiny-kandinsky5", "Kandinsky5T2VPipeline", "num_frames"),
    ("tiny-sana-video", "SanaVideoPipeline", "frames"),
])
def test_a_frame_count_off_4k_plus_1_is_rounded_down(tiny, pipeline_class, frames_argument, tiny_cache):
    """Why the frame rule is 4k+1: 10 frames asked, 9 made (the tool asks for 13 instead)."""
    pipe = _load_tiny(tiny, pipeline_class, tiny_cache)
    extra = {"use_resolution_binning": False} if frames_argument == "frames" else {}
    out = pipe(prompt=PROMPT, height=32, width=64, num_inference_steps=1, output_type="np",
               generator=torch.Generator().manual_seed(0), **{frames_argument: 10}, **extra)
    assert len(out.frames[0]) == 9
