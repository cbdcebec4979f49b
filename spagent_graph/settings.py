"""Configuration in one place, from a file, the environment and arguments.

Sources, lowest precedence first: a TOML file (`--config FILE`, else
$SPAGENT_CONFIG, else `./spagent.toml` when present), then `SPAGENT_*`
environment variables (`SPAGENT_MLLM_URL`, `SPAGENT_REGISTRY`, ...), then
command-line arguments. `spagent config` prints the result and where each
value came from. `Settings.context()` turns them into a run's `Context`.

    # spagent.toml
    mllm_url = "http://localhost:8000/v1"
    registry = "paper"
    store_path = "strengths.db"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from .context import ABLATIONS, Context

__all__ = ["Settings", "load_settings"]

ENV_PREFIX = "SPAGENT_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")
    config_file: ClassVar[Path | None] = None

    mllm_url: str | None = Field(None, description="OpenAI-compatible MLLM endpoint; none: the MLLM-free planner.")
    mllm_model: str | None = Field(None, description="Served model id; none: the server's first model.")
    mllm_timeout_s: float = Field(120.0, gt=0, description="Timeout of one MLLM request.")
    registry: str = Field("demo", description="Built-in tool registry (demo, library, paper, research) or a YAML file.")
    store_path: str | None = Field(None, description="Capability store SQLite file; none: in memory.")
    artifacts_dir: str = Field("spagent_outputs", description="Where runs write their files.")
    cache_dir: str = Field(str(Path.home() / ".cache" / "spagent_graph"), description="Where demo pipelines are built.")
    device: str = Field("auto", description="Torch device for the tools.")
    judge: Literal["auto", "mllm", "classical"] = Field("auto", description="Which judge scores candidates.")
    judge_frames: int = Field(8, ge=1, le=64, description="Frames of each candidate the MLLM judge sees.")
    learn_from: Literal["mllm", "any", "none"] = Field("mllm", description="Which judged runs update strengths.")
    learning_weight: float = Field(0.5, ge=0, description="Weight of one judged use against a human score.")
    checkpoint: str | None = Field(
        None, description="Checkpoint store: SQLite file, postgresql:// URL or memory; none: <artifacts_dir>/checkpoints.sqlite."
    )
    review_plan: bool = Field(False, description="Stop after planning for a human to approve, edit or cancel.")
    pick_winner: bool = Field(False, description="Stop after judging for a human to pick the winner.")
    input_root: str | None = Field(None, description="Visual inputs must lie inside this folder (links resolved).")
    allowed_url_prefixes: list[str] = Field(default_factory=list, description="URL prefixes inputs may come from.")
    max_download_bytes: int = Field(512 * 2**20, ge=1, description="Largest input fetched from a URL.")
    max_input_side: int = Field(4096, ge=16, description="Input policy: larger images or videos are refused.")
    max_input_frames: int = Field(2000, ge=1, description="Input policy: longer input videos are refused.")
    ablations: list[str] = Field(default_factory=list, description=f"Stages switched off: any of {', '.join(ABLATIONS)}.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.config_file))
        return tuple(sources)

    @property
    def checkpoint_target(self) -> str:
        return self.checkpoint or str(Path(self.artifacts_dir) / "checkpoints.sqlite")

    def context(self, **services: Any) -> Context:
        """The run's `Context` from these settings; `services` are handed over ready-made."""
        fields = self.model_dump(exclude={"checkpoint"})
        fields["ablations"] = tuple(fields["ablations"])
        fields["allowed_url_prefixes"] = tuple(fields["allowed_url_prefixes"])
        return Context(**fields, **services)


def config_file_path(config_file: Path | str | None = None) -> Path | None:
    """The TOML file settings are read from, if any."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"--config: {path} is not a file; expected a TOML settings file.")
        return path
    if os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return config_file_path(os.environ[f"{ENV_PREFIX}CONFIG"])
    default = Path("spagent.toml")
    return default if default.is_file() else None


def load_settings(config_file: Path | str | None = None, **arguments: Any) -> Settings:
    """Settings from the file, the environment and `arguments` (None values count as not given)."""
    path = config_file_path(config_file)
    from_file = type("Settings", (Settings,), {"config_file": path})
    return from_file(**{k: v for k, v in arguments.items() if v is not None})


def sources_of(settings: Settings, arguments: dict[str, Any]) -> dict[str, str]:
    """Where each setting's value came from: argument, environment, file or default."""
    file_values: dict[str, Any] = {}
    if settings.config_file is not None:
        file_values = tomllib.loads(Path(settings.config_file).read_text())
    sources = {}
    for name in Settings.model_fields:
        if arguments.get(name) is not None:
            sources[name] = "argument"
        elif f"{ENV_PREFIX}{name.upper()}" in os.environ:
            sources[name] = "environment"
        elif name in file_values:
            sources[name] = f"file {settings.config_file}"
        else:
            sources[name] = "default"
    return sources
