"""What is particular to the Wan 2.2 and Wan VACE entries of `registries/library.yaml`, on tiny stand-ins
for their weights (test_library_adapters.py runs each through the real tool like every library entry).

Each entry keeps everything it declares except `model` (and a component's `model`), which points at the
tiny random-weight build of the same structure (`tests/tiny_pipelines/wan22.py`); the dtype is float32 and
it runs 2 steps on the CPU through `Toolbox(...).tool(name).invoke(...)`. Beyond the written file's frame
count, size and frame rate, the tests show what is particular to these models: both experts of the A14B
models run, each on its own side of the boundary timestep; TI2V 5B keeps the image's latent frame at
timestep 0; VACE reads the input video as its control; and the tiny models refuse or change what their real
models refuse or change, which is why the entries declare their rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.unit.test_library_adapters import REQUESTS as LIBRARY_REQUESTS
from tests.unit.test_library_adapters import tiny_request, tiny_spec, tiny_tool

WAN22_NAMES = ("wan22-5b-t2v", "wan22-5b-i2v", "wan22-a14b-t2v", "wan22-a14b-i2v", "wan-vace", "wan-vace-14b")
WAN22 = ToolRegistry.from_yaml("library").restricted_to(list(WAN22_NAMES))
FPS = 8
PROMPT = "a red fox running through snow"

#: The requests of test_library_adapters.py for these entries.
REQUESTS = {name: asked for name, asked in LIBRARY_REQUESTS.items() if name in WAN22_NAMES}

TWO_EXPERTS = {"wan22-a14b-t2v": 0.875, "wan22-a14b-i2v": 0.9}  # entry -> the checkpoint's boundary_ratio


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny builds for the module; entries that share weights share a build."""
    return tmp_path_factory.mktemp("tiny-wan22")


def test_the_5b_entries_run_at_720p_by_their_rules():
    """1280x720 is not a 5B size: its sides are multiples of 32, so the tool asks for 1280x704."""
    for name in ("wan22-5b-t2v", "wan22-5b-i2v"):
        assert WAN22.get(name).fit_size(121, 720, 1280)[:3] == (121, 704, 1280)
    assert WAN22.get("wan22-a14b-t2v").fit_size(81, 720, 1280)[:3] == (81, 720, 1280)


def _record_timesteps(module: torch.nn.Module, seen: list[torch.Tensor]):
    def before_forward(_module, args, kwargs):
        seen.append(kwargs["timestep"].detach().clone())

    return module.register_forward_pre_hook(before_forward, with_kwargs=True)


@pytest.mark.parametrize("name", sorted(TWO_EXPERTS))
def test_both_experts_run_on_their_side_of_the_boundary(name, tiny_cache, tmp_path, red_parrot_png,
                                                       panning_mp4):
    """The high-noise `transformer` takes the steps at or above boundary_ratio x 1000, `transformer_2`
    the rest; with 2 steps (t = 999, then about 750) each takes one step, twice (with and without the
    prompt, as guidance is on)."""
    tool = tiny_tool(name, tiny_cache, tmp_path)
    pipeline = tool.pipeline()  # the resident pipeline the call below uses
    boundary = TWO_EXPERTS[name] * pipeline.scheduler.config.num_train_timesteps
    assert pipeline.config.boundary_ratio == TWO_EXPERTS[name]
    high, low = [], []
    hooks = [_record_timesteps(pipeline.transformer, high), _record_timesteps(pipeline.transformer_2, low)]
    try:
        tool.invoke(tiny_request(name, tmp_path, red_parrot_png, panning_mp4))
    finally:
        for hook in hooks:
            hook.remove()

    assert len(high) == 2 and len(low) == 2
    assert all((t >= boundary).all() for t in high)
    assert all((t < boundary).all() for t in low)
    # The experts are two models, not one under two names.
    first = dict(pipeline.transformer.named_parameters())
    second = dict(pipeline.transformer_2.named_parameters())
    assert first.keys() == second.keys()
    assert any(not torch.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize(("name", "image_frame_at_zero"), [("wan22-5b-t2v", False), ("wan22-5b-i2v", True)])
def test_ti2v_5b_gives_every_token_its_own_timestep(name, image_frame_at_zero, tiny_cache, tmp_path,
                                                    red_parrot_png, panning_mp4):
    """expand_timesteps: the 5B transformer gets one timestep per latent token; image-to-video keeps the
    image's latent frame (the first) at timestep 0, text-to-video denoises every frame."""
    tool = tiny_tool(name, tiny_cache, tmp_path)
    pipeline = tool.pipeline()
    assert pipeline.config.expand_timesteps is True
    assert getattr(pipeline, "image_encoder", None) is None  # TI2V has no CLIP image encoder
    seen: list[torch.Tensor] = []
    hook = _record_timesteps(pipeline.transformer, seen)
    try:
        tool.invoke(tiny_request(name, tmp_path, red_parrot_png, panning_mp4, num_frames=9, height=64, width=96))
    finally:
        hook.remove()

    # 9 frames -> 3 latent frames; 64x96 / 16 (VAE) / 2 (patch) -> 2x3 tokens per latent frame.
    tokens_per_frame = 2 * 3
    for timestep in seen:
        assert timestep.shape == (1, 3 * tokens_per_frame)
        first, rest = timestep[0, :tokens_per_frame], timestep[0, tokens_per_frame:]
        assert (rest > 0).all()
        assert bool((first == 0).all()) is image_frame_at_zero


def test_vace_reads_the_input_video_as_its_control(tiny_cache, tmp_path, red_parrot_png, panning_mp4):
    """The input video becomes 96 control channels per latent position (16 + 16 latent channels and the
    8x8 mask) over the fitted frames, and a different video makes a different output."""
    import numpy as np

    from spagent_graph.media import read_frames, write_video

    tool = tiny_tool("wan-vace", tiny_cache, tmp_path)
    pipeline = tool.pipeline()
    controls: list[torch.Tensor] = []

    def before_forward(_module, args, kwargs):
        controls.append(kwargs["control_hidden_states"].detach().clone())

    hook = pipeline.transformer.register_forward_pre_hook(before_forward, with_kwargs=True)
    try:
        panning = tool.invoke(tiny_request("wan-vace", tmp_path, red_parrot_png, panning_mp4))
        fading_mp4 = write_video([np.full((64, 64, 3), 30 * i, dtype=np.uint8) for i in range(8)],
                                 tmp_path / "fade.mp4", fps=FPS)
        request = tiny_request("wan-vace", tmp_path, red_parrot_png, fading_mp4)
        fading = tool.invoke({**request, "output_path": str(tmp_path / "fading-out.mp4")})
    finally:
        hook.remove()

    # 9 frames -> 3 latent frames of 64x96 / 8.
    assert controls[0].shape == (1, 96, 3, 8, 12)
    assert not torch.equal(controls[0], controls[-1])
    first = np.stack([np.asarray(f, dtype=np.float32) for f in read_frames(panning)])
    second = np.stack([np.asarray(f, dtype=np.float32) for f in read_frames(fading)])
    assert first.shape == second.shape == (9, 64, 96, 3)
    assert np.abs(first - second).mean() > 1.0


def test_vace_14b_samples_720p_at_flow_shift_5(tiny_cache, tmp_path):
    """The entry's scheduler override reaches the loaded pipeline; the 1.3B keeps the checkpoint's."""
    assert tiny_tool("wan-vace-14b", tiny_cache, tmp_path).pipeline().scheduler.config.flow_shift == 5.0
    assert tiny_tool("wan-vace", tiny_cache, tmp_path).pipeline().scheduler.config.flow_shift == 3.0


def test_vaes_stay_in_float32_beside_bfloat16_experts(tiny_cache, tmp_path):
    """The entries' per-component dtypes reach both experts and the VAE."""
    name = "wan22-a14b-t2v"
    spec = tiny_spec(name, tiny_cache).model_copy(update={"torch_dtype": WAN22.get(name).torch_dtype})
    pipeline = tiny_tool(name, tiny_cache, tmp_path, spec).pipeline()
    assert pipeline.vae.dtype == torch.float32
    assert pipeline.transformer.dtype == pipeline.transformer_2.dtype == torch.bfloat16
    assert pipeline.text_encoder.dtype == torch.bfloat16


def _load_tiny(name: str, pipeline_class: str, cache: Path):
    import diffusers

    from spagent_graph.tool_adapters.pipeline_calls import wan

    pipe = getattr(diffusers, pipeline_class).from_pretrained(ensure_demo_pipeline(name, cache))
    pipe.set_progress_bar_config(disable=True)
    wan(pipe, {}, WAN22.get("wan22-5b-t2v"))  # the ftfy stand-in the tool's call style installs
    return pipe


def test_the_5b_pipeline_rounds_off_rule_sides_down_to_32(tiny_cache):
    """Why the 5B entries' size_multiple is 32: a side of 80 (a multiple of 16) passes the pipeline's
    check and comes out as 64, with a warning only."""
    pipe = _load_tiny("tiny-wan22-ti2v-5b", "WanPipeline", tiny_cache)
    out = pipe(prompt=PROMPT, height=64, width=80, num_frames=5, num_inference_steps=1, output_type="np",
               generator=torch.Generator().manual_seed(0))
    assert out.frames[0].shape == (5, 64, 64, 3)


def test_the_a14b_pipelines_refuse_sides_off_16(tiny_cache):
    pipe = _load_tiny("tiny-wan22-t2v-a14b", "WanPipeline", tiny_cache)
    with pytest.raises(ValueError, match="divisible by 16"):
        pipe(prompt=PROMPT, height=64, width=88, num_frames=5, num_inference_steps=1,
             generator=torch.Generator().manual_seed(0))


def test_an_a14b_frame_count_off_4k_plus_1_is_rounded_down(tiny_cache):
    """Why the frame rule is 4k+1: 10 frames asked, 9 made (the tool asks for 13 instead)."""
    pipe = _load_tiny("tiny-wan22-t2v-a14b", "WanPipeline", tiny_cache)
    out = pipe(prompt=PROMPT, height=64, width=96, num_frames=10, num_inference_steps=1, output_type="np",
               generator=torch.Generator().manual_seed(0))
    assert out.frames[0].shape[0] == 9
