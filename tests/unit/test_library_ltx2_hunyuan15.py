"""What is particular to the LTX-2 and HunyuanVideo 1.5 entries of the tool library, on tiny stand-ins for
their weights (tests/tiny_pipelines/ltx2_hunyuan15.py; test_library_adapters.py runs each through the real
tool like every library entry): LTX-2 makes audio with its video and the tool
writes it into the MP4 when the frame rate allows; LTX-2's video-to-video reads the input video as a condition; HunyuanVideo 1.5's
image-to-video picks its own size; its ByT5 encoder reads quoted text; the tokenizers are built offline;
and the tiny models refuse or change what their real models refuse or change, which is why the entries
declare their rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from PIL import Image

from spagent_graph.media import read_frames
from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
from spagent_graph.tool_adapters.registry import ToolRegistry
from tests.conftest import invoke_for_message
from tests.unit.test_library_adapters import REQUESTS as LIBRARY_REQUESTS
from tests.unit.test_library_adapters import tiny_request, tiny_spec, tiny_tool

FPS = 8
PROMPT = "a red fox running through snow"

ENTRIES = ("ltx-2", "ltx-2-i2v", "ltx-2-v2v", "hunyuanvideo-1.5", "hunyuanvideo-1.5-i2v")
FAMILY = ToolRegistry.from_yaml("library").restricted_to(list(ENTRIES))
#: The requests of test_library_adapters.py for these entries.
REQUESTS = {name: asked for name, asked in LIBRARY_REQUESTS.items() if name in ENTRIES}

@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny builds for the module; entries that share weights share a build."""
    return tmp_path_factory.mktemp("tiny-ltx2-hunyuan15")


def _load_tiny(name: str, pipeline_class: str, cache: Path):
    import diffusers

    pipe = getattr(diffusers, pipeline_class).from_pretrained(ensure_demo_pipeline(name, cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


# -------------------------------------------------------------------------------------------------- LTX-2


def test_ltx2_makes_audio_and_the_tool_writes_it_with_the_video(tiny_cache, tmp_path):
    """LTX-2 returns a stereo waveform at the vocoder's rate, as long as the video at the model's frame rate;
    written at that rate, the MP4 carries it as an AAC track of the video's length."""
    import av

    pipe = _load_tiny("tiny-ltx2", "LTX2Pipeline", tiny_cache)
    out = pipe(prompt=PROMPT, height=64, width=96, num_frames=17, frame_rate=24.0, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0), output_type="np", **FAMILY.get("ltx-2").call)
    assert out.frames.shape == (1, 17, 64, 96, 3)
    channels, samples = out.audio.shape[1:]
    assert channels == 2 and pipe.vocoder.config.output_sampling_rate == 24000  # LTX-2.0's vocoder
    assert samples == pytest.approx(17 / 24.0 * 24000, rel=0.1)

    message = invoke_for_message(tiny_tool("ltx-2", tiny_cache, tmp_path), {
        **tiny_request("ltx-2", tmp_path, Path("unused"), Path("unused")), "fps": 24})
    with av.open(message.content) as container:
        assert len(container.streams.video) == 1
        (sound,) = container.streams.audio
        assert (sound.codec_context.name, sound.rate, sound.channels) == ("aac", 24000, 2)
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    assert decoded / 24000 == pytest.approx(17 / 24, abs=2048 / 24000)  # AAC adds up to two 1024-sample frames
    assert not any("audio" in note for note in message.artifact["adjustments"])
    assert read_frames(message.content)  # the frames read as before


def test_ltx2_at_another_frame_rate_writes_a_silent_video_and_says_why(tiny_cache, tmp_path):
    import av

    message = invoke_for_message(tiny_tool("ltx-2", tiny_cache, tmp_path), {
        **tiny_request("ltx-2", tmp_path, Path("unused"), Path("unused")), "fps": 8})
    with av.open(message.content) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 0
    assert message.artifact["adjustments"][-1] == (
        "its audio left out: made for 24 fps, the video is written at 8 fps; ask for 24 fps to keep it")


def test_ltx2_video_to_video_reads_the_input_video(tiny_cache, tmp_path, panning_mp4):
    """The input video reaches the model as a condition: the same seed with another input video makes
    another video, and the same input the same video."""
    import numpy as np

    from spagent_graph.media import write_video

    tool = tiny_tool("ltx-2-v2v", tiny_cache, tmp_path)
    still = write_video([np.full((64, 96, 3), 200, np.uint8)] * 8, tmp_path / "still.mp4", fps=FPS)
    outputs = [
        np.stack([np.asarray(frame, np.float32) for frame in read_frames(tool.invoke(
            tiny_request("ltx-2-v2v", tmp_path, Path("unused"), video, output=f"out{i}.mp4")
        ))])
        for i, video in enumerate([panning_mp4, still, panning_mp4])
    ]
    assert np.abs(outputs[0] - outputs[1]).mean() > 1.0
    assert np.abs(outputs[0] - outputs[2]).mean() < 1e-6


def test_ltx2_condition_call_style_wraps_the_video_as_one_condition(tiny_cache):
    from spagent_graph.tool_adapters.pipeline_calls import ltx2_condition

    pipe = _load_tiny("tiny-ltx2", "LTX2ConditionPipeline", tiny_cache)
    spec = FAMILY.get("ltx-2-v2v")
    video = [Image.new("RGB", (96, 64), (30 * i, 80, 120)) for i in range(17)]
    kwargs = ltx2_condition(pipe, {"prompt": PROMPT, "video": video, "num_frames": 17, "image": None}, spec)

    (condition,) = kwargs["conditions"]
    assert condition.frames == video and condition.index == 0
    assert condition.strength == spec.call["condition_strength"]
    assert "condition_strength" not in kwargs and "video" not in kwargs
    assert kwargs["spatio_temporal_guidance_blocks"] == [29] and kwargs["use_cross_timestep"] is False
    with pytest.raises(ValueError, match="input video"):
        ltx2_condition(pipe, {"prompt": PROMPT, "video": None}, spec)


# -------------------------------------------------------------------------------------- HunyuanVideo 1.5


def test_hunyuanvideo15_reports_its_steps_through_its_scheduler(tiny_cache, tmp_path):
    """Its pipeline takes no step callback of either kind; its scheduler's steps reach the progress bar (and
    the step deadline), and a later call that wants no reports leaves the scheduler as it was."""
    from spagent_graph.tool_adapters.pipeline_calls import generic

    reports = []
    tool = tiny_tool("hunyuanvideo-1.5", tiny_cache, tmp_path)
    tool.invoke(tiny_request("hunyuanvideo-1.5", tmp_path), config={"configurable": {"progress": reports.append}})
    assert [(r["step"], r["total"]) for r in reports] == [(1, 2), (2, 2)]

    pipeline = tool.pipeline()
    assert "step" in vars(pipeline.scheduler)
    generic(pipeline, {"prompt": PROMPT}, FAMILY.get("hunyuanvideo-1.5"))
    assert "step" not in vars(pipeline.scheduler)


def test_hunyuan_image_to_video_picks_its_own_size(tiny_cache):
    """No height/width arguments: the size is the bucket nearest the image's aspect ratio (a 3:2 image gives
    the tiny model's 96x64, a square one 80x80), which is why the entry runs at one fixed size."""
    pipe = _load_tiny("tiny-hunyuanvideo15-i2v", "HunyuanVideo15ImageToVideoPipeline", tiny_cache)
    for (width, height), expected in [((96, 64), (96, 64)), ((64, 64), (80, 80))]:
        out = pipe(image=Image.new("RGB", (width, height), (200, 30, 30)), prompt=PROMPT, num_frames=5,
                   num_inference_steps=1, generator=torch.Generator().manual_seed(0), output_type="pil")
        assert out.frames[0][0].size == expected


def test_hunyuan_reads_quoted_text_with_its_glyph_encoder(tiny_cache):
    """Text in quotes goes through the ByT5 encoder; a prompt without quotes gives it nothing to read."""
    pipe = _load_tiny("tiny-hunyuanvideo15-t2v", "HunyuanVideo15Pipeline", tiny_cache)
    *_, plain_mask = pipe.encode_prompt(PROMPT, device=torch.device("cpu"))
    *_, glyph_mask = pipe.encode_prompt('a shop sign that says "OPEN"', device=torch.device("cpu"))
    assert plain_mask.sum() == 0
    assert glyph_mask.sum() > 0


# --------------------------------------------------------------------------- the tiny models keep the rules


def test_tiny_ltx2_refuses_sides_that_are_not_multiples_of_32(tiny_cache):
    pipe = _load_tiny("tiny-ltx2", "LTX2Pipeline", tiny_cache)
    with pytest.raises(ValueError, match="divisible by 32"):
        pipe(prompt=PROMPT, height=64, width=80, num_frames=9, num_inference_steps=1)


def test_off_rule_requests_lose_frames_and_pixels_in_hunyuan(tiny_cache):
    """8 frames make 5 and a 72-pixel side makes 64: why the entries declare 4k+1 frames and sides of 16."""
    pipe = _load_tiny("tiny-hunyuanvideo15-t2v", "HunyuanVideo15Pipeline", tiny_cache)
    out = pipe(prompt=PROMPT, height=72, width=96, num_frames=8, num_inference_steps=1,
               generator=torch.Generator().manual_seed(0), output_type="pil")
    assert len(out.frames[0]) == 5
    assert out.frames[0][0].size == (96, 64)


def test_tiny_builds_keep_the_real_compression_and_patch_sizes(tiny_cache):
    ltx2 = _load_tiny("tiny-ltx2", "LTX2Pipeline", tiny_cache)
    assert (ltx2.vae_spatial_compression_ratio, ltx2.vae_temporal_compression_ratio) == (32, 8)
    assert (ltx2.transformer.config.patch_size, ltx2.transformer.config.patch_size_t) == (1, 1)
    assert ltx2.transformer.config.in_channels == ltx2.vae.config.latent_channels == 128
    assert type(ltx2.text_encoder).__name__ == "Gemma3ForConditionalGeneration"

    hunyuan = _load_tiny("tiny-hunyuanvideo15-i2v", "HunyuanVideo15ImageToVideoPipeline", tiny_cache)
    assert (hunyuan.vae_scale_factor_spatial, hunyuan.vae_scale_factor_temporal) == (16, 4)
    assert hunyuan.transformer.config.in_channels == 2 * hunyuan.vae.config.latent_channels + 1 == 65
    assert hunyuan.vision_num_semantic_tokens == (54 // 2) ** 2  # 729, as SigLIP/14 at 384 px
    assert type(hunyuan.text_encoder).__name__ == "Qwen2_5_VLTextModel"
    assert type(hunyuan.text_encoder_2).__name__ == "T5EncoderModel"


def test_tokenizers_are_built_offline_like_the_real_ones():
    from tests.tiny_pipelines.ltx2_hunyuan15 import (
        build_gemma3_chat_tokenizer,
        build_qwen_chat_tokenizer,
    )

    gemma = build_gemma3_chat_tokenizer()
    tokens = gemma.convert_ids_to_tokens(gemma("a fox é").input_ids)
    assert tokens[0] == "<bos>" and "\u2581" in tokens and "<0xC3>" in tokens  # bos, U+2581, byte fallback

    qwen = build_qwen_chat_tokenizer()
    chat = qwen.apply_chat_template([{"role": "user", "content": "a fox"}], add_generation_prompt=True,
                                    tokenize=False)
    assert chat == "<|im_start|>user\na fox<|im_end|>\n<|im_start|>assistant\n"
    assert qwen.convert_ids_to_tokens(qwen("<|im_start|>user").input_ids)[0] == "<|im_start|>"
    assert qwen.padding_side == "right"
