"""Tiny random-weight diffusers pipelines, built entirely in code, for demos and tests.

Each demo pipeline is assembled the way diffusers' own fast tests do it in ``get_dummy_components()``:
every component is created right after ``torch.manual_seed(seed)`` with the smallest configuration that
still exercises the real code path, and the whole pipeline is written with ``save_pretrained``.  The tool
adapter then loads it with the ordinary ``PipelineClass.from_pretrained(local_dir)`` call, exactly as it
loads a real checkpoint, so a demo run goes through the same loading, argument handling and video/image
post-processing as a real one.

Nothing is downloaded: the CLIP tokenizers are generated from a byte-level vocabulary written to a temporary
directory, the T5 (and UMT5) tokenizer from a character-level unigram vocabulary built with the
``tokenizers`` library, and the image processors and schedulers are configured in code.

Size choices shared by the demo pipelines (the constants in ``_base.py``):

* VAEs have four blocks, so they downsample by 8 like the real SD/SVD/ModelScope VAEs: a 64x64 frame
  becomes an 8x8 latent and ``height``/``width`` must be multiples of 8 (16 for SD3, whose transformer also
  patchifies by 2) -- the same divisibility rules an adapter meets with real checkpoints.
* Denoisers have two resolution levels (8x8 and 4x4 latents) with 32/64 channels and one layer per block;
  text and image encoders are 2-layer, 32-wide CLIP models.  A 2-step call at 64x64 (8 frames for video)
  takes about 0.05-0.3 s on a 2-core CPU, and each saved pipeline is 2-9 MB.
* The denoisers' ``sample_size`` is 8 (latent) so that the *default* height/width is already 64 wherever a
  pipeline derives it from the config.  SVD and I2VGen-XL have hard-coded defaults (576x1024, 704x1280):
  pass ``height=64, width=64`` to them (``DemoSpec.call_kwargs`` does).

``DEMO_PIPELINES`` (``_demo.py``) are the ten pipelines of ``registries/demo.yaml``, two per task, that
make the whole graph run anywhere; ``demo://NAME`` in a registry entry names one of them. Other tiny
builds can be registered with :func:`register_demo_pipelines` and are then built, saved and cached by the
same functions (:func:`build_demo_pipeline`, :func:`ensure_demo_pipeline`): the tests register their
``tiny-<model>`` stand-ins of every library model this way (``tests/tiny_pipelines``).

Only torch, diffusers, transformers, tokenizers and the standard library are imported.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import tempfile
import threading
from typing import Any

from spagent_graph.quiet import quiet_loading

from ._base import (
    DEMO_NUM_FRAMES,
    DEMO_RESOLUTION,
    DemoSpec,
    build_clip_tokenizer,
    build_t5_tokenizer,
)
from ._demo import DEMO_COMPONENT_BUILDERS, DEMO_PIPELINES

__all__ = [
    "DEMO_NUM_FRAMES",
    "DEMO_PIPELINES",
    "DEMO_RESOLUTION",
    "DemoSpec",
    "STAMP_FILE",
    "build_clip_tokenizer",
    "build_demo_components",
    "build_demo_pipeline",
    "build_t5_tokenizer",
    "ensure_demo_pipeline",
    "register_demo_pipelines",
]

_SPECS: dict[str, DemoSpec] = dict(DEMO_PIPELINES)
_COMPONENT_BUILDERS = dict(DEMO_COMPONENT_BUILDERS)
_CODE: dict[str, pathlib.Path] = {}  # registered name -> the folder of its builders' code


def register_demo_pipelines(specs: dict[str, DemoSpec], component_builders: dict[str, Any],
                            code: pathlib.Path) -> None:
    """Makes more tiny builds known by name (to `ensure_demo_pipeline` and to `demo://NAME` models).

    `code` is the folder of their builders' code: a cached build is rebuilt when it changes. A name
    of the demo registry's own cannot be taken."""
    taken = sorted(set(specs) & set(DEMO_PIPELINES))
    if taken:
        raise ValueError(f"{taken} are the demo registry's own pipelines; register other names.")
    _SPECS.update(specs)
    _COMPONENT_BUILDERS.update(component_builders)
    _CODE.update(dict.fromkeys(specs, pathlib.Path(code)))


def _known(name: str) -> DemoSpec:
    if name not in _SPECS:
        others = sorted(set(_SPECS) - set(DEMO_PIPELINES))
        raise KeyError(f"unknown demo pipeline {name!r}; known: {sorted(DEMO_PIPELINES)}"
                       + (f" and registered {others}" if others else ""))
    return _SPECS[name]


def build_demo_components(name: str, seed: int = 0) -> dict[str, Any]:
    """The keyword arguments for ``PipelineClass(**components)`` of demo (or tiny) pipeline ``name``."""
    _known(name)
    if name not in _COMPONENT_BUILDERS:
        raise KeyError(f"{name!r} builds a single model ({_SPECS[name].pipeline_class}), not a pipeline")
    return _COMPONENT_BUILDERS[name](seed)


def build_demo_pipeline(name: str, dest: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Builds the tiny pipeline (or model) `name`, saves it with save_pretrained into dest, returns dest."""
    spec = _known(name)
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    # Building logs notices that say nothing about the demo (the deprecation notice of the ModelScope and
    # I2VGen-XL pipeline classes, UNetMotionModel's "modules that should be kept in float32: []") and
    # transformers draws a "Writing model shards" bar per encoder: keep both out of the build, as out of a load.
    with quiet_loading():
        built = spec.builder(seed)
        built.save_pretrained(dest, safe_serialization=True)
    return dest


#: Written next to model_index.json by :func:`ensure_demo_pipeline`; diffusers ignores it when loading.
STAMP_FILE = "demo_build.json"
_ENSURE_LOCK = threading.Lock()


def _fingerprint(name: str, seed: int) -> dict[str, Any]:
    """What a cached build depends on: the name, the seed, the builders' code and the library versions."""
    import diffusers
    import transformers

    digest = hashlib.sha256()
    # This package's code, and that of the package that registered the build, if another did.
    folders = {pathlib.Path(__file__).parent, _CODE.get(name, pathlib.Path(__file__).parent)}
    for folder in sorted(folders):
        for source in sorted(folder.glob("*.py")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return {
        "name": name,
        "seed": seed,
        "module_sha256": digest.hexdigest(),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def ensure_demo_pipeline(name: str, cache_dir: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Returns ``cache_dir / name``, building the demo pipeline there first unless an up-to-date build is
    already there.

    A build is up to date when its stamp file matches this package's code, the seed and the installed
    diffusers/transformers versions.  The pipeline is built in a temporary sibling folder and moved into
    place, so an interrupted build never leaves a half-written folder behind, and concurrent callers in one
    process build it once.
    """
    _known(name)
    cache_dir = pathlib.Path(cache_dir)
    dest = cache_dir / name
    wanted = _fingerprint(name, seed)

    def up_to_date() -> bool:
        try:
            stamp = json.loads((dest / STAMP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        # A pipeline has model_index.json; a single model (the motion adapter) has config.json.
        return stamp == wanted and ((dest / "model_index.json").is_file() or (dest / "config.json").is_file())

    with _ENSURE_LOCK:
        if up_to_date():
            return dest
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
        try:
            build_demo_pipeline(name, staging, seed=seed)
            (staging / STAMP_FILE).write_text(json.dumps(wanted, indent=2), encoding="utf-8")
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return dest
