"""Serving the graph to remote callers: who they are, what they may set, and their files.

`langgraph.json` points LangGraph's server at three objects of `server.py`,
all made here from one `Deployment` (the operator's settings):

- `auth`: bearer tokens name the caller (`serve_tokens_file`, a JSON object
  `{"<token>": "<user id>"}`); threads and runs carry their owner and are
  visible to nobody else (another user gets 404). A run's context may set
  only the run options; a context naming any other setting, or no setting
  at all, is refused with 422 before the run is created, and so is a request
  over the operator's size limits. Deleting a thread deletes its files.
- `app`: `GET /artifacts/<path>` serves the caller's own run files (the
  `video_url` of candidates and of the choice), `POST /uploads?name=F`
  stores an image or video in the caller's input folder after the same
  checks as any input, and answers with the path to put in a request.
- the graph's `Services(deployment=...)`: each run starts from the caller's
  settings: their own artifacts folder (a folder per thread), input folder
  (the only place inputs are read from) and, unless the operator shares
  learning, their own store.

To use your own identity provider, write an `Auth` with your own
`@auth.authenticate` (returning `{"identity": ...}`) and add ours on top:
`add_authorization(auth, deployment)`; point `langgraph.json`'s `auth.path`
at it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.runtime import Runtime

from ..admission import FairTurns
from ..context import Context, refuse_operator_settings
from ..errors import ConfigError, InputError, SettingError, SpagentError
from ..services import Services
from ..state import GenerationOptions, State

if TYPE_CHECKING:
    from langgraph_sdk import Auth

    from ..settings import Settings

__all__ = ["CallerPaths", "Deployment", "add_authorization", "make_app", "make_auth", "publish_report"]

ARTIFACTS_ROUTE = "/artifacts"
UPLOADS_ROUTE = "/uploads"


class Deployment:
    """The operator's settings, and each caller's share of them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        operator = settings.context()
        self.artifacts_root = Path(operator.artifacts_dir).resolve() / "users"
        # Served, inputs must come from an input folder: the operator's, or one beside the artifacts.
        self.inputs_root = Path(operator.input_root or Path(operator.artifacts_dir) / "inputs").resolve()
        self.inputs_root.mkdir(parents=True, exist_ok=True)
        self.operator = operator
        self.tokens = _read_tokens(settings.serve_tokens_file)
        # Tool calls of every caller's runs take turns here (see `serve_turns_at_once`).
        self.turns = FairTurns(settings.serve_turns_at_once)

    @staticmethod
    def folder_of(identity: str) -> str:
        """A folder name for a user: readable, and distinct for distinct identities."""
        readable = re.sub(r"[^A-Za-z0-9._-]", "_", identity)[:40]
        return f"{readable}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"

    def artifacts_of(self, identity: str) -> Path:
        return self.artifacts_root / self.folder_of(identity)

    def inputs_of(self, identity: str) -> Path:
        folder = self.inputs_root / self.folder_of(identity)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def threads_of(self, identity: str) -> Path:
        return self.artifacts_of(identity) / "threads"

    def context_for(self, identity: str | None, thread_id: str | None = None) -> Context:
        """The settings a user's run starts from; its files go in the folder of its thread."""
        if identity is None:
            raise ConfigError("a served run has no authenticated user; is `auth` set in langgraph.json?")
        store = self.operator.store_path
        if store is not None and not self.settings.serve_shared_learning:
            path = Path(store)
            store = str(path.with_name(f"{path.stem}.{self.folder_of(identity)}{path.suffix or '.db'}"))
        artifacts = self.threads_of(identity) / thread_folder(thread_id) if thread_id else self.artifacts_of(identity)
        return self.operator.changed(artifacts_dir=str(artifacts), input_root=str(self.inputs_of(identity)),
                                     store_path=store)

    def remove_thread_files(self, identity: str, thread_id: Any) -> None:
        """Deletes the files of a user's thread: only under that user's own folder."""
        folder = self.threads_of(identity) / thread_folder(thread_id)
        shutil.rmtree(folder, ignore_errors=True)

    def check_request_size(self, inputs: Any) -> None:
        """Refuses a request over the operator's limits on steps, frames and pixels, before it is queued.

        A request that is not even well formed passes here: its run fails on it, with the
        error the graph gives any caller."""
        if not isinstance(inputs, dict):
            return
        request = inputs.get("request")
        for given in (request.get("options") if isinstance(request, dict) else None, inputs.get("options")):
            try:
                options = GenerationOptions.model_validate(given or {})
            except ValueError:
                continue
            self._check_options(options)

    def _check_options(self, options: GenerationOptions) -> None:
        limits = self.settings
        asked = (("num_inference_steps", options.num_inference_steps, limits.serve_max_steps, "serve_max_steps"),
                 ("num_frames", options.num_frames, limits.serve_max_frames, "serve_max_frames"),
                 ("height x width", options.height * options.width, limits.serve_max_pixels, "serve_max_pixels"))
        for name, value, limit, setting in asked:
            if value is not None and limit is not None and value > limit:
                raise InputError(f"options.{name}", f"is {value}; this server takes at most {limit} a request "
                                 f"(its `{setting}`).")

    def public_path(self, path: Path) -> str | None:
        """The server path of a run's file, for its owner: under the artifacts route, relative to the owner's folder."""
        try:
            relative = Path(path).resolve().relative_to(self.artifacts_root)
        except ValueError:
            return None
        return f"{ARTIFACTS_ROUTE}/{Path(*relative.parts[1:]).as_posix()}"


def thread_folder(thread_id: Any) -> str:
    """A thread's folder name: its id, read as a UUID so that no id can name a path."""
    try:
        return str(uuid.UUID(str(thread_id)))
    except ValueError as exc:
        raise InputError("thread_id", f"is {thread_id!r}; expected a thread's UUID.") from exc


def _read_tokens(path: str | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        tokens = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingError("serve_tokens_file", f"is {path!r}, which cannot be read as JSON ({exc}).",
                           "the server's settings") from exc
    if not isinstance(tokens, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()):
        raise SettingError("serve_tokens_file", f"is {path!r}; expected a JSON object of token -> user id.",
                           "the server's settings")
    return tokens


def make_auth(deployment: Deployment) -> Auth:
    """Bearer tokens from the operator's file, then our authorization rules."""
    from langgraph_sdk import Auth

    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
        scheme, _, token = (authorization or "").partition(" ")
        identity = deployment.tokens.get(token) if scheme.lower() == "bearer" else None
        if identity is None:
            hint = "" if deployment.tokens else " (the server has no tokens: set serve_tokens_file)"
            raise Auth.exceptions.HTTPException(status_code=401, detail=f"a valid bearer token is needed{hint}.")
        return {"identity": identity}

    add_authorization(auth, deployment)
    return auth


def add_authorization(auth: Auth, deployment: Deployment) -> None:
    """Owners see only their own threads and runs; callers set only run options; assistants are read-only."""
    from langgraph_sdk import Auth

    def owned(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            # In place: the server keeps its own reference to this dict, even an empty one.
            if value.get("metadata") is None:
                value["metadata"] = {}
            value["metadata"]["owner"] = ctx.user.identity
        return {"owner": ctx.user.identity}

    @auth.on
    async def only_the_owner(ctx: Auth.types.AuthContext, value: Any) -> dict[str, str]:
        return owned(ctx, value)

    @auth.on.threads.create_run
    async def only_run_options(ctx: Auth.types.AuthContext, value: Auth.types.RunsCreate) -> dict[str, str]:
        kwargs = value.get("kwargs") or {}
        given = kwargs.get("context") or {}
        configurable = (kwargs.get("config") or {}).get("configurable") or {}
        if given and not configurable.get("__context_provided__"):
            # The server made this context from the run's `configurable`, where a parent system
            # (a `RemoteGraph` in it, say) keeps keys of its own: only ours are read, in place,
            # since the server keeps this dict as the run's context.
            for name in [name for name in given if name not in Context.model_fields]:
                del given[name]
        try:
            refuse_operator_settings(given, "the run's context")
            deployment.check_request_size(kwargs.get("input"))
        except SpagentError as exc:
            raise Auth.exceptions.HTTPException(status_code=422, detail=str(exc)) from exc
        limit = deployment.settings.serve_max_runs_per_caller
        if limit is not None:
            in_flight = await runs_in_flight(ctx.user.identity)
            if in_flight >= limit:
                raise Auth.exceptions.HTTPException(status_code=429, detail=(
                    f"you have {in_flight} runs waiting or running; this server takes at most {limit} a caller "
                    f"at once (its `serve_max_runs_per_caller`). Send this one when one of them has finished."))
        return owned(ctx, value)

    @auth.on.threads.delete
    async def files_go_with_the_thread(ctx: Auth.types.AuthContext, value: Auth.types.ThreadsDelete) -> dict[str, str]:
        # Only the caller's own folder is touched, so a thread id of someone else's removes nothing.
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(deployment.remove_thread_files, ctx.user.identity, value.get("thread_id"))
        except InputError as exc:
            raise Auth.exceptions.HTTPException(status_code=422, detail=str(exc)) from exc
        return owned(ctx, value)

    @auth.on.assistants
    async def assistants_are_the_operators(ctx: Auth.types.AuthContext, value: Any) -> None:
        if ctx.action not in ("read", "search"):
            raise Auth.exceptions.HTTPException(status_code=403, detail="assistants are set up by the operator.")

    @auth.on.store
    async def own_namespace(ctx: Auth.types.AuthContext, value: Any) -> None:
        namespace = tuple(value.get("namespace") or ())
        if not namespace or namespace[0] != ctx.user.identity:
            raise Auth.exceptions.HTTPException(status_code=404, detail="not found.")


async def runs_in_flight(identity: str) -> int:
    """How many runs of `identity` are waiting or running, read from the server itself.

    Asked through the SDK's in-process client, which reaches the server's own
    routes without a token (it is not reachable from outside the process)."""
    from langgraph_sdk import get_client

    count = 0
    async with get_client(url=None) as client:
        for thread in await client.threads.search(metadata={"owner": identity}, status="busy", limit=1000):
            runs = await client.runs.list(thread["thread_id"], limit=1000)
            count += sum(run["status"] in ("pending", "running") for run in runs)
    return count


class CallerPaths:
    """ASGI middleware: what a remote caller receives names no folder of the server.

    Runs keep absolute paths in their state (the nodes read and write files by
    them); at the door, in every JSON or event-stream answer (results, state,
    stream events, interrupts, errors), a path in a user's artifacts folder
    becomes its download route (`/artifacts/...`, fetched with the caller's
    token) and a path in a user's input folder becomes the name to put in a
    request (read from that folder). Streamed answers are rewritten as they
    go, holding back only as many bytes as a path could span.
    """

    _REWRITTEN = (b"application/json", b"text/event-stream", b"text/plain", b"text/html")

    def __init__(self, app: Any, deployment: Deployment) -> None:
        self.app = app
        folder = rb"[A-Za-z0-9._-]{1,60}"  # `Deployment.folder_of` names
        artifacts = re.escape(str(deployment.artifacts_root).encode())
        inputs = re.escape(str(deployment.inputs_root).encode())
        end = rb"(?=[/\"'\s),.:;])"  # what may follow a folder's name in JSON or a sentence
        self._pattern = re.compile(rb"(" + artifacts + rb"/" + folder + end + rb")|(" + inputs + rb"/" + folder + rb"/)"
                                   rb"|(" + inputs + rb"/" + folder + end + rb")")
        # The longest match, and one byte to see what follows it.
        self._span = max(len(deployment.artifacts_root.as_posix()), len(deployment.inputs_root.as_posix())) + 64

    def _replace(self, match: re.Match) -> bytes:
        if match.group(1):
            return ARTIFACTS_ROUTE.encode()
        return b"" if match.group(2) else b"<your input folder>"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        held = b""
        rewriting = False

        async def rewritten_send(message: dict) -> None:
            nonlocal start, held, rewriting
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                rewriting = kind.split(b";")[0].strip() in self._REWRITTEN
                if not rewriting:
                    await send(message)
                else:
                    start = message
                return
            if message["type"] != "http.response.body" or not rewriting:
                await send(message)
                return
            held += message.get("body", b"")
            more = message.get("more_body", False)
            if start is not None:  # the headers wait for the first body: its length may change
                headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
                if not more:
                    body = self._pattern.sub(self._replace, held)
                    await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
                await send({**start, "headers": headers})
                start = None
            if not more:
                await send({"type": "http.response.body", "body": self._pattern.sub(self._replace, held)})
                held = b""
                return
            cut = len(held) - self._span
            if cut <= 0:
                return
            for match in self._pattern.finditer(held):  # a match starting before the cut ends inside `held`
                if match.start() < cut:
                    cut = max(cut, match.end())
            body, held = self._pattern.sub(self._replace, held[:cut]), held[cut:]
            await send({"type": "http.response.body", "body": body, "more_body": True})

        await self.app(scope, receive, rewritten_send)


def publish_report(state: State, runtime: Runtime[Context], services: Services) -> dict:
    """The served graph's last node: the run's report (`report.html`, `report.json`) in its folder,
    and the URL its owner reads it at (the `/artifacts` route, with their token)."""
    from ..apps.report import RunFacts, write_report

    context = services.context(runtime)
    folder = services.artifacts(context).run_dir(state["run_id"])
    thread = getattr(getattr(runtime, "execution_info", None), "thread_id", None)
    facts = RunFacts(thread_id=thread, settings=context.model_dump(mode="json"), demo_tools=context.registry == "demo")
    _, page = write_report(dict(state), folder, facts)
    return {"report_url": services.public_path(page)}


def make_app(deployment: Deployment):
    """The routes that carry files between a remote caller and the server, and the rewriting of
    server paths in what callers receive (`CallerPaths`, applied to every route of the server)."""
    import anyio
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route

    from ..media import inspect_media

    def not_found() -> JSONResponse:  # also for other users' files: their existence is not revealed
        return JSONResponse({"detail": "not found."}, status_code=404)

    # Handlers do no blocking file work on the event loop: the artifact route is a plain function
    # (Starlette runs it in a worker thread), the upload hands each file operation to one.
    def artifact(request: Request):
        identity = getattr(request.user, "identity", None)
        if identity is None:
            return not_found()
        root = deployment.artifacts_of(identity).resolve()
        path = (root / request.path_params["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return not_found()
        return FileResponse(path)

    async def upload(request: Request):
        identity = getattr(request.user, "identity", None)
        if identity is None:
            return JSONResponse({"detail": "a valid bearer token is needed."}, status_code=401)
        kind = request.query_params.get("kind", "image")
        if kind not in ("image", "video"):
            return JSONResponse({"detail": f"`kind` is {kind!r}; expected image or video."}, status_code=422)
        limit = deployment.operator.max_download_bytes
        suffix = Path(request.query_params.get("name", "upload")).suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
        folder = await run_in_threadpool(deployment.inputs_of, identity)
        path = folder / f"{uuid.uuid4().hex}{suffix}"
        size = 0
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    break
                await out.write(chunk)
        if size > limit:
            await anyio.Path(path).unlink(missing_ok=True)
            return JSONResponse({"detail": f"the upload is over the limit of {limit} bytes."}, status_code=413)
        try:
            info = await run_in_threadpool(inspect_media, path, kind, max_side=deployment.operator.max_input_side,
                                           max_frames=deployment.operator.max_input_frames)
        except InputError as exc:
            await anyio.Path(path).unlink(missing_ok=True)
            return JSONResponse({"detail": str(exc)}, status_code=422)
        # The name to put in a request: inputs are read from the caller's own folder.
        return JSONResponse({"path": path.name, "kind": info.kind, "width": info.width, "height": info.height,
                             "frames": info.frame_count})

    return Starlette(routes=[
        Route(f"{ARTIFACTS_ROUTE}/{{path:path}}", artifact, methods=["GET"]),
        Route(UPLOADS_ROUTE, upload, methods=["POST"]),
    ], middleware=[Middleware(CallerPaths, deployment=deployment)])
