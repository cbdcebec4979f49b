"""What the GPU benchmarks of acceleration share: a levered copy of a pipeline, and rounds in rotated order."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any


def levered_copy(pipeline: Any, levers: Any) -> Any:
    """`pipeline` with `levers` pulled on its own copy of the denoiser; the encoders and the VAE stay shared,
    as the tool's pool shares them between pipelines of one model (only the levered modules differ)."""
    from spagent_graph.tool_adapters.acceleration import apply_levers

    if levers.is_plain:
        return pipeline
    own = {name: copy.deepcopy(component) for name, component in pipeline.components.items()
           if name in (levers.target, f"{levers.target}_2", "scheduler") and component is not None}
    variant = type(pipeline)(**{**pipeline.components, **own})
    variant.set_progress_bar_config(disable=True)
    apply_levers(variant, levers)
    return variant


def pulled_levers(levers: Any) -> dict[str, Any]:
    """Each lever `levers` pulls, with the levers less that one (a lever's share is what leaving it out costs)."""
    unpulled = {"cache": None, "compile": "none", "attention_backend": None}
    return {lever: levers.model_copy(update={lever: unset, **({"blocks": ()} if lever == "compile" else {})})
            for lever, unset in unpulled.items() if getattr(levers, lever) != unset}


def rotated_rounds(variants: Sequence[str], repeats: int) -> Iterator[tuple[int, str]]:
    """Every variant once per round, the order rotated each round so that drift on a shared machine
    (a single 1 s call varies by 25% there) falls on none of them."""
    for round_index in range(repeats):
        turn = round_index % len(variants)
        for variant in [*variants[turn:], *variants[:turn]]:
            yield round_index, variant
