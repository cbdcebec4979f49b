"""Tiny random-weight stand-ins of every model of the tool library, for the tests.

``tiny-<model>`` copies a library model's *structure* at toy width (see ``core.py``): VAE spatial and
temporal compression, patch sizes, latent channels, positional-embedding kind, the components the
pipeline loads, so the frame and size rules a registry entry declares are the ones the tiny model
enforces. ``DemoSpec.mirrors`` lists the hub ids each one stands for; :func:`tiny_pipeline_for` finds it.

They live beside the tests, as diffusers keeps its dummy components in its test files: the package ships
only the demo registry's pipelines. Importing this package registers the stand-ins with the package's
builder (``register_demo_pipelines``), so ``ensure_demo_pipeline("tiny-...")`` and ``demo://tiny-...``
work in the tests; ``tests/conftest.py`` imports it.
"""

from __future__ import annotations

from pathlib import Path

from spagent_graph.tool_adapters.demo_pipelines import register_demo_pipelines

from .core import TINY_COMPONENT_BUILDERS, TINY_PIPELINES, TINY_WAN_DENOISER
from .image_edit import TINY as IMAGE_EDIT
from .ltx2_hunyuan15 import TINY as LTX2_HUNYUAN15
from .skyreels_kandinsky_sana import TINY as SKYREELS_KANDINSKY_SANA
from .wan22 import TINY as WAN22

__all__ = ["TINY_COMPONENT_BUILDERS", "TINY_PIPELINES", "TINY_WAN_DENOISER", "tiny_pipeline_for"]

# The newer models, one module per family, each building its specs with core's `_spec` and `_model_spec`.
for family in (WAN22, LTX2_HUNYUAN15, SKYREELS_KANDINSKY_SANA, IMAGE_EDIT):
    TINY_PIPELINES.update(family)


def tiny_pipeline_for(hub_id: str) -> str:
    """The name of the tiny build that stands in for the real checkpoint ``hub_id``."""
    for name, spec in TINY_PIPELINES.items():
        if hub_id in spec.mirrors:
            return name
    raise KeyError(f"no tiny pipeline mirrors {hub_id!r}")


register_demo_pipelines(TINY_PIPELINES, TINY_COMPONENT_BUILDERS, code=Path(__file__).parent)
