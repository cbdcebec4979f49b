"""Registry files: the built-in ones load, and bad entries fail with a message that names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from spagent_graph.errors import ConfigError, UnknownToolError
from spagent_graph.state import TASKS
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox


def test_demo_registry_has_two_tools_for_every_task():
    registry = ToolRegistry.from_yaml("demo")
    assert {task: len(registry.for_task(task)) for task in TASKS} == {task: 2 for task in TASKS}


def test_paper_registry_is_the_papers_tool_set():
    registry = ToolRegistry.from_yaml("paper")
    assert registry.names() == sorted(["animatediff", "latte", "lavie", "opensora", "cogvideox", "svd", "seine",
                                       "dynamicrafter", "tokenflow", "vidtome", "rave", "flatten", "sd3", "pnp"])
    assert all(registry.for_task(task) for task in TASKS)
    assert registry.get("animatediff").components["motion_adapter"].cls == "MotionAdapter"


def test_research_tools_without_a_clone_are_left_out_of_selection(tmp_path: Path):
    toolbox = Toolbox(ToolRegistry.from_yaml("paper"))
    assert toolbox.names_for("image_to_video") == ["svd"]
    assert toolbox.names_for("video_to_video") == []
    configured = ToolRegistry.from_yaml("paper").get("rave").model_copy(update={"repo_dir": str(tmp_path)})
    assert Toolbox(ToolRegistry({"rave": configured})).names_for("video_to_video") == ["rave"]


def test_unknown_tool_names_the_tool_and_lists_the_known_ones():
    registry = ToolRegistry.from_yaml("demo")
    with pytest.raises(UnknownToolError, match=r"Unknown tool `sora` in tool registry .*demo.yaml\. Known tools are: demo-"):
        registry.get("sora")
    with pytest.raises(UnknownToolError, match="`sora`"):
        registry.restricted_to(["demo-svd", "sora"])


def test_missing_registry_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="neither a built-in registry"):
        ToolRegistry.from_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "body, message",
    [
        ("tools: [1, 2]", "must be a mapping with a `tools` mapping"),
        ("tools:\n  x: {task: text_to_sound, pipeline: P, model: m}", "entry `x` is invalid"),
        ("tools:\n  x: {task: text_to_video, pipeline: P, model: m, colour: red}", "entry `x` is invalid"),
        ("tools:\n  x: {task: text_to_video, pipeline: P, model: m, prior_strengths: 5}", "100-2000 scale"),
        ("tools: {x: [", "not valid YAML"),
    ],
)
def test_bad_registry_entries(tmp_path: Path, body: str, message: str):
    path = tmp_path / "registry.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message):
        ToolRegistry.from_yaml(path)


def test_a_pipeline_class_diffusers_does_not_have_is_refused_when_the_tool_is_made(tmp_path: Path):
    path = tmp_path / "registry.yaml"
    path.write_text("tools:\n  x: {task: text_to_video, pipeline: NoSuchPipeline, model: m}")
    with pytest.raises(ConfigError, match="has no pipeline class `NoSuchPipeline`"):
        Toolbox(ToolRegistry.from_yaml(path)).tool("x")


def test_research_registry_entries_are_complete_templates():
    registry = ToolRegistry.from_yaml("research")
    assert registry.names() == ["dynamicrafter", "flatten", "lavie", "opensora", "pnp", "rave", "seine", "tokenflow", "vidtome"]
    toolbox = Toolbox(registry)
    for spec in registry:
        assert spec.adapter == "research_repo" and spec.repo_dir is None  # the user points it at a clone
        toolbox.tool(spec.name)  # placeholders and programs are checked when the tool is made
    assert {spec.task for spec in registry} == {"text_to_video", "image_to_video", "video_to_video", "image_to_image"}


def test_a_registry_can_include_others_extend_them_and_keep_only_some(tmp_path: Path):
    (tmp_path / "mine.yaml").write_text(
        "include: [demo, extra.yaml]\n"
        "only: [demo-svd, my-sd, demo-sd3]\n"
        "tools:\n  demo-sd3: {task: text_to_image, pipeline: StableDiffusion3Pipeline, model: /weights/sd3, size_multiple: 16}\n"
    )
    (tmp_path / "extra.yaml").write_text("tools:\n  my-sd: {task: text_to_image, pipeline: StableDiffusionPipeline, model: /w}\n")
    registry = ToolRegistry.from_yaml(tmp_path / "mine.yaml")
    assert registry.names() == ["demo-sd3", "demo-svd", "my-sd"]
    assert registry.get("demo-sd3").model == "/weights/sd3"  # the including file's entry wins


def test_an_include_cycle_is_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\n")
    with pytest.raises(ConfigError, match="includes itself"):
        ToolRegistry.from_yaml(tmp_path / "a.yaml")


def test_only_naming_an_unknown_tool_is_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("include: [demo]\nonly: [demo-svd, sora]\n")
    with pytest.raises(UnknownToolError, match="`sora`"):
        ToolRegistry.from_yaml(tmp_path / "a.yaml")
