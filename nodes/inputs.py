"""Check the request and find out what its visual input really is."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from pydantic import AnyUrl, ValidationError

from spagent_graph.artifacts import ArtifactStore
from spagent_graph.context import Context
from spagent_graph.conversation import read_turn, turn_options, turn_request, unanswered_message
from spagent_graph.services import Services
from spagent_graph.errors import InputError
from spagent_graph.fetch import fetch_allowed
from spagent_graph.media import inspect_request_visual
from spagent_graph.state import Request, State


def inspect_inputs(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    run_id = uuid.uuid4().hex[:12]
    store = services.artifacts(context)
    # A refused input leaves nothing behind: the run's folder goes unless it was there before.
    had_folder = (store.root / run_id).exists()
    try:
        return _inspected(state, context, store, run_id)
    except InputError:
        if not had_folder:
            shutil.rmtree(store.root / run_id, ignore_errors=True)
        raise


def _inspected(state: State, context: Context, store: ArtifactStore, run_id: str) -> dict:
    inputs = store.root / run_id / "inputs"  # files the run fetched or was given inline: its own
    message = unanswered_message(state)
    turn: dict = {}
    if message is not None:
        request, source, own = turn_request(
            read_turn(message), state, options=turn_options(state, state.get("options")), folder=inputs,
            max_bytes=context.max_download_bytes, own_root=Path(context.artifacts_dir))
        turn = {"turn_message_id": message.id, "input_source": source}
    else:
        request, own = _as_request(state.get("request")), set()
        turn = {"input_source": _in_words(request)}
    request = request.sized_for(context.registry)
    if not (request.text and request.text.strip()) and request.image is None and request.video is None:
        raise InputError("request", "is empty; give `text`, `image` or `video` (or text with one of them).")
    if request.image is not None and request.video is not None:
        raise InputError("request", "has both `image` and `video`; give one visual input.")
    for name in ("image", "video"):
        value = getattr(request, name)
        if isinstance(value, AnyUrl):
            local = fetch_allowed(str(value), name, context.allowed_url_prefixes, inputs,
                                  max_bytes=context.max_download_bytes)
            request = request.model_copy(update={name: local})
        elif value is not None and name not in own and context.input_root is not None:
            # A relative path names a file in the input folder (served: the upload's answer).
            path = Path(context.input_root) / value
            _inside_root(name, path, Path(context.input_root))
            request = request.model_copy(update={name: path})
    visual = inspect_request_visual(request, max_side=context.max_input_side, max_frames=context.max_input_frames)
    return {"request": request, "visual": visual, **new_run(run_id, context), **turn}


def _in_words(request: Request) -> str:
    given = [name for name in ("text", "image", "video") if getattr(request, name)]
    return "your " + " and ".join(given) if given else "your request"


def new_run(run_id: str, context: Context) -> dict:
    """The update that starts a run on a thread: a new id, its reviews, and nothing left of the run before.

    The lists the routes append to are replaced, not appended to, so a candidate can
    only ever meet its own run's evaluation.
    """
    reviews = [name for name, wanted in (("plan", context.review_plan), ("winner", context.pick_winner)) if wanted]
    return {"run_id": run_id, "intent": None, "route_plan": None, "model_plan": None, "choice": None,
            "cancelled": False, "strength_updates": [], "candidates": Overwrite([]), "evaluations": Overwrite([]),
            "decisions": Overwrite([]), "manifest": None, "reviews": reviews, "report_url": None, "started_at": time.time()}


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
        raise InputError("request", "is missing; invoke the graph with {'request': {...}} or with `messages` "
                         "whose last human message is a new turn.")
    try:
        return Request.model_validate(value)
    except ValidationError as exc:
        raise InputError("request", f"is not a valid request:\n{exc}") from exc
