"""What is built from the settings, owned in one place.

A graph is compiled with one `Services` (`build_graph(services=...)`); its
nodes ask it for the MLLM client, the toolbox (and with it the pool of loaded
pipelines), the capability store, the artifact store, the subject classifier
and the judge that a run's `Context` calls for. Each built service is cached
under exactly the settings it depends on, so the pipelines a run loaded serve
the next run with the same tool settings, and two contexts that differ in a
setting never share what that setting shapes.

A capability store with no `store_path` lives in memory and belongs to one
context: two `Context()`s learn apart. To share one on purpose, hand it in.

    services = Services(judge=MyJudge(), store=CapabilityStore("strengths.db"))
    graph = build_graph(services=services)

Services handed in are used for every run, whatever its settings say.
Heavy libraries (torch, diffusers, openai, transformers) are imported only
when a service that needs them is first built.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .context import Context, as_context, refuse_operator_settings

if TYPE_CHECKING:
    from spagent_graph.capability_store import CapabilityStore
    from spagent_graph.tool_adapters.acceleration import Acceleration
    from spagent_graph.tool_adapters.registry import ToolSpec
    from spagent_graph.tool_adapters.toolbox import Toolbox

    from .artifacts import ArtifactStore
    from .judging import Judge
    from .mllm import MLLMClient
    from .subject import SubjectClassifier

__all__ = ["Services"]

T = TypeVar("T")
_log = logging.getLogger(__name__)

# How many recent runs' contexts keep their resolved settings and in-memory store. A run
# holds its context for its whole life; a bound this size is only ever reached by that
# many runs at once.
_CONTEXTS_KEPT = 256


class Served(Protocol):
    """What the services ask of a deployment that serves the graph (`serving.Deployment` is one)."""

    operator: Context
    turns: Any  # turns on the GPU: `.turn(caller)` is a context manager

    def context_for(self, identity: str | None, thread_id: str | None = None) -> Context: ...

    def public_path(self, path: Path) -> str | None: ...


def _caller(runtime: Any) -> str | None:
    """The served caller's identity, from the server's part of the runtime; None in-process."""
    return getattr(getattr(getattr(runtime, "server_info", None), "user", None), "identity", None)


class Services:
    def __init__(
        self,
        *,
        defaults: Context | None = None,
        mllm: MLLMClient | None = None,
        toolbox: Toolbox | None = None,
        store: CapabilityStore | None = None,
        artifacts: ArtifactStore | None = None,
        classifier: SubjectClassifier | None = None,
        judge: Judge | None = None,
        deployment: Served | None = None,
    ) -> None:
        """`defaults`: the settings a run's context starts from (the operator's); a run's
        context overrides the fields it sets. The others are ready-made services.

        `deployment`: the graph is served to remote callers. Their runs start from the
        deployment's settings for the calling user (their own files and store), and a
        caller's context may set only the run options (`context.run_options()`)."""
        if deployment is not None and defaults is not None:
            raise ValueError("Services: a deployment brings its own defaults; give one or the other.")
        self.defaults = defaults
        self.deployment = deployment
        self._given = {"mllm": mllm, "toolbox": toolbox, "store": store, "artifacts": artifacts,
                       "classifier": classifier, "judge": judge}
        self._built: dict[tuple, Any] = {}
        # Reentrant: building the store reads the registry through the toolbox's settings.
        self._lock = threading.RLock()
        self._contexts: OrderedDict[int, tuple[Any, Context, dict[str, Any]]] = OrderedDict()
        self._resolved: dict[int, tuple[Any, Context, dict[str, Any]]] = {}

    @classmethod
    def of(cls, services: Services | None, settings: Context | None) -> Services:
        """What a graph builder's `services` and `settings` arguments make: one owner, with defaults if given."""
        if settings is None:
            return services or cls()
        if services is not None:
            raise ValueError("give a graph `settings` or `services` (with `Services(defaults=...)`), not both.")
        return cls(defaults=settings)

    # The run's settings ----------------------------------------------------------

    def context(self, runtime: Any) -> Context:
        """The settings a node runs with: the defaults, overridden by what the run's context set."""
        thread = getattr(getattr(runtime, "execution_info", None), "thread_id", None)
        return self._entry(getattr(runtime, "context", None), _caller(runtime), thread)[1]

    def gpu_turn(self, runtime: Any) -> contextlib.AbstractContextManager:
        """Held around a tool call: served, the caller's turn among all callers' calls; in-process, nothing."""
        if self.deployment is None:
            return contextlib.nullcontext()
        return self.deployment.turns.turn(_caller(runtime) or "")

    def _entry(self, raw: Any, user: str | None = None, thread: str | None = None) -> tuple[Any, Context, dict[str, Any]]:
        # Keyed by the identity of the object LangGraph hands every node of a run (the entry
        # keeps it alive, so its id is not reused); the resolved context is then the same
        # object for the whole run, and so is its in-memory store.
        with self._lock:
            entry = self._contexts.get(id(raw))
            if entry is None or entry[0] is not raw:
                entry = (raw, self._resolve(raw, user, thread), {})
                self._contexts[id(raw)] = entry
                self._resolved[id(entry[1])] = entry
                while len(self._contexts) > _CONTEXTS_KEPT:
                    _, (_, dropped, _) = self._contexts.popitem(last=False)
                    self._resolved.pop(id(dropped), None)
            self._contexts.move_to_end(id(raw))
            return entry

    def _owned(self, context: Context) -> dict[str, Any]:
        """What belongs to this one context (its in-memory store)."""
        with self._lock:
            entry = self._resolved.get(id(context))
            if entry is None or entry[1] is not context:
                # Asked for directly (the CLI, a test), not by a run of the graph: the context is its own run.
                entry = self._resolved[id(context)] = (context, context, {})
            return entry[2]

    def _resolve(self, raw: Any, user: str | None, thread: str | None = None) -> Context:
        given = as_context(raw)
        if self.deployment is not None:
            refuse_operator_settings(given.given_values(), "the run's context")
            return self.deployment.context_for(user, thread).changed(**given.given_values())
        return given if self.defaults is None else self.defaults.changed(**given.given_values())

    def public_path(self, path: Path | None) -> str | None:
        """Where a remote caller fetches a run's file from this server; None in-process."""
        if self.deployment is None or path is None:
            return None
        return self.deployment.public_path(path)

    # Services ----------------------------------------------------------------------

    def _cached(self, key: tuple, build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            return self._built[key]

    def mllm(self, context: Context) -> MLLMClient | None:
        """The MLLM client, or None when the run has no MLLM."""
        if self._given["mllm"] is not None:
            return self._given["mllm"]
        if not context.mllm_url:
            return None
        key = ("mllm", context.mllm_url, context.mllm_model, context.mllm_api_key, context.mllm_timeout_s,
               context.mllm_max_retries, context.mllm_video_input)

        def build() -> MLLMClient:
            from .mllm import MLLMClient

            secret = context.mllm_api_key.get_secret_value() if context.mllm_api_key else None
            return MLLMClient(base_url=context.mllm_url, model=context.mllm_model, api_key=secret,
                              timeout_s=context.mllm_timeout_s, max_retries=context.mllm_max_retries,
                              video_input=context.mllm_video_input)

        return self._cached(key, build)

    def judge(self, context: Context) -> Judge:
        """What scores candidates: the judge handed in, else the one `context.judge` names."""
        if self._given["judge"] is not None:
            return self._given["judge"]
        from .judging import FrameStatisticsJudge, MLLMJudge

        mllm = self.mllm(context) if context.judge != "classical" else None
        if context.judge == "mllm" and mllm is None:
            from .errors import SettingError

            raise SettingError("judge", "is 'mllm', but no `mllm_url` is set (and no MLLM client was handed in).",
                               "the run's settings")
        if mllm is None:
            return self._cached(("judge", "classical"), FrameStatisticsJudge)
        fallback = FrameStatisticsJudge() if context.fallback_on_mllm_error else None
        key = ("judge", id(mllm), context.judge_frames, context.fallback_on_mllm_error)
        return self._cached(key, lambda: MLLMJudge(mllm, frames=context.judge_frames, fallback=fallback))

    def toolbox(self, context: Context) -> Toolbox:
        """The registry's tools; the pipelines they load stay loaded for later runs."""
        if self._given["toolbox"] is not None:
            return self._given["toolbox"]
        key = ("toolbox", context.registry, context.tools, context.device, context.cache_dir)

        def build() -> Toolbox:
            from spagent_graph.tool_adapters.toolbox import Toolbox

            return Toolbox(self._registry(context), device=context.device, cache_dir=Path(context.cache_dir))

        return self._cached(key, build)

    def acceleration(self, spec: ToolSpec, context: Context, size: tuple[int, int, int] | None = None) -> Acceleration:
        """The levers `spec`'s tool pulls under the run's profile (tool_adapters/acceleration.py), as its
        recorded bench allows, and, given the request's `size` (frames, height, width), as the GPU it runs
        on has room for: a cache that would not fit is left out rather than run out of memory."""
        from spagent_graph.tool_adapters.acceleration import choose_levers, float8_runs_on
        from spagent_graph.tool_adapters.gpus import gpu_for_device
        from spagent_graph.tool_adapters.memory import levers_fit

        profile = context.acceleration
        bench = self.store(context).fidelity(spec.name, profile) if profile != "exact" and spec.acceleration else None
        fits = None
        if size is not None and profile != "exact" and spec.acceleration:
            gpu = gpu_for_device(context.device)
            if gpu is not None:
                frames, height, width = size

                def fits(levers):
                    return levers_fit(spec, levers, gpu, frames=frames, height=height, width=width)
        return choose_levers(spec.name, spec.acceleration, profile, bench, min_psnr_db=context.fidelity_min_psnr_db,
                             min_ssim=context.fidelity_min_ssim, fits=fits,
                             float8_runs=any(levers.quantize for levers in spec.acceleration.values())
                             and float8_runs_on(context.device, spec.memory.cpu_offload))

    def warm_up(self, tools: Iterable[str], context: Context | None = None) -> dict[str, float]:
        """Loads `tools` and compiles what their levers compile under the context's acceleration profile
        (a 2-step call at each tool's usual size), ahead of the runs that will use them; the seconds each
        took. A tool that fails to warm is logged and skipped: its first run loads it again and reports
        the error in full if it must."""
        context = context or self.defaults or (self.deployment.operator if self.deployment else Context())
        toolbox = self.toolbox(context)
        seconds = {}
        for name in tools:
            try:
                spec = toolbox.registry.get(name)
                usual = (spec.usual.frames, spec.usual.height, spec.usual.width) if spec.usual else None
                seconds[name] = toolbox.tool(name).warm_up(self.acceleration(spec, context, usual).levers)
            except Exception as error:  # noqa: BLE001 - a warm-up only saves time; the run reports failures
                _log.warning("warm-up of %s failed: %s", name, error)
                continue
            _log.info("warm-up of %s: %.1f s", name, seconds[name])
        return seconds

    def _registry(self, context: Context):
        from spagent_graph.tool_adapters.registry import ToolRegistry

        registry = ToolRegistry.from_yaml(context.registry)
        return registry.restricted_to(context.tools) if context.tools is not None else registry

    def store(self, context: Context) -> CapabilityStore:
        """The capability store: the file `store_path` names, else one in memory for this context."""
        if self._given["store"] is not None:
            return self._given["store"]
        if context.store_path is not None:
            key = ("store", str(Path(context.store_path).resolve()), context.registry, context.tools)
            return self._cached(key, lambda: self._seeded_store(context))
        with self._lock:
            own = self._owned(context)
            if "store" not in own:
                own["store"] = self._seeded_store(context)
            return own["store"]

    def _seeded_store(self, context: Context) -> CapabilityStore:
        from spagent_graph.capability_store import LIBRARY_SEED, PAPER_SEED, CapabilityStore, StrengthEntry

        store = CapabilityStore(context.store_path)
        # Seeds never overwrite what a store file has learned.
        for seed in (PAPER_SEED, LIBRARY_SEED):
            store.import_file(seed, overwrite=False)
        priors = [
            StrengthEntry(model=spec.name, task=spec.task, subject=subject, strength=strength, source="prior")
            for spec in self.toolbox(context).registry  # a toolbox handed in brings its own priors
            for subject, strength in spec.prior_by_subject().items()
        ]
        store.put(priors, overwrite=False)
        return store

    def artifacts(self, context: Context) -> ArtifactStore:
        if self._given["artifacts"] is not None:
            return self._given["artifacts"]
        from .artifacts import ArtifactStore

        root = Path(context.artifacts_dir).resolve()
        if self.deployment is not None:
            # Served, each thread has its own folder: kept with the run's context, not for the
            # server's life (one per thread would pile up).
            own = self._owned(context)
            if "artifacts" not in own:
                own["artifacts"] = ArtifactStore(root)
            return own["artifacts"]
        return self._cached(("artifacts", str(root)), lambda: ArtifactStore(root))

    def classifier(self, context: Context) -> SubjectClassifier:
        if self._given["classifier"] is not None:
            return self._given["classifier"]
        from .subject import SubjectClassifier

        return self._cached(("classifier", context.cache_dir), lambda: SubjectClassifier(cache_dir=context.cache_dir))

