"""Which class runs a registry entry in this process, by the entry's `adapter`.

The toolbox builds its tools here, and so does a Ray Serve replica, which runs
one entry in process where the replica lives.
"""

from __future__ import annotations

from pathlib import Path

from .base import GenerativeTool
from .diffusers_adapter import DiffusersTool
from .pool import PipelinePool
from .registry import ToolSpec
from .research_repo import ResearchRepoTool

__all__ = ["ADAPTERS", "DEFAULT_CACHE_DIR", "in_process_tool"]

# Where built demo pipelines and other derived files go when no `cache_dir` is given.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "spagent_graph"

ADAPTERS: dict[str, type[GenerativeTool]] = {"diffusers": DiffusersTool, "research_repo": ResearchRepoTool}


def in_process_tool(spec: ToolSpec, *, device: str, cache_dir: Path | None, pool: PipelinePool) -> GenerativeTool:
    return ADAPTERS[spec.adapter](spec, device=device, cache_dir=cache_dir or DEFAULT_CACHE_DIR, pool=pool)
