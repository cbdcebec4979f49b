"""The two-candidate requests of benchmarks/two_candidates_gpu.py build every model at its published size:
Qwen-Image-2.1 (route 2's first frame) matches the registry's parameter counts on the meta device, and an
image-to-video entry on the same weights as a text-to-video one holds the same modules, as the tool's pool
shares them, with its own scheduler and pipeline settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import real_size
from spagent_graph.tool_adapters.registry import ToolRegistry

LIBRARY = ToolRegistry.from_yaml("library")


def test_qwen_image_21_is_built_at_the_registrys_size():
    spec = LIBRARY.get("qwen-image-2.1")
    pipeline = real_size.build("qwen-image-2.1", "meta", torch.bfloat16)
    assert type(pipeline).__name__ == spec.pipeline
    counts = real_size.parameter_counts(pipeline)
    for name, expected in spec.parameters.items():
        assert counts[name] == pytest.approx(expected, rel=0.005), name
    assert {p.device.type for m in (pipeline.transformer, pipeline.text_encoder) for p in m.parameters()} == {"meta"}


@pytest.mark.parametrize("text_to_video, image_to_video", [("wan22-5b-t2v", "wan22-5b-i2v"), ("ltx-2", "ltx-2-i2v")])
def test_an_entry_on_the_same_weights_shares_the_modules(text_to_video: str, image_to_video: str):
    base = real_size.build(text_to_video, "meta", torch.bfloat16)
    sibling = real_size.sibling(base, image_to_video)
    assert type(sibling).__name__ == LIBRARY.get(image_to_video).pipeline
    assert sibling.transformer is base.transformer and sibling.vae is base.vae
    assert sibling.text_encoder is base.text_encoder and sibling.scheduler is not base.scheduler
    if text_to_video.startswith("wan22"):
        assert sibling.config.expand_timesteps  # TI2V-5B's image goes into the first latent frame


def test_every_request_preset_names_buildable_entries():
    import two_candidates_gpu

    buildable = {*real_size.BUILDERS, *real_size.IMAGE_BUILDERS, *two_candidates_gpu.MODELS}
    for preset in two_candidates_gpu.PRESETS.values():
        names = {preset["route1"], *preset["route2"], preset["plain"]}
        assert names <= buildable, names - buildable
        assert LIBRARY.get(preset["route2"][0]).task == "text_to_image"
        assert LIBRARY.get(preset["route2"][1]).task == "image_to_video"
