"""The run's settings, declared once: the graph's `context_schema`.

`Context` is a frozen pydantic model. Every setting is typed, bounded and
described here and nowhere else: the TOML file, the `SPAGENT_*` environment
variables, the `spagent` options and their help, `spagent config` and the
docs/settings.md's table are all derived from these fields (see `settings.py`).

    graph.invoke(inputs, context=Context(mllm_url="http://localhost:8000/v1"))
    graph.invoke(inputs, context={"registry": "paper"})   # a dict, as langgraph dev sends it

A context holds values only. What is built from them (the MLLM client, the
toolbox and its loaded pipelines, the capability store, ...) belongs to
`spagent_graph.services.Services`, which the graph is compiled with.

Nothing here reads the environment: in-process, the defaults are the
defaults. `load_settings()` is the one place that reads the file and the
environment (the CLI and the served graph use it).
"""

from __future__ import annotations

import contextvars
import difflib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .errors import SettingError

__all__ = ["ABLATIONS", "Ablation", "Context", "as_context", "refuse_operator_settings", "run_options",
           "setting_error", "user_data_dir"]

#: The paper's ablations, as switches of the same graph (see docs/method.md, "Evaluation").
Ablation = Literal["one_step", "no_intent", "no_route_planning", "no_principles", "no_subject"]
ABLATIONS: tuple[Ablation, ...] = ("one_step", "no_intent", "no_route_planning", "no_principles", "no_subject")


# Where the values being validated came from; `load_settings` names the file, variable or option.
SOURCE_OF: contextvars.ContextVar[Callable[[str], str]] = contextvars.ContextVar(
    "SOURCE_OF", default=lambda name: "the run's context")


# Marks the settings a caller of the served graph may choose for its own run; every other
# setting is the operator's (paths, endpoints, devices, limits) and a caller's context
# that names one is refused. In-process, the embedding application is the operator.
RUN_OPTION = {"scope": "run"}


def user_data_dir() -> Path:
    """This user's data folder for spagent-graph, by the platform's convention: $XDG_DATA_HOME
    (else ~/.local/share) on Linux, ~/Library/Application Support on macOS, %LOCALAPPDATA% on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "spagent-graph"


class Context(BaseModel):
    """Settings of a run. Every field has a default; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The multimodal LLM -----------------------------------------------------------
    mllm_url: str | None = Field(
        None, pattern=r"^https?://", description="OpenAI-compatible MLLM endpoint (http://host:8000/v1); "
        "none: the MLLM-free planner and the frame-statistics judge.")
    mllm_model: str | None = Field(None, min_length=1, description="Served model id; none: the server's first model.")
    mllm_api_key: SecretStr | None = Field(
        None, description="Key sent to the MLLM endpoint; none: $OPENAI_API_KEY, else a placeholder (vLLM needs none).")
    mllm_timeout_s: float = Field(120.0, gt=0, le=3600, description="Timeout of one MLLM request, in seconds.")
    mllm_max_retries: int = Field(3, ge=0, le=20, description="Retries of a transient MLLM failure.")
    mllm_video_input: Literal["frames", "video_url"] = Field(
        "frames", description="Show videos to the MLLM as sampled frames, or as video_url where the server takes it.")
    fallback_on_mllm_error: bool = Field(
        True, description="On an MLLM failure, decide with the MLLM-free planner and say so; off: fail the run.")

    subject_min_confidence: float = Field(
        0.5, ge=0, le=1, description="Without an MLLM, a subject read from the text with less confidence than this "
        "is `unknown`, and tools are then ranked by their strength over all subjects. 0.5 leaves under one clear prompt "
        "in a hundred `unknown` on prompts by new writers (benchmarks/results/subject_accuracy.md).")

    planner: Literal["single", "paper"] = Field(
        "single", json_schema_extra=RUN_OPTION,
        description="single: one MLLM question before generating (the subject, and alignment when there is text "
        "and a visual input), routes from the principles; paper: the paper's step-by-step planning (2 intent "
        "questions, then each route a task at a time). Any ablation plans as the paper does.")

    # Speed ------------------------------------------------------------------------
    acceleration: Literal["exact", "balanced", "fast"] = Field(
        "balanced", json_schema_extra=RUN_OPTION,
        description="exact: the plain pipeline calls, bit for bit; balanced and fast: the levers the registry gives "
        "each model family for that profile (the library's balanced ones keep the math: compiled blocks); a "
        "cache or FP8 weights among them run only for a tool whose `spagent bench` passed, else the balanced "
        "levers do (and after a failed bench the tool runs exact); FP8 weights also need torchao (the `fp8` "
        "extra) and a GPU of compute capability 8.9 or later.")
    fidelity_min_psnr_db: float = Field(
        30.0, ge=0, le=100, description="A cache (or FP8 weights) is used for a tool only if its bench kept at least this PSNR "
        "(dB) against the exact output.")
    fidelity_min_ssim: float = Field(
        0.9, ge=0, le=1, description="A cache is used for a tool only if its bench also kept at least this "
        "SSIM against the exact output.")

    # Judging and learning ---------------------------------------------------------
    judge: Literal["auto", "mllm", "classical"] = Field(
        "auto", description="Who scores candidates: auto (the MLLM when configured, else frame statistics), "
        "mllm, or classical.")
    judge_frames: int = Field(8, ge=1, le=64, json_schema_extra=RUN_OPTION,
                              description="Frames of each candidate the MLLM judge sees.")
    learn_from: Literal["mllm", "any", "none"] = Field(
        "mllm", description="Which judged runs update the store's strengths: MLLM-judged ones, any, or none.")
    learning_weight: float = Field(
        0.5, ge=0, le=10, description="Weight of one judged use in the store, against 1.0 for a human or an "
        "expansion score.")

    # A human in the loop and ablations --------------------------------------------
    review_plan: bool = Field(False, json_schema_extra=RUN_OPTION,
                              description="Stop after planning for a human to approve, edit or cancel the plan.")
    pick_winner: bool = Field(False, json_schema_extra=RUN_OPTION,
                              description="Stop after judging for a human to pick the winner.")
    ablations: tuple[Ablation, ...] = Field(
        (), json_schema_extra=RUN_OPTION, description=f"Stages switched off to measure them: any of {', '.join(ABLATIONS)}.")

    # Tools, store and files -------------------------------------------------------
    registry: str = Field(
        "demo", min_length=1, description="Built-in tool registry (demo, library, paper, research) or a registry "
        "YAML file.")
    tools: tuple[str, ...] | None = Field(
        None, json_schema_extra=RUN_OPTION, description="Restrict selection to these registry tools; none: every tool of the registry.")
    store_path: str | None = Field(
        None, min_length=1, description="Capability store SQLite file; none: an in-memory store for this context.")
    artifacts_dir: str = Field(
        default_factory=lambda: str(user_data_dir() / "runs"), min_length=1,
        description="Where runs write their files (default runs/ in the platform's data folder, e.g. "
        "~/.local/share/spagent-graph/runs, so that a program's folder gets nothing it did not ask for).")
    cache_dir: str = Field(
        default_factory=lambda: str(Path.home() / ".cache" / "spagent_graph"), min_length=1,
        description="Where built demo pipelines and the subject classifier's fitted examples are kept "
        "(default ~/.cache/spagent_graph).")
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="Torch device of the tools: auto (CUDA when "
        "there is one), cpu, mps, cuda or cuda:N.")

    # Input policy -----------------------------------------------------------------
    input_root: str | None = Field(
        None, min_length=1, description="Visual inputs must lie inside this folder (links "
        "resolved), and a relative path is read from it; none: anywhere.")
    allowed_url_prefixes: tuple[str, ...] = Field(
        (), description="URL prefixes a request's image or video may be fetched from; none: URLs are refused.")
    max_download_bytes: int = Field(512 * 2**20, ge=1, description="Largest input fetched from a URL, in bytes.")
    max_input_side: int = Field(
        4096, ge=16, le=65536, description="Larger input images or videos, in pixels on a side, are refused.")
    max_input_frames: int = Field(2000, ge=1, le=1_000_000, description="Longer input videos are refused.")

    def __init__(self, **values: Any) -> None:
        # LangGraph builds a dict context with `Context(**context)`: the error it raises must
        # say which key is wrong and what was expected, not pydantic's raw report.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise setting_error(type(self), exc, SOURCE_OF.get()) from None

    def ablated(self, stage: str) -> bool:
        """Whether `stage` is switched off; `one_step` switches off intent and route planning."""
        return stage in self.ablations or (stage in ("no_intent", "no_route_planning") and "one_step" in self.ablations)

    @property
    def planner_mode(self) -> Literal["single", "paper"]:
        """How this run plans: the ablations take stages of the paper's planning away, so they plan as it does."""
        return "paper" if self.ablations else self.planner

    def changed(self, **values: Any) -> Context:
        """A copy with `values` changed, validated like any other context (unlike `model_copy`)."""
        return type(self)(**{**self.given_values(), **values})

    def given_values(self) -> dict[str, Any]:
        """The settings this context was given, not the defaults it fell back on."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def run_options() -> frozenset[str]:
    """The settings a served graph's caller may set in its run's context."""
    return frozenset(name for name, field in Context.model_fields.items() if field.json_schema_extra == RUN_OPTION)


def refuse_operator_settings(values: Mapping[str, Any], source: str) -> None:
    """Refuses a caller's context that names a setting only the operator may choose (or none at all)."""
    allowed = run_options()
    for name in values:
        if name not in Context.model_fields:
            raise unknown_setting(name, Context, source)
        if name not in allowed:
            raise SettingError(name, f"is the operator's to set (the server's settings file or environment), not a "
                               f"run's ({source}). A run may set: {', '.join(sorted(allowed))}.", source)


def setting_error(model: type[BaseModel], exc: ValidationError, source_of: Callable[[str], str]) -> SettingError:
    """One clear error for the first problem pydantic found: the key, its value, where it came from, what fits."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    source = source_of(name)
    if error["type"] == "extra_forbidden":
        return unknown_setting(name, model, source)
    field = model.model_fields.get(name)
    expected = error["msg"][0].lower() + error["msg"][1:]
    about = f" ({field.description})" if field is not None and field.description else ""
    more = f" ({len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return SettingError(name, f"is {error.get('input')!r} in {source}; {expected}.{about}{more}", source)


def unknown_setting(name: str, model: type[BaseModel], source: str) -> SettingError:
    known = list(model.model_fields)
    nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
    return SettingError(name, f"is not a setting (in {source}).{hint} Settings are: {', '.join(known)}.", source)


def as_context(context: Any) -> Context:
    """A run's `Context`, whatever form the caller gave it in.

    A parent graph that embeds ours passes its own context down: our `Context`
    is used as it is, and a dict is read as our settings (unknown keys are
    errors). Any other context type, or none, leaves our defaults in force.
    """
    if isinstance(context, Context):
        return context
    if isinstance(context, Mapping):
        return Context(**context)
    return Context()
