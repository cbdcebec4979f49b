"""benchmarks/real_size.py builds each of its library entries at the published size: on the meta device
(no memory, seconds), every component the entry's `parameters` lists has that many parameters within
0.5%, the pipeline is the entry's `pipeline` class, every weight lies on the device asked for in the
dtype asked for (or the one the entry's `torch_dtype` keeps for that component), and the entry's scheduler
settings are applied.  So the registry's counts and the GPU benchmarks' models agree with each other.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import real_size
from spagent_graph.tool_adapters.registry import ToolRegistry

LIBRARY = ToolRegistry.from_yaml("library")
ENTRIES = (
    "wan22-5b-t2v", "wan22-5b-i2v", "wan22-a14b-t2v", "wan22-a14b-i2v",
    "skyreels-v2-t2v", "skyreels-v2-df", "skyreels-v2-i2v",
    "kandinsky5-t2v", "kandinsky5-i2v",
    "sana-video", "sana-video-i2v",
    "ltx-2", "ltx-2-i2v",
    "hunyuanvideo-1.5", "hunyuanvideo-1.5-i2v",
)
#: The registry's counts have four or five significant digits; a wrong layer count or width is off by more.
TOLERANCE = 0.005


def test_every_entry_has_a_builder():
    assert set(real_size.BUILDERS) == set(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES)
def test_real_size_build_matches_the_registry(entry: str):
    spec = LIBRARY.get(entry)
    pipeline = real_size.build(entry, "meta", torch.bfloat16)

    assert type(pipeline).__name__ == spec.pipeline
    assert isinstance(spec.parameters, dict), f"{entry} gives no per-component parameter counts"
    counts = real_size.parameter_counts(pipeline)
    wrong = {
        name: counts.get(name, "absent")
        for name, expected in spec.parameters.items()
        if name not in counts or abs(counts[name] / expected - 1) > TOLERANCE
    }
    assert not wrong, f"{entry}: built {wrong}, registry {spec.parameters}"

    # Nothing was created anywhere else (a CPU tensor would show here), nor in another dtype.
    kept = spec.torch_dtype if isinstance(spec.torch_dtype, dict) else {}
    for name in counts:
        wanted = getattr(torch, kept[name]) if kept.get(name, "auto") != "auto" else torch.bfloat16
        module = pipeline.components[name]
        assert {p.device.type for p in module.parameters()} == {"meta"}, name
        float32 = {id(p) for p in real_size.kept_in_float32(module)}  # as from_pretrained keeps them
        assert {p.dtype for p in module.parameters() if id(p) not in float32} == {wanted}, name
        assert all(p.dtype == torch.float32 for p in real_size.kept_in_float32(module)), name
    assert torch.get_default_dtype() == torch.float32

    for name, component in spec.components.items():
        if component.cls.endswith("Scheduler"):
            scheduler = pipeline.components[name]
            assert type(scheduler).__name__ == component.cls
            assert {key: scheduler.config[key] for key in component.config} == component.config


def test_build_restores_the_default_dtype_when_a_builder_fails(monkeypatch: pytest.MonkeyPatch):
    def failing():
        with real_size._modules():
            assert torch.get_default_dtype() == torch.bfloat16
            raise RuntimeError("builder failed")

    monkeypatch.setitem(real_size.BUILDERS, "ltx-2", failing)
    with pytest.raises(RuntimeError, match="builder failed"):
        real_size.build("ltx-2", "meta", torch.bfloat16)
    assert torch.get_default_dtype() == torch.float32
    assert torch.empty(1).device.type == "cpu"


def test_a_random_build_has_blocks_its_output_depends_on():
    """Kandinsky 5 starts its adaLN modulations at zero, which gates every block's residual to nothing: built
    fresh, its output ignored the blocks, and FP8 on them read 100 dB against the plain output. Revived, a
    change inside one block reaches the output; the scheduler and other non-modules are left alone."""
    from diffusers import Kandinsky5Transformer3DModel

    torch.manual_seed(0)
    model = Kandinsky5Transformer3DModel(
        in_visual_dim=4, out_visual_dim=4, in_text_dim=8, in_text_dim2=8, time_dim=16, patch_size=(1, 2, 2),
        model_dim=32, ff_dim=64, num_text_blocks=1, num_visual_blocks=2, axes_dims=(4, 6, 6),
        visual_cond=False, attention_type="regular").eval()
    frames, height, width = 2, 4, 4
    inputs = dict(
        hidden_states=torch.randn(1, frames, height, width, 4), encoder_hidden_states=torch.randn(1, 5, 8),
        pooled_projections=torch.randn(1, 8), timestep=torch.tensor([500.0]), text_rope_pos=torch.arange(5),
        visual_rope_pos=[torch.arange(frames), torch.arange(height // 2), torch.arange(width // 2)])
    feed_forward = model.visual_transformer_blocks[1].feed_forward.out_layer.weight

    def moved_by_the_block() -> float:
        with torch.no_grad():
            before = model(**inputs).sample
            saved = feed_forward.detach().clone()
            feed_forward.add_(0.5)
            after = model(**inputs).sample
            feed_forward.copy_(saved)
        return float((after - before).abs().max())

    assert moved_by_the_block() == 0.0
    pipeline = SimpleNamespace(components={"transformer": model, "scheduler": "not a module"})
    revived = real_size.revive_zeroed_layers(pipeline)
    assert "transformer.visual_transformer_blocks.1.visual_modulation.out_layer" in revived
    assert "transformer.out_layer.modulation.out_layer" in revived
    assert moved_by_the_block() > 1e-3
    assert real_size.revive_zeroed_layers(pipeline) == []
