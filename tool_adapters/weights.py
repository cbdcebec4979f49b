"""Are a tool's weights on this machine, and the command that fetches them if not.

Weights, checked without any network
------------------------------------
A diffusers tool's `model` is a local folder or a hub id. A hub id is looked
up in the Hugging Face cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
`~/.cache/huggingface/hub`, read when the check runs) through the snapshot
that `refs/main` names. A pipeline folder is complete when it has
`model_index.json` and every component listed there that holds weights (not a
scheduler, tokenizer or processor) has its weight files: the entry's
`variant` ones (`*.fp16.safetensors`) where the component has them, else the
plain ones, as diffusers loads them, and every shard an index names. A
component that the entry loads from another model (AnimateDiff's motion
adapter) is checked in its own folder. `demo://` models are built in code and
always present; a research-repository entry is present once `repo_dir` is an
existing folder (and `model`, where its command takes the {checkpoint}).

A run checks its tools before it generates anything (`require_weights`), so
that one whose tools lack weights stops with one line per tool and the command
that fetches them, instead of failing (or downloading tens of GB) in the
middle of a route; `spagent doctor` shows the same checks for a registry.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from spagent_graph.errors import MissingWeightsError

from .registry import DEMO_SCHEME, ToolSpec

__all__ = ["WeightsCheck", "check_weights", "component_weight_files", "hub_cache_dir", "local_weights",
           "require_weights"]


@dataclass(frozen=True)
class WeightsCheck:
    present: bool
    found: list[str]  # local folders found (snapshot folders or local paths)
    missing: list[str]  # hub ids or paths not present
    download: str | None  # the shell command that fetches everything missing, where it can be fetched
    hint: str | None = None


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now.

    huggingface_hub reads these variables once, when it is imported; reading
    them here instead means a cache chosen later (by a test, or a server that
    sets it after start-up) is the one checked.
    """
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(hub)))


@dataclass
class _Location:
    """One place a tool's weights come from: its own model, or a component loaded from another model."""

    model: str
    component: str | None = None  # the pipeline component it is loaded as; None for the pipeline itself
    subfolder: str | None = None
    pipeline: bool = False  # a whole pipeline (model_index.json), else a single model
    variant: str | None = None
    skip: frozenset[str] = frozenset()  # pipeline components the entry loads from elsewhere
    folder: Path | None = None  # the local folder, when there is one
    gaps: list[str] = field(default_factory=list)  # what the folder lacks

    @property
    def is_hub_id(self) -> bool:
        return not Path(self.model).expanduser().exists() and _looks_like_hub_id(self.model)

    @property
    def complete(self) -> bool:
        return self.folder is not None and not self.gaps


def _looks_like_hub_id(model: str) -> bool:
    # What diffusers does too: an existing folder wins, anything else of the form org/name is a hub id.
    return not model.startswith(("/", "./", "../", "~")) and re.fullmatch(r"[\w.-]+/[\w.-]+", model) is not None


def _locations(spec: ToolSpec) -> list[_Location]:
    """Where the weights of a diffusers tool come from, each looked up on this machine."""
    own_model = {name for name, c in spec.components.items() if c.model and c.model != spec.model}
    locations = [_Location(spec.model, pipeline=True, variant=spec.variant, skip=frozenset(own_model))]
    for name in sorted(own_model):
        component = spec.components[name]
        # The adapter loads these without a variant, so their plain files are the ones needed.
        locations.append(_Location(component.model, component=name, subfolder=component.subfolder))
    for location in locations:
        _look_up(location)
    return locations


def _look_up(location: _Location) -> None:
    root = Path(location.model).expanduser()
    if not root.is_dir():
        root = _snapshot(location) if location.is_hub_id else None
    if root is None:
        return
    location.folder = root
    if location.pipeline:
        location.gaps = _pipeline_gaps(root, location.variant, location.skip)
    else:
        folder = root / location.subfolder if location.subfolder else root
        location.gaps = [] if _weight_files(folder, None) else ["weights"]


def _snapshot(location: _Location) -> Path | None:
    """The cached snapshot that refs/main points to, found through the file that marks it complete."""
    from huggingface_hub import try_to_load_from_cache

    marker = "model_index.json" if location.pipeline else "config.json"
    if location.subfolder and not location.pipeline:
        marker = f"{location.subfolder}/{marker}"
    found = try_to_load_from_cache(location.model, marker, cache_dir=hub_cache_dir())
    if not isinstance(found, str):  # None, or the cache's record that the file does not exist
        return None
    return Path(found).parents[marker.count("/")]


def local_weights(model: str, subfolder: str | None = None, *, variant: str | None = None,
                  pipeline: bool = True) -> tuple[Path | None, dict[str, list[Path]]]:
    """Where a model's weights are on this machine, with no network: its folder (a local one, or the
    cached hub snapshot) and the weight files `from_pretrained` would read for each component that has
    weights (a pipeline's, by its model_index.json; a single model's under the key ""). The folder is
    None when the model is not here."""
    location = _Location(model, subfolder=subfolder, pipeline=pipeline, variant=variant)
    root = Path(model).expanduser()
    root = root if root.is_dir() else (_snapshot(location) if location.is_hub_id else None)
    if root is None:
        return None, {}
    if not pipeline:
        return root, {"": _weight_files(root / subfolder if subfolder else root, None)}
    try:
        model_index = json.loads((root / "model_index.json").read_text())
    except (OSError, ValueError):
        return root, {}
    return root, {name: _weight_files(root / name, variant) for name in _components_with_weights(model_index)}


_WEIGHTLESS = ("Scheduler", "Tokenizer", "Processor", "FeatureExtractor")


def component_weight_files(spec: ToolSpec) -> dict[str, tuple[list[Path], str | None]] | None:
    """The weight files of each component of a diffusers tool, with the variant they were chosen for;
    None unless every one of them is here."""
    locations = _locations(spec)
    if not all(location.complete for location in locations):
        return None
    main, *components = locations
    files: dict[str, tuple[list[Path], str | None]] = {}
    model_index = json.loads((main.folder / "model_index.json").read_text())
    for name in _components_with_weights(model_index):
        if name not in main.skip:
            files[name] = (_weight_files(main.folder / name, main.variant), main.variant)
    for location in components:
        folder = location.folder / location.subfolder if location.subfolder else location.folder
        files[location.component] = (_weight_files(folder, None), None)
    return files


def _components_with_weights(model_index: dict) -> list[str]:
    """The components of a model_index.json that load weights (an absent one is [null, null])."""
    return [
        name
        for name, value in model_index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)
        and not any(word in value[1] for word in _WEIGHTLESS)
    ]


def _pipeline_gaps(root: Path, variant: str | None, skip: frozenset[str]) -> list[str]:
    try:
        model_index = json.loads((root / "model_index.json").read_text())
    except (OSError, ValueError):
        return ["a readable model_index.json"]
    components = [name for name in _components_with_weights(model_index) if name not in skip]
    gaps = [f"{name}'s weights" for name in components if not _weight_files(root / name, variant)]
    # diffusers takes plain files for a component that lacks the variant, but refuses a folder with none of it.
    if variant and not gaps and not any(_variant_files(root / name, variant) for name in components):
        gaps.append(f"any {variant} weights")
    return gaps


def _variant_files(folder: Path, variant: str) -> list[Path]:
    tag = re.compile(rf"\.{re.escape(variant)}(?:[.-]|$)")
    return [f for f in _all_weight_files(folder) if tag.search(f.name.removesuffix(f.suffix))]


def _all_weight_files(folder: Path) -> list[Path]:
    # is_file() follows the snapshot's links into blobs/, so a link whose blob never arrived does not count.
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin") and f.is_file())


def _weight_files(folder: Path, variant: str | None) -> list[Path]:
    """The weight files from_pretrained would read, [] when they are absent or a shard is missing."""
    chosen = _variant_files(folder, variant) if variant else []
    if not chosen:
        # Plain names carry no dotted tag: model.safetensors, diffusion_pytorch_model-00001-of-00002.safetensors.
        chosen = [f for f in _all_weight_files(folder) if "." not in f.name.removesuffix(f.suffix)]
    safetensors = [f for f in chosen if f.suffix == ".safetensors"]
    chosen = safetensors or chosen
    for index in folder.glob("*.index*.json") if chosen else []:
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError):
            return []
        names = {f.name for f in chosen}
        if shards & names and not shards <= names:
            return []
    return chosen


@cache
def _hub_cli() -> str:
    """`hf` where huggingface_hub ships it (0.34 and later), else the older `huggingface-cli`."""
    try:
        scripts = {ep.name for ep in distribution("huggingface_hub").entry_points if ep.group == "console_scripts"}
    except PackageNotFoundError:
        scripts = set()
    return "hf" if "hf" in scripts else "huggingface-cli"


def _download_command(location: _Location) -> str:
    """The command that fetches what `location` needs into the hub cache, and no more.

    A pipeline takes model_index.json and its component folders: the files at
    the root of many repositories are single-file checkpoints of tens of GB
    that diffusers never reads (FLUX.1-dev, LTX-Video, SVD). With a variant,
    only that variant's weights and the small files beside them.
    """
    if location.pipeline and location.variant:
        patterns = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", f"*/*.{location.variant}*.safetensors"]
    elif location.pipeline:
        patterns = ["model_index.json", "*/*"]
    elif location.subfolder:
        patterns = [f"{location.subfolder}/*"]
    else:
        patterns = []
    cli = _hub_cli()
    words = [cli, "download", location.model]
    if patterns and cli == "hf":
        words += [word for pattern in patterns for word in ("--include", pattern)]
    elif patterns:  # the older CLI takes several patterns after one --include
        words += ["--include", *patterns]
    return shlex.join(words)


def _login_hint(model: str) -> str:
    login = "hf auth login" if _hub_cli() == "hf" else "huggingface-cli login"
    return f"{model} is gated: accept its licence at https://huggingface.co/{model}, then log in (`{login}`)"


def check_weights(spec: ToolSpec) -> WeightsCheck:
    """Whether the weights `spec` loads are on this machine; looks at files only, never at the network."""
    if spec.adapter == "research_repo":
        return _check_research_repo(spec)
    if spec.model.startswith(DEMO_SCHEME):
        return WeightsCheck(present=True, found=[], missing=[], download=None)
    locations = _locations(spec)
    found = [str(location.folder) for location in locations if location.complete]
    absent = [location for location in locations if not location.complete]
    if not absent:
        return WeightsCheck(present=True, found=found, missing=[], download=None)
    hints = [f"{location.folder} lacks {', '.join(location.gaps)}" for location in absent if location.folder]
    local = [location.model for location in absent if not location.is_hub_id and location.folder is None]
    hints += [f"{model} is neither a folder here nor a hub id" for model in local]
    if spec.gated:
        hints += [_login_hint(location.model) for location in absent if location.is_hub_id]
    # What is missing from a local folder cannot be fetched for it: then the hint says what to do.
    fetchable = all(location.is_hub_id for location in absent)
    download = " && ".join(_download_command(location) for location in absent) if fetchable else None
    return WeightsCheck(
        present=False, found=found, missing=[location.model for location in absent], download=download,
        hint="; ".join(hints) or None,
    )


def _check_research_repo(spec: ToolSpec) -> WeightsCheck:
    source = spec.repo_url or "the authors' repository"
    if not spec.repo_dir:
        return WeightsCheck(False, [], [spec.repo_url or "repo_dir"], None,
                            hint=f"clone {source} and set `repo_dir` of `{spec.name}` to the clone")
    clone = Path(spec.repo_dir).expanduser()
    if not clone.is_dir():
        return WeightsCheck(False, [], [spec.repo_dir], None,
                            hint=f"`repo_dir` of `{spec.name}` is not a folder: clone {source} there")
    takes_checkpoint = "{checkpoint}" in json.dumps([spec.command, spec.prepare, spec.config])
    if takes_checkpoint and not (spec.model and Path(spec.model).expanduser().exists()):
        return WeightsCheck(False, [str(clone)], [spec.model or "`model` (its checkpoint)"], None,
                            hint=f"set `model` of `{spec.name}` to its weights (see the entry's comments)")
    found = [str(clone)] + ([spec.model] if takes_checkpoint else [])
    return WeightsCheck(True, found, [], None)


def _missing_line(spec: ToolSpec, check: WeightsCheck) -> str:
    fix = f"{check.download} ({check.hint})" if check.download and check.hint else check.download or check.hint
    return f"{spec.name} ({spec.task}): {', '.join(check.missing)} — {fix}"


def require_weights(specs: Iterable[ToolSpec]) -> None:
    """Raises MissingWeightsError naming every tool whose weights are not here.

    Research templates whose `repo_dir` is unset are skipped: selection never
    picks them, so they cannot stop a run.
    """
    checks = [(spec, check_weights(spec)) for spec in specs if spec.is_runnable]
    missing = [(spec, check) for spec, check in checks if not check.present]
    if missing:
        raise MissingWeightsError({spec.name: check for spec, check in missing},
                                  [_missing_line(spec, check) for spec, check in missing])
