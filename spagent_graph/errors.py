"""Every error spagent-graph raises on purpose.

    SpagentError
    ├── InputError           the request or one of its files is not what we expected
    ├── ConfigError          a registry, tool set or setting is wrong
    │   ├── SettingError     one setting is unknown or out of its bounds (names key and source)
    │   ├── UnknownToolError a tool name that no registry entry defines
    │   └── MissingWeightsError  tools a run would use have no weights here (one line each, with its fix)
    ├── MLLMError            the multimodal LLM could not give a usable answer
    │   ├── MLLMUnavailableError   the endpoint cannot be reached
    │   └── MLLMResponseError      it answered, but not with what the schema asks
    └── ToolError            a generative tool failed to produce its artifact
        └── ToolTimeoutError a step ran past its tool's `timeout_s` and was stopped

Each carries the thing a user needs to fix it (the input name, the file, the
tool) both in its message and as attributes.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

__all__ = [
    "BusyError",
    "ConfigError",
    "InputError",
    "MissingWeightsError",
    "MLLMError",
    "MLLMResponseError",
    "MLLMUnavailableError",
    "SettingError",
    "SpagentError",
    "ToolError",
    "ToolTimeoutError",
    "UnknownToolError",
    "UsageError",
    "error_message",
]


class SpagentError(Exception):
    """Base class of every error raised deliberately by spagent-graph."""


class InputError(SpagentError, ValueError):
    """The request, or a file it names, is missing, unreadable or of the wrong kind."""

    def __init__(self, input_name: str, message: str, path: Path | str | None = None) -> None:
        self.input_name = input_name
        self.path = Path(path) if path is not None else None
        where = f" ({self.path})" if self.path is not None else ""
        super().__init__(f"`{input_name}`{where}: {message}")


class UsageError(SpagentError, ValueError):
    """A command called in a way it cannot run: an option's value, a run to resume that is not there."""


class ConfigError(SpagentError, ValueError):
    """A registry file, tool set or setting cannot be used as given."""


class SettingError(ConfigError):
    """A setting that is not one, or whose value does not fit, wherever it came from."""

    def __init__(self, key: str, message: str, source: str) -> None:
        self.key = key
        self.source = source
        super().__init__(f"Setting `{key}` {message}")


class MissingWeightsError(ConfigError):
    """Some tools a run would use have no weights on this machine; one line per tool, with its fix."""

    def __init__(self, missing: dict[str, Any], lines: list[str]) -> None:
        self.missing = missing  # tool name -> its weights check
        tools = "1 tool" if len(missing) == 1 else f"{len(missing)} tools"
        super().__init__(f"the weights of {tools} this run would use are not on this machine "
                         "(nothing was generated):\n" + "\n".join(lines))


class UnknownToolError(ConfigError, KeyError):
    """A tool name that no loaded registry defines."""

    def __init__(self, tool: str, known: list[str], where: str = "the tool registry") -> None:
        self.tool = tool
        self.known = known
        nearest = difflib.get_close_matches(tool, known, n=1, cutoff=0.6)
        hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
        super().__init__(f"Unknown tool `{tool}` in {where}.{hint} Known tools are: "
                         f"{', '.join(sorted(known)) or 'none'}.")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.args[0]


class MLLMError(SpagentError):
    """The multimodal LLM did not give a usable answer."""


class MLLMUnavailableError(MLLMError):
    """The MLLM endpoint could not be reached (connection refused, DNS, timeout)."""

    def __init__(self, base_url: str, cause: BaseException) -> None:
        self.base_url = base_url
        super().__init__(f"The MLLM endpoint {base_url} could not be reached: {cause}")


class MLLMResponseError(MLLMError):
    """The MLLM answered, but the answer does not fit the JSON schema we asked for."""

    def __init__(self, schema_name: str, answer: str, cause: BaseException | str) -> None:
        self.schema_name = schema_name
        self.answer = answer
        shown = answer if len(answer) < 300 else answer[:300] + "..."
        super().__init__(f"The MLLM answer for `{schema_name}` does not fit its schema ({cause}): {shown!r}")


class ToolError(SpagentError):
    """A generative tool failed; the message names the tool and the step."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(f"Tool `{tool}`: {message}")


class ToolTimeoutError(ToolError):
    """A step ran longer than its tool's `timeout_s` and was stopped."""

    def __init__(self, tool: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(tool, f"stopped after running past its timeout of {seconds:g} s.")


class BusyError(SpagentError):
    """The service is at its bound of running and waiting requests; the request was not started."""

    def __init__(self, running: int, waiting: int, max_running: int, max_waiting: int) -> None:
        self.running, self.waiting = running, waiting
        super().__init__(
            f"spagent is busy: {running} requests running (at most {max_running}) and {waiting} waiting "
            f"(at most {max_waiting}); this request was not started, retry later."
        )


def error_message(exc: BaseException) -> str:
    """How a command shows an error: `error: ` and its first line, any further lines indented
    under it (a list of missing tools, a registry entry's validation details)."""
    first, _, rest = str(exc).strip().partition("\n")
    lines = [f"error: {first}", *("  " + line for line in rest.splitlines() if line.strip())]
    return "\n".join(lines)
