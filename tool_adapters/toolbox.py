"""One tool object per registry entry, created on first use and then kept.

All tools of a toolbox share one `PipelinePool`, so a tool loads its weights
once per process however many steps, routes and requests use it, and the
pool can evict across tools when a GPU fills.
"""

from __future__ import annotations

import threading
from pathlib import Path

from spagent_graph.state import Task

from .adapters import DEFAULT_CACHE_DIR, in_process_tool
from .base import GenerativeTool
from .pool import PipelinePool
from .registry import ToolRegistry

__all__ = ["Toolbox"]


class Toolbox:
    def __init__(
        self,
        registry: ToolRegistry,
        *,
        device: str = "auto",
        cache_dir: Path | None = None,
        pool: PipelinePool | None = None,
    ) -> None:
        self.registry = registry
        self.device = device
        self.pool = pool or PipelinePool()
        self.cache_dir = cache_dir or DEFAULT_CACHE_DIR
        self._tools: dict[str, GenerativeTool] = {}
        self._lock = threading.Lock()

    def tool(self, name: str) -> GenerativeTool:
        with self._lock:
            if name not in self._tools:
                spec = self.registry.get(name)
                if spec.backend == "ray":
                    from .ray_backend import RayServeTool  # Ray is needed only where a tool uses it

                    self._tools[name] = RayServeTool(spec)
                else:
                    self._tools[name] = in_process_tool(spec, device=self.device, cache_dir=self.cache_dir,
                                                        pool=self.pool)
            return self._tools[name]

    def names_for(self, task: Task) -> list[str]:
        """Tools that can run `task` now: a research-repository tool needs its clone configured."""
        return sorted(spec.name for spec in self.registry.for_task(task) if spec.is_runnable)

    def unload_all(self) -> None:
        self.pool.clear()
