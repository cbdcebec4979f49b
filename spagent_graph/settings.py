"""Settings from a file, the environment and options, all derived from `Context`'s fields.

Sources, lowest precedence first: the field's default, a TOML file
(`--config FILE`, else $SPAGENT_CONFIG, else `./spagent.toml` when present),
`SPAGENT_<FIELD>` environment variables, then `spagent` options
(`--<field-with-dashes>`). Every source is checked against the same fields
and bounds; an unknown key or a bad value is a `SettingError` that names the
key, the value, where it came from and the nearest known key.

    # spagent.toml
    mllm_url = "http://localhost:8000/v1"
    registry = "paper"
    store_path = "strengths.db"
    ablations = ["no_subject"]

In the environment and on the command line a list is written as JSON
(`["a", "b"]`) or comma-separated (`a,b`), and an empty value means "none"
for a setting that can be none.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo

from .context import SOURCE_OF, Context, unknown_setting, user_data_dir
from .errors import ConfigError, SettingError

__all__ = ["ENV_PREFIX", "LoadedSettings", "Settings", "load_settings", "option_name", "settings_table"]

ENV_PREFIX = "SPAGENT_"
#: Variables with our prefix that are not settings: where the file is, and the test suite's own.
NOT_SETTINGS = ("SPAGENT_CONFIG", "SPAGENT_TEST_")


class Settings(Context):
    """The operator's settings: the run's `Context`, where `spagent run` keeps checkpoints, and
    how the served graph knows its callers (`spagent_graph/serving/`)."""

    checkpoint: str = Field(
        default_factory=lambda: str(user_data_dir() / "checkpoints.sqlite"), min_length=1,
        description="Checkpoint store of `spagent run`: a SQLite file, a postgresql:// URL or memory (default "
        "checkpoints.sqlite in the platform's data folder, e.g. ~/.local/share/spagent-graph, so that --resume "
        "works from any folder).")

    serve_tokens_file: str | None = Field(
        None, min_length=1, description="Served graph: a JSON file of bearer tokens and the users they name "
        "({\"<token>\": \"<user id>\"}); none: every request is refused.")
    serve_shared_learning: bool = Field(
        False, description="Served graph: every user's judged runs teach one store; off: each user's own store.")
    serve_max_steps: int | None = Field(
        100, ge=1, description="Served graph: the most denoising steps a request may ask for "
        "(`num_inference_steps`); a request over it gets 422 before it is queued. none: no limit.")
    serve_max_frames: int | None = Field(
        241, ge=2, description="Served graph: the most frames a request may ask for (`num_frames`); over it, 422. "
        "none: no limit.")
    serve_max_pixels: int | None = Field(
        1280 * 1280, ge=256, description="Served graph: the largest frame a request may ask for, height times "
        "width in pixels; over it, 422. none: no limit.")
    serve_turns_at_once: int = Field(
        1, ge=1, le=64, description="Served graph: tool calls (the GPU work of a run) at once, across callers; "
        "the others wait, and turns go round the callers waiting, so one caller's batch does not hold back "
        "another's request. One per GPU keeps two large models from sharing a GPU's memory.")
    serve_max_runs_per_caller: int | None = Field(
        4, ge=1, description="Served graph: runs one caller may have waiting or running at once; one more is "
        "refused with 429 before it is queued. none: no limit.")
    serve_warm_up: tuple[str, ...] = Field(
        (), description="Served graph: tools loaded as the server starts, each run 2 steps at its usual size "
        "under the acceleration profile so that its compiled blocks are compiled then (logged with the seconds "
        "it took); the first request that uses them pays neither the load nor the compile.")

    def context(self) -> Context:
        """The graph's context: these settings less the command's own."""
        return Context(**{k: v for k, v in self.given_values().items() if k in Context.model_fields})


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]  # field -> "default", "file F", "environment SPAGENT_X" or "option --x"
    config_file: Path | None


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_settings(
    config_file: Path | str | None = None,
    options: Mapping[str, str | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    model: type[Settings] = Settings,
) -> LoadedSettings:
    """Settings from the defaults, the file, the environment and `options` (field -> raw text; None: not given)."""
    environ = os.environ if environ is None else environ
    path = config_file_path(config_file, environ)
    values: dict[str, Any] = {}
    sources = {name: "default" for name in model.model_fields}

    if path is not None:
        try:
            from_file = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"settings file {path}: cannot be read as TOML ({exc}).") from exc
        for name, value in from_file.items():
            _take(model, values, sources, name, value, f"file {path}")
    for variable, text in environ.items():
        if variable.startswith(ENV_PREFIX) and not variable.startswith(NOT_SETTINGS) and text != "":
            name = variable[len(ENV_PREFIX):].lower()
            _take(model, values, sources, name, _from_text(model, name, text), f"environment {variable}")
    for name, text in (options or {}).items():
        if text is not None:
            _take(model, values, sources, name, _from_text(model, name, text), f"option {option_name(name)}")

    token = SOURCE_OF.set(lambda name: sources.get(name, "the settings"))
    try:
        settings = model(**values)
    finally:
        SOURCE_OF.reset(token)
    return LoadedSettings(settings=settings, sources=sources, config_file=path)


def _take(model: type[Settings], values: dict, sources: dict, name: str, value: Any, source: str) -> None:
    if name not in model.model_fields:
        raise unknown_setting(name, model, source)
    values[name], sources[name] = value, source


def _from_text(model: type[Settings], name: str, text: str) -> Any:
    """Text from the environment or a command line, as the field's type takes it."""
    field = model.model_fields.get(name)
    if field is None:
        return text
    if text.strip() == "" and _accepts_none(field):
        return None
    if _is_sequence(field):
        text = text.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingError(name, f"is {text!r}, which is not a JSON list ({exc}).", "the settings") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return text  # pydantic reads numbers and booleans ("true", "0", "yes") from text


def _accepts_none(field: FieldInfo) -> bool:
    return type(None) in typing.get_args(field.annotation)


def _is_sequence(field: FieldInfo) -> bool:
    annotation = field.annotation
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return any(typing.get_origin(a) in (tuple, list) for a in candidates)


def config_file_path(config_file: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The TOML file settings are read from, if any."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = environ[f"{ENV_PREFIX}CONFIG"]
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"--config: {path} is not a file; expected a TOML settings file.")
        return path
    default = Path("spagent.toml")
    return default if default.is_file() else None


def describe_type(field: FieldInfo) -> str:
    """The field's type and bounds as a person reads them: `int, 1..64`, `one of: auto, mllm, classical`."""
    annotation = field.annotation
    parts = [a for a in (typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,))
             if a is not type(None)]
    words = []
    for part in parts:
        origin = typing.get_origin(part)
        if origin is typing.Literal:
            words.append("one of " + ", ".join(str(v) for v in typing.get_args(part)))
        elif origin in (tuple, list):
            inner = typing.get_args(part)[0]
            choices = typing.get_args(inner) if typing.get_origin(inner) is typing.Literal else ()
            words.append("list" + (f" of {', '.join(choices)}" if choices else " of text"))
        else:
            words.append({str: "text", int: "integer", float: "number", bool: "true/false"}.get(part, "secret text"))
    text = " or ".join(words)
    low = high = None
    for rule in field.metadata:
        low = getattr(rule, "ge", None) if getattr(rule, "ge", None) is not None else low
        low = f">{rule.gt}" if getattr(rule, "gt", None) is not None else low
        high = getattr(rule, "le", None) if getattr(rule, "le", None) is not None else high
    if low is not None or high is not None:
        text += f", {low if low is not None else ''}..{high if high is not None else ''}"
    if _accepts_none(field):
        text += ", or none"
    return text


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(computed)"
    value = field.get_default()
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "[]" if not value else json.dumps(list(value))
    return json.dumps(value)


def settings_table(model: type[Settings] = Settings) -> str:
    """The Markdown table of every setting, as docs/settings.md shows it."""
    rows = ["| setting | option / variable | type | default | what it does |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        rows.append(f"| `{name}` | `{option_name(name)}` / `{env_name(name)}` | {describe_type(field)} | "
                    f"`{default_text(field)}` | {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m spagent_graph.settings: docs/settings.md's table
    print(settings_table(), end="")
