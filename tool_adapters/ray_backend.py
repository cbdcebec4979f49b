"""Tools served by Ray Serve: the same registry entry, run on a Ray cluster instead of in process.

A registry entry switches backend with one field:

    my-cogvideox:
      task: text_to_video
      pipeline: CogVideoXPipeline
      model: THUDM/CogVideoX-2b
      backend: ray                     # in_process (default) or ray
      ray: {num_gpus: 1, num_replicas: 1}

`deploy_tools(registry)` starts one Serve deployment per `backend: ray`
entry (its GPU needs from `ray:`); each replica builds the entry's ordinary
in-process tool and keeps its pipeline warm. On the caller's side the entry
becomes a `RayServeTool`: the same LangChain tool, args schema and request
fitting, which sends the fitted request through a deployment handle.

Files cross the wire as bytes (input image or video in, artifact out), so
workers need no shared file system. Denoising progress stays on the worker
(the caller sees a step when the call returns), and a timeout is enforced on
the caller's wait.

    ray.init(address="ray://head:10001")          # or ray.init() for a local cluster
    deploy_tools(ToolRegistry.from_yaml("my_registry.yaml"))
    graph.invoke(inputs, context=Context(registry="my_registry.yaml"))
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from spagent_graph.errors import ConfigError, ToolTimeoutError
from spagent_graph.manifest import ToolRecord

from .base import GenerationArgs, GenerativeTool, StepControl
from .registry import ToolRegistry, ToolSpec

__all__ = ["RayServeTool", "ToolReplica", "deploy_tools", "deployment_name"]


def deployment_name(spec: ToolSpec) -> str:
    return f"tool-{spec.name}"


class ToolReplica:
    """What one Serve replica runs: the entry's in-process tool, kept warm across calls."""

    def __init__(self, spec: dict, device: str = "auto", cache_dir: str | None = None) -> None:
        from .adapters import in_process_tool
        from .pool import PipelinePool

        in_process = ToolSpec.model_validate({**spec, "backend": "in_process"})
        self.tool = in_process_tool(in_process, device=device, pool=PipelinePool(),
                                    cache_dir=Path(cache_dir) if cache_dir else None)

    def __call__(self, request: dict) -> dict:
        with tempfile.TemporaryDirectory(prefix="spagent-ray-") as scratch:
            scratch = Path(scratch)
            args = dict(request["args"])
            for kind in ("image", "video"):
                if request.get(kind) is not None:
                    path = scratch / f"input{request[f'{kind}_suffix']}"
                    path.write_bytes(request[kind])
                    args[kind] = str(path)
            output = scratch / f"output{self.tool.output_suffix}"
            message = self.tool.invoke({"type": "tool_call", "id": "ray", "name": self.tool.name,
                                        "args": {**args, "output_path": str(output)}})
            return {"artifact": Path(message.content).read_bytes(), "adjustments": message.artifact["adjustments"],
                    "made_with": message.artifact["made_with"]}


class RayServeTool(GenerativeTool):
    """A registry entry with `backend: ray`: called through its Serve deployment."""

    def __init__(self, spec: ToolSpec, **kwargs: Any) -> None:
        for unused in ("pool", "device", "cache_dir"):
            kwargs.pop(unused, None)
        super().__init__(spec, **kwargs)

    def _generate(self, args: GenerationArgs, control: StepControl) -> Path:
        from ray import serve

        request: dict[str, Any] = {"args": args.model_dump(exclude={"output_path", "image", "video"}, mode="json")}
        for kind in ("image", "video"):
            path = getattr(args, kind)
            if path:
                request[kind], request[f"{kind}_suffix"] = Path(path).read_bytes(), Path(path).suffix
        handle = serve.get_deployment_handle(deployment_name(self.spec), app_name=deployment_name(self.spec))
        timeout = self.spec.timeout_s
        try:
            reply = handle.remote(request).result(timeout_s=timeout)
        except TimeoutError as exc:
            raise ToolTimeoutError(self.name, timeout or 0.0) from exc
        output = Path(args.output_path)
        output.write_bytes(reply["artifact"])
        # The replica's account of the pipeline, weights and device it ran on, under this entry.
        control.made_with = ToolRecord.model_validate({**reply["made_with"], "entry": self.spec.model_dump(mode="json")})
        control.step(1, 1)
        return output


def deploy_tools(registry: ToolRegistry, *, device: str = "auto", cache_dir: str | None = None) -> list[str]:
    """Starts (or updates) one Serve deployment per `backend: ray` entry; returns their names.

    Needs a running Ray (`ray.init(...)`); each tool is a Serve application of its own name.
    """
    from ray import serve

    specs = [spec for spec in registry if spec.backend == "ray"]
    if not specs:
        raise ConfigError("deploy_tools: the registry has no entry with `backend: ray`.")
    for spec in specs:
        options = spec.ray.model_dump()
        deployment = serve.deployment(
            ToolReplica,
            name=deployment_name(spec),
            num_replicas=options.pop("num_replicas"),
            max_ongoing_requests=options.pop("max_ongoing_requests"),
            ray_actor_options={k: v for k, v in options.items() if v is not None},
        )
        # One application per tool, so that each can be redeployed on its own.
        serve.run(deployment.bind(spec.model_dump(mode="json", by_alias=True), device, cache_dir),
                  name=deployment_name(spec), route_prefix=None)
    return [deployment_name(spec) for spec in specs]
