"""Check the request and find out what its visual input really is."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from pydantic import AnyUrl, ValidationError

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.errors import InputError
from spagent_graph.fetch import fetch_allowed
from spagent_graph.media import inspect_request_visual
from spagent_graph.state import Request, State


def inspect_inputs(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    request = _as_request(state.get("request"))
    if not (request.text and request.text.strip()) and request.image is None and request.video is None:
        raise InputError("request", "is empty; give `text`, `image` or `video` (or text with one of them).")
    if request.image is not None and request.video is not None:
        raise InputError("request", "has both `image` and `video`; give one visual input.")
    run_id = uuid.uuid4().hex[:12]
    for name in ("image", "video"):
        value = getattr(request, name)
        if isinstance(value, AnyUrl):
            # Fetched files are the run's own, so the input folder rule does not apply to them.
            folder = services.artifacts(context).run_dir(run_id) / "inputs"
            local = fetch_allowed(str(value), name, context.allowed_url_prefixes, folder,
                                  max_bytes=context.max_download_bytes)
            request = request.model_copy(update={name: local})
        elif value is not None and context.input_root is not None:
            # A relative path names a file in the input folder (served: the upload's answer).
            path = Path(context.input_root) / value
            _inside_root(name, path, Path(context.input_root))
            request = request.model_copy(update={name: path})
    visual = inspect_request_visual(request, max_side=context.max_input_side, max_frames=context.max_input_frames)
    return {"request": request, "visual": visual, **new_run(run_id, context)}


def new_run(run_id: str, context: Context) -> dict:
    """The update that starts a run on a thread: a new id, its reviews, and nothing left of the run before.

    The lists the routes append to are replaced, not appended to, so a candidate can
    only ever meet its own run's evaluation.
    """
    reviews = [name for name, wanted in (("plan", context.review_plan), ("winner", context.pick_winner)) if wanted]
    return {"run_id": run_id, "intent": None, "route_plan": None, "model_plan": None, "choice": None,
            "cancelled": False, "strength_updates": [], "candidates": Overwrite([]), "evaluations": Overwrite([]),
            "decisions": Overwrite([]), "reviews": reviews, "report_url": None}


def _inside_root(name: str, path: Path, root: Path) -> None:
    """Refuses a path outside the allowed folder, also one that gets out through a symbolic link."""
    resolved, allowed = path.resolve(), root.resolve()
    if not resolved.is_relative_to(allowed):
        # Inside by its name (`..` taken away, links not followed), outside once links are followed.
        lexical = Path(os.path.normpath(path.absolute()))
        how = " (through a symbolic link)" if lexical.is_relative_to(allowed) else ""
        raise InputError(name, f"is outside the allowed input folder {allowed}{how}.", path)


def _as_request(value) -> Request:
    if isinstance(value, Request):
        return value
    if value is None:
        raise InputError("request", "is missing; invoke the graph with {'request': {...}}.")
    try:
        return Request.model_validate(value)
    except ValidationError as exc:
        raise InputError("request", f"is not a valid request:\n{exc}") from exc
