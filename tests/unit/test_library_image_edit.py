"""What is particular to the image-editing and newest text-to-image entries of the tool library, on tiny
stand-ins for their weights (tests/tiny_pipelines/image_edit.py; test_library_adapters.py runs each through
the real tool like every library entry): every edit entry really reads its input image (the VAE encodes it),
and the rules behind the entries' sizes and Kontext's call style are shown on the tiny pipelines.

The edit pipelines encode their input at about a megapixel whatever the output size, so these runs take
seconds each, not tenths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spagent_graph.media import inspect_media
from spagent_graph.tool_adapters.demo_pipelines import ensure_demo_pipeline
from spagent_graph.tool_adapters.pipeline_calls import flux_kontext
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox
from tests.unit.test_library_adapters import REQUESTS as LIBRARY_REQUESTS
from tests.unit.test_library_adapters import expected_size, tiny_spec

ENTRIES = sorted(["qwen-image-edit", "flux-kontext", "flux2-edit", "qwen-image-2.1-edit", "flux2", "qwen-image-2.1"])
REGISTRY = ToolRegistry.from_yaml("library").restricted_to(ENTRIES)
REQUESTS = {name: asked for name, asked in LIBRARY_REQUESTS.items() if name in ENTRIES}
PROMPT = "give the parrot a small blue hat"



@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of tiny builds for the module; entries that share weights share a build."""
    return tmp_path_factory.mktemp("tiny-image-edit")


@pytest.mark.parametrize("name", ENTRIES)
def test_an_edit_hands_its_input_to_the_vae_and_keeps_the_fitted_size(name, tiny_cache, tmp_path, red_parrot_png, monkeypatch):
    spec = tiny_spec(name, tiny_cache)
    asked = REQUESTS[name]
    tool = Toolbox(ToolRegistry({name: spec}), device="cpu", cache_dir=tmp_path / "cache").tool(name)
    request = {
        "output_path": str(tmp_path / "out.png"),
        "prompt": PROMPT,
        "height": asked["height"],
        "width": asked["width"],
        "num_inference_steps": 2,
        "seed": 0,
    }
    edits = spec.task == "image_to_image"
    if edits:
        request["image"] = str(red_parrot_png)

    # Count what the VAE encodes: an edit entry must hand the pipeline its input image, which only then
    # reaches the transformer's sequence (Kontext and FLUX.2 would quietly make a new picture without it).
    vae = tool.pipeline().vae
    encoded: list[tuple[int, ...]] = []
    encode = vae.encode

    def counting_encode(x, *args, **kwargs):
        encoded.append(tuple(x.shape))
        return encode(x, *args, **kwargs)

    monkeypatch.setattr(vae, "encode", counting_encode)

    path = tool.invoke(request)

    info = inspect_media(path, "image")
    height, width = expected_size(spec, asked["height"], asked["width"])
    assert (info.width, info.height) == (width, height)
    assert info.frame_count == 1
    assert len(encoded) == (1 if edits else 0)


def _load_tiny(name: str, pipeline_class: str, cache: Path):
    import diffusers

    pipe = getattr(diffusers, pipeline_class).from_pretrained(ensure_demo_pipeline(name, cache))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_kontext_rescales_any_size_to_a_megapixel_without_the_call_style(tiny_cache):
    """Why flux-kontext has its call style: asked for 64x96, FluxKontextPipeline makes 1248x832 (its
    `max_area`, 1024 x 1024, at the same aspect ratio); the style passes the asked area instead."""
    pipe = _load_tiny("tiny-flux-kontext", "FluxKontextPipeline", tiny_cache)
    generator = torch.Generator().manual_seed(0)
    latents = pipe(prompt=PROMPT, height=64, width=96, num_inference_steps=1, generator=generator,
                   output_type="latent").images
    assert latents.shape[1] == (832 // 16) * (1248 // 16)  # packed 2x2 latent tokens of a 1248x832 image

    spec = REGISTRY.get("flux-kontext")
    kwargs = flux_kontext(pipe, {"prompt": PROMPT, "height": 64, "width": 96, "image": None}, spec)
    assert kwargs["max_area"] == 64 * 96
    assert kwargs["guidance_scale"] == spec.call["guidance_scale"]


def test_qwen_image_2_1_makes_sides_of_32_only(tiny_cache):
    """Why the Qwen-Image-2.1 entries' sides are multiples of 32 (a 16x VAE, target tokens grouped 2x2): the
    pipeline rounds anything else down, so 64x80 comes back 64x64."""
    pipe = _load_tiny("tiny-qwen-image-2.1", "QwenImage21Pipeline", tiny_cache)
    image = pipe(prompt=PROMPT, height=64, width=80, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (64, 64)


@pytest.mark.parametrize(
    ("tiny", "pipeline_class", "processor_class"),
    [
        ("tiny-qwen-image-edit-plus", "QwenImageEditPlusPipeline", "Qwen2VLProcessor"),
        ("tiny-qwen-image-2.1", "QwenImage21Pipeline", "Qwen3VLProcessor"),
    ],
)
def test_tiny_qwen_processors_are_the_real_ones_without_video(tiny, pipeline_class, processor_class,
                                                              tiny_cache):
    """transformers builds Qwen2VLProcessor and Qwen3VLProcessor only with torchvision (their video part); the
    tiny builds save subclasses without it, which load from the saved folder and expand an image into as many
    placeholder tokens as the vision tower makes."""
    import transformers
    from PIL import Image

    processor = _load_tiny(tiny, pipeline_class, tiny_cache).processor
    assert isinstance(processor, getattr(transformers, processor_class))
    assert processor.get_attributes() == ["image_processor", "tokenizer"]
    inputs = processor(text=["<|vision_start|><|image_pad|><|vision_end|>a parrot"],
                       images=[Image.new("RGB", (128, 96))], return_tensors="pt")
    merge = processor.image_processor.merge_size
    placeholders = int((inputs["input_ids"] == processor.image_token_id).sum())
    assert placeholders == int(inputs["image_grid_thw"].prod()) // merge**2
