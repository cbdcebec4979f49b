"""The Ray Serve backend on a local CPU Ray (`ray.init(num_cpus=2)`): a demo tool served by
Ray makes the same video as the same tool in process, for the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from spagent_graph.media import read_frames  # noqa: E402
from spagent_graph.tool_adapters.ray_backend import RayServeTool, deploy_tools  # noqa: E402
from spagent_graph.tool_adapters.registry import ToolRegistry  # noqa: E402
from spagent_graph.tool_adapters.toolbox import Toolbox  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()


def registry(backend: str) -> ToolRegistry:
    demo = ToolRegistry.from_yaml("demo")
    return ToolRegistry({name: demo.get(name).model_copy(update={"backend": backend})
                         for name in ("demo-svd", "demo-animatediff")})


def frames_of(path) -> np.ndarray:
    return np.stack([np.asarray(f, dtype=np.int16) for f in read_frames(path)])


def test_a_tool_on_ray_serve_matches_the_same_tool_in_process(local_ray, tmp_path: Path, demo_cache: Path,
                                                             red_parrot_png: Path):
    assert deploy_tools(registry("ray"), device="cpu", cache_dir=str(demo_cache)) == ["tool-demo-svd",
                                                                                      "tool-demo-animatediff"]
    served, local = Toolbox(registry("ray")), Toolbox(registry("in_process"), device="cpu", cache_dir=demo_cache)
    assert isinstance(served.tool("demo-svd"), RayServeTool)
    assert served.tool("demo-svd").args_schema is local.tool("demo-svd").args_schema

    for name, inputs in (("demo-svd", {"image": str(red_parrot_png)}), ("demo-animatediff", {})):
        call = {"prompt": "a red parrot", "num_frames": 6, "height": 60, "width": 64, "fps": 8, "seed": 3, **inputs}
        remote = served.tool(name).invoke({"type": "tool_call", "id": "1", "name": name,
                                           "args": {**call, "output_path": str(tmp_path / f"{name}-ray.mp4")}})
        # Ray's workers run torch on one thread; the same here, so float sums add up in one order.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            here = local.tool(name).invoke({"type": "tool_call", "id": "2", "name": name,
                                            "args": {**call, "output_path": str(tmp_path / f"{name}-local.mp4")}})
        finally:
            torch.set_num_threads(threads)
        assert remote.artifact["adjustments"] == here.artifact["adjustments"]  # the same fitting notes (60 -> 56 rows)
        assert remote.artifact["options"] == here.artifact["options"]
        # The manifest's record of the tool comes from the replica that ran it, under the ray entry.
        made_remote, made_here = remote.artifact["made_with"], here.artifact["made_with"]
        assert made_remote["entry"]["backend"] == "ray" and made_here["entry"]["backend"] == "in_process"
        assert {k: v for k, v in made_remote.items() if k != "entry"} == {k: v for k, v in made_here.items() if k != "entry"}
        a, b = frames_of(remote.content), frames_of(here.content)
        assert a.shape == b.shape == (6, 56, 64, 3)
        assert np.array_equal(a, b)


def test_a_graph_runs_with_ray_tools(local_ray, tmp_path: Path, demo_cache: Path):
    import yaml

    from spagent_graph import Context, build_graph

    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"include": ["demo"], "tools": {
        "demo-animatediff": {**yaml.safe_load((Path(__file__).parents[2] / "tool_adapters/registries/demo.yaml")
                                              .read_text())["tools"]["demo-animatediff"], "backend": "ray"}}}))
    deploy_tools(ToolRegistry.from_yaml(path), device="cpu", cache_dir=str(demo_cache))
    context = Context(mllm_url=None, registry=str(path), device="cpu", cache_dir=str(demo_cache),
                      artifacts_dir=str(tmp_path / "runs"), tools=["demo-animatediff", "demo-sd3", "demo-svd"])
    result = build_graph().invoke({"request": {"text": "a fox", "options": {"num_frames": 4, "height": 64,
                                                                            "width": 64}}}, context=context)
    assert {c.tools for c in result["candidates"]} == {("demo-animatediff",), ("demo-sd3", "demo-svd")}
    assert all(c.video is not None for c in result["candidates"])
