"""The tiny demo pipelines: build in code -> save_pretrained -> PipelineClass.from_pretrained -> 2-step call.

Each pipeline must come back from disk through the ordinary diffusers loading path and produce 64x64 RGB
output (8 frames for the video tasks) on CPU, without downloading anything.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

import diffusers

from spagent_graph.tool_adapters.demo_pipelines import DEMO_PIPELINES, build_demo_pipeline  # noqa: E402

SIZE = 64
NUM_FRAMES = 8
TASKS = {"text_to_video", "image_to_video", "video_to_video", "text_to_image", "image_to_image"}
VIDEO_TASKS = {"text_to_video", "image_to_video", "video_to_video"}


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8), mode="RGB")


def _call_kwargs(spec, output_type: str) -> dict:
    kwargs = dict(spec.call_kwargs)
    kwargs.update(
        num_inference_steps=2,
        generator=torch.Generator(device="cpu").manual_seed(0),
        output_type=output_type,
    )
    if spec.takes_prompt:
        kwargs["prompt"] = "a red fox running through snow"
    if spec.input_arg == "image":
        kwargs["image"] = _image(0)
    elif spec.input_arg == "video":
        kwargs["video"] = [_image(i) for i in range(NUM_FRAMES)]
    if spec.accepts_num_frames:
        kwargs["num_frames"] = NUM_FRAMES
    if spec.accepts_size:
        kwargs.update(height=SIZE, width=SIZE)
    return kwargs


def test_two_demo_pipelines_per_task():
    assert {spec.task for spec in DEMO_PIPELINES.values()} == TASKS
    per_task = Counter(spec.task for spec in DEMO_PIPELINES.values())
    assert all(count == 2 for count in per_task.values()), per_task
    for task in TASKS:
        classes = {spec.pipeline_class for spec in DEMO_PIPELINES.values() if spec.task == task}
        assert len(classes) == 2, (task, classes)
    for name, spec in DEMO_PIPELINES.items():
        assert spec.name == name
        assert spec.output_attr == ("frames" if spec.task in VIDEO_TASKS else "images")


def test_unknown_name_is_rejected(tmp_path):
    with pytest.raises(KeyError):
        build_demo_pipeline("demo-does-not-exist", tmp_path)


@pytest.mark.parametrize("name", sorted(DEMO_PIPELINES))
def test_demo_pipeline_loads_and_runs(name, tmp_path):
    spec = DEMO_PIPELINES[name]
    # A class that diffusers no longer ships breaks the demo registry: a failure, not a skip.
    assert hasattr(diffusers, spec.pipeline_class), f"diffusers {diffusers.__version__} lacks {spec.pipeline_class}"

    dest = tmp_path / name
    assert build_demo_pipeline(name, dest, seed=0) == dest
    assert (dest / "model_index.json").is_file()

    pipe = getattr(diffusers, spec.pipeline_class).from_pretrained(dest)
    assert type(pipe).__name__ == spec.pipeline_class
    pipe.set_progress_bar_config(disable=True)

    # numpy output: one batch entry, (frames,) 64x64, 3 channels, values in [0, 1].
    result = np.asarray(getattr(pipe(**_call_kwargs(spec, "np")), spec.output_attr))
    if spec.task in VIDEO_TASKS:
        assert result.shape == (1, NUM_FRAMES, SIZE, SIZE, 3)
    else:
        assert result.shape == (1, SIZE, SIZE, 3)
    assert np.isfinite(result).all()
    assert result.min() >= 0.0 and result.max() <= 1.0

    # PIL output, as the adapter will write it to an MP4 / PNG.
    result = getattr(pipe(**_call_kwargs(spec, "pil")), spec.output_attr)
    assert len(result) == 1
    images = result[0] if spec.task in VIDEO_TASKS else [result[0]]
    assert len(images) == (NUM_FRAMES if spec.task in VIDEO_TASKS else 1)
    for image in images:
        assert isinstance(image, Image.Image)
        assert image.size == (SIZE, SIZE) and image.mode == "RGB"


def test_build_is_seeded(tmp_path):
    weights = "unet/diffusion_pytorch_model.safetensors"
    first = build_demo_pipeline("demo-sd", tmp_path / "a", seed=0) / weights
    again = build_demo_pipeline("demo-sd", tmp_path / "b", seed=0) / weights
    other = build_demo_pipeline("demo-sd", tmp_path / "c", seed=1) / weights
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_ensure_demo_pipeline_builds_once(tmp_path):
    from spagent_graph.tool_adapters.demo_pipelines import STAMP_FILE, ensure_demo_pipeline

    path = ensure_demo_pipeline("demo-sd", tmp_path)
    assert path == tmp_path / "demo-sd" and (path / "model_index.json").is_file()
    stamp = path / STAMP_FILE
    built_at = stamp.stat().st_mtime_ns
    assert ensure_demo_pipeline("demo-sd", tmp_path) == path
    assert stamp.stat().st_mtime_ns == built_at  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == ["demo-sd"]  # no staging folder left behind

    stamp.write_text("{}")  # a stale or foreign build is replaced
    assert ensure_demo_pipeline("demo-sd", tmp_path) == path
    assert stamp.read_text() != "{}"
    assert diffusers.StableDiffusionPipeline.from_pretrained(path) is not None


def test_the_demo_pipelines_package_is_in_the_wheel():
    """demo_pipelines is a package; pyproject.toml lists packages explicitly, so it must name it too, or a
    non-editable install lacks it and every `demo://` tool fails to load."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "spagent_graph.tool_adapters.demo_pipelines" in pyproject["tool"]["setuptools"]["packages"]
