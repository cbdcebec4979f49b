"""Run-scoped settings, and the services built from them.

`Context` is the graph's `context_schema`: pass one per run
(`graph.invoke(inputs, context=Context(...))`), or a dict of its fields (as
`langgraph dev` does). Services can be handed in ready-made (`mllm`,
`toolbox`, `store`, ...) or are built from the settings. Built services are
shared by every context with the same settings in a process, so a tool's
loaded pipeline outlives one request.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime

from spagent_graph.capability_store import PAPER_SEED, CapabilityStore, StrengthEntry
from spagent_graph.tool_adapters.registry import ToolRegistry
from spagent_graph.tool_adapters.toolbox import Toolbox

from .artifacts import ArtifactStore
from .judging import FrameStatisticsJudge, Judge, MLLMJudge
from .mllm import MLLMClient
from .subject import SubjectClassifier

__all__ = ["ABLATIONS", "Context", "context_of"]

#: The paper's ablations, as switches of the same graph (see README, "Evaluation").
ABLATIONS = ("one_step", "no_intent", "no_route_planning", "no_principles", "no_subject")

_shared: dict[tuple, Any] = {}
# Reentrant: building one service may need another (the store reads the registry's priors).
_shared_lock = threading.RLock()


def _shared_service(key: tuple, build):
    with _shared_lock:
        if key not in _shared:
            _shared[key] = build()
        return _shared[key]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass(kw_only=True)
class Context:
    """Settings of a run. Every field has a default; services are optional."""

    mllm_url: str | None = field(
        default_factory=lambda: _env("SPAGENT_MLLM_URL"),
        metadata={"description": "OpenAI-compatible base URL (e.g. http://host:8000/v1). None: MLLM-free planner."},
    )
    mllm_model: str | None = field(
        default_factory=lambda: _env("SPAGENT_MLLM_MODEL"),
        metadata={"description": "Served model id; None asks the server for its first model."},
    )
    mllm_timeout_s: float = field(default=120.0, metadata={"description": "Timeout of one MLLM request."})
    mllm_max_retries: int = field(default=3, metadata={"description": "Retries of transient MLLM failures."})
    mllm_video_input: Literal["frames", "video_url"] = field(
        default="frames", metadata={"description": "Send videos as sampled frames, or as video_url where supported."}
    )
    fallback_on_mllm_error: bool = field(
        default=True, metadata={"description": "On an MLLM failure, decide with the MLLM-free planner and say so."}
    )
    judge: Literal["auto", "mllm", "classical"] = field(
        default="auto", metadata={"description": "auto: the MLLM when configured, else frame statistics."}
    )
    judge_frames: int = field(default=8, metadata={"description": "Frames of each candidate the MLLM judge sees."})
    learn_from: Literal["mllm", "any", "none"] = field(
        default="mllm",
        metadata={"description": "Which judged runs update the store's strengths: MLLM-judged ones, any, or none."},
    )
    learning_weight: float = field(
        default=0.5,
        metadata={"description": "How much one judged use counts in the store, against 1.0 for a human or expansion score."},
    )
    review_plan: bool = field(
        default=False, metadata={"description": "Stop after planning for a human to approve, edit or cancel the plan."}
    )
    pick_winner: bool = field(
        default=False, metadata={"description": "Stop after judging for a human to pick the winner."}
    )
    ablations: tuple[str, ...] = field(
        default=(), metadata={"description": f"Switch stages off to measure them: any of {', '.join(ABLATIONS)}."}
    )
    registry: str = field(
        default="demo", metadata={"description": "Built-in tool registry (demo, paper) or a registry YAML path."}
    )
    tools: list[str] | None = field(
        default=None, metadata={"description": "Restrict selection to these registry tools; None allows all."}
    )
    store_path: str | None = field(
        default=None, metadata={"description": "Capability store SQLite file; None keeps it in memory."}
    )
    artifacts_dir: str = field(default="spagent_outputs", metadata={"description": "Where runs write their files."})
    cache_dir: str = field(
        default_factory=lambda: str(Path.home() / ".cache" / "spagent_graph"),
        metadata={"description": "Where built demo pipelines are kept."},
    )
    device: str = field(default="auto", metadata={"description": "Torch device for the tools; auto picks CUDA if any."})
    input_root: str | None = field(
        default=None,
        metadata={"description": "If set, visual inputs must lie inside this folder (symbolic links resolved)."},
    )
    allowed_url_prefixes: tuple[str, ...] = field(
        default=(),
        metadata={"description": "URL prefixes a request's image or video may be fetched from; none: URLs are refused."},
    )
    max_download_bytes: int = field(default=512 * 2**20, metadata={"description": "Largest input fetched from a URL."})
    max_input_side: int = field(
        default=4096, metadata={"description": "Input policy: larger images or videos are refused (8K is)."}
    )
    max_input_frames: int = field(
        default=2000, metadata={"description": "Input policy: longer input videos are refused."}
    )

    mllm: MLLMClient | None = field(default=None, compare=False, repr=False)
    toolbox: Toolbox | None = field(default=None, compare=False, repr=False)
    store: CapabilityStore | None = field(default=None, compare=False, repr=False)
    artifacts: ArtifactStore | None = field(default=None, compare=False, repr=False)
    subject_classifier: SubjectClassifier | None = field(default=None, compare=False, repr=False)
    judge_backend: Judge | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ablations = tuple(self.ablations)
        unknown = sorted(set(self.ablations) - set(ABLATIONS))
        if unknown:
            raise ValueError(f"Context.ablations: unknown {unknown}; expected any of {list(ABLATIONS)}.")
        if self.learning_weight < 0:
            raise ValueError(f"Context.learning_weight must be >= 0, got {self.learning_weight}.")

    def ablated(self, stage: str) -> bool:
        """Whether `stage` is switched off; `one_step` switches off intent and route planning."""
        return stage in self.ablations or (stage in ("no_intent", "no_route_planning") and "one_step" in self.ablations)

    # Services ------------------------------------------------------------------

    def mllm_client(self) -> MLLMClient | None:
        if self.mllm is None and self.mllm_url:
            key = ("mllm", self.mllm_url, self.mllm_model, self.mllm_timeout_s, self.mllm_max_retries, self.mllm_video_input)
            self.mllm = _shared_service(
                key,
                lambda: MLLMClient(
                    base_url=self.mllm_url,
                    model=self.mllm_model,
                    timeout_s=self.mllm_timeout_s,
                    max_retries=self.mllm_max_retries,
                    video_input=self.mllm_video_input,
                ),
            )
        return self.mllm

    def judge_service(self) -> Judge:
        """The backend that scores candidates: `judge_backend` if given, else per `judge`."""
        if self.judge_backend is None:
            mllm = self.mllm_client() if self.judge != "classical" else None
            if self.judge == "mllm" and mllm is None:
                raise ValueError("Context.judge is 'mllm' but no mllm_url (or mllm client) is set.")
            if mllm is None:
                self.judge_backend = FrameStatisticsJudge()
            else:
                fallback = FrameStatisticsJudge() if self.fallback_on_mllm_error else None
                self.judge_backend = MLLMJudge(mllm, frames=self.judge_frames, fallback=fallback)
        return self.judge_backend

    def tool_box(self) -> Toolbox:
        if self.toolbox is None:
            key = ("toolbox", self.registry, tuple(self.tools or ()), self.device, self.cache_dir)
            self.toolbox = _shared_service(key, self._build_toolbox)
        return self.toolbox

    def _build_toolbox(self) -> Toolbox:
        registry = ToolRegistry.from_yaml(self.registry)
        if self.tools is not None:
            registry = registry.restricted_to(self.tools)
        return Toolbox(registry, device=self.device, cache_dir=Path(self.cache_dir))

    def capability_store(self) -> CapabilityStore:
        if self.store is None:
            key = ("store", self.store_path, self.registry)
            self.store = _shared_service(key, self._build_store)
        return self.store

    def _build_store(self) -> CapabilityStore:
        store = CapabilityStore(self.store_path)
        # Seeds never overwrite what a store file has learned.
        store.import_file(PAPER_SEED, overwrite=False)
        priors = [
            StrengthEntry(model=spec.name, task=spec.task, subject=subject, strength=strength, source="prior")
            for spec in self.tool_box().registry
            for subject, strength in spec.prior_by_subject().items()
        ]
        store.put(priors, overwrite=False)
        return store

    def artifact_store(self) -> ArtifactStore:
        if self.artifacts is None:
            self.artifacts = _shared_service(("artifacts", str(Path(self.artifacts_dir).resolve())),
                                             lambda: ArtifactStore(self.artifacts_dir))
        return self.artifacts

    def classifier(self) -> SubjectClassifier:
        if self.subject_classifier is None:
            self.subject_classifier = _shared_service(("classifier",), SubjectClassifier)
        return self.subject_classifier


def context_of(runtime: Runtime | None) -> Context:
    """The run's `Context`, whatever form the caller gave it in.

    A parent graph that embeds ours may run with its own context type, or
    none; then our defaults apply.
    """
    context = getattr(runtime, "context", None)
    if isinstance(context, Context):
        return context
    if isinstance(context, dict):
        known = {k: v for k, v in context.items() if k in Context.__dataclass_fields__}
        return Context(**known)
    return Context()
