"""How a diffusers pipeline is called, by registry `call_style`.

Most pipelines take our standard arguments under their usual names, and
`generic` passes those their `__call__` accepts. A pipeline that needs more
than a call (an inversion first, renamed arguments) gets a style here, named
in its registry entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .registry import ToolSpec

__all__ = ["CALL_STYLES", "CallStyle", "generic"]

CallStyle = Callable[[Any, dict[str, Any], ToolSpec], dict[str, Any]]


def generic(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """The offered arguments that `pipeline.__call__` takes, then the entry's fixed `call` arguments."""
    accepted = inspect.signature(pipeline.__call__).parameters
    kwargs = {k: v for k, v in offered.items() if k in accepted and v is not None}
    kwargs.update(spec.call)
    return kwargs


CALL_STYLES: dict[str, CallStyle] = {"generic": generic}
