"""One tool object per registry entry, created on first use and then kept.

Keeping the object keeps its loaded pipeline, so a tool loads its weights
once per process however many steps, routes and requests use it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from spagent_graph.state import Task

from .base import GenerativeTool
from .diffusers_adapter import DiffusersTool
from .registry import ToolRegistry

__all__ = ["ADAPTERS", "Toolbox"]

ADAPTERS: dict[str, type[GenerativeTool]] = {"diffusers": DiffusersTool}


class Toolbox:
    def __init__(self, registry: ToolRegistry, *, device: str = "auto", cache_dir: Path | None = None) -> None:
        self.registry = registry
        self.device = device
        self.cache_dir = cache_dir or Path.home() / ".cache" / "spagent_graph"
        self._tools: dict[str, GenerativeTool] = {}
        self._lock = threading.Lock()

    def tool(self, name: str) -> GenerativeTool:
        with self._lock:
            if name not in self._tools:
                spec = self.registry.get(name)
                self._tools[name] = ADAPTERS[spec.adapter](spec, device=self.device, cache_dir=self.cache_dir)
            return self._tools[name]

    def names_for(self, task: Task) -> list[str]:
        return sorted(spec.name for spec in self.registry.for_task(task))

    def unload_all(self) -> None:
        with self._lock:
            for tool in self._tools.values():
                tool.unload()
