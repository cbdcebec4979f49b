"""How a diffusers pipeline is called, by registry `call_style`.

Most pipelines take our standard arguments under their usual names, and
`generic` passes those their `__call__` accepts. A pipeline that needs more
than a call (an inversion first, renamed arguments) gets a style here, named
in its registry entry.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

from .registry import ToolSpec

__all__ = ["CALL_STYLES", "CallStyle", "flux_kontext", "generic", "latte", "ledits_pp", "ltx2_condition", "sana_video",
           "wan"]

CallStyle = Callable[[Any, dict[str, Any], ToolSpec], dict[str, Any]]


def generic(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """The offered arguments that `pipeline.__call__` takes, then the entry's fixed `call` arguments."""
    accepted = inspect.signature(pipeline.__call__).parameters
    kwargs = {k: v for k, v in offered.items() if k in accepted and v is not None}
    on_step_end = offered.get("callback_on_step_end")
    if on_step_end is not None and "callback_on_step_end" not in accepted and "callback" in accepted:
        # Older pipelines (ModelScope's TextToVideoSD, I2VGen-XL) report steps through
        # `callback(step, timestep, latents)` instead; progress should not depend on which.
        kwargs["callback"] = lambda step, timestep, latents: on_step_end(pipeline, step, timestep, {})
        if "callback_steps" in accepted:
            kwargs["callback_steps"] = 1
    else:
        _report_scheduler_steps(pipeline, on_step_end if "callback_on_step_end" not in accepted else None)
    kwargs.update(spec.call)
    return kwargs


def _report_scheduler_steps(pipeline: Any, on_step_end: Callable[..., Any] | None) -> None:
    """For a pipeline with no step callback at all (HunyuanVideo 1.5): its scheduler takes one `step`
    per denoising step, so this call's scheduler reports them. Set anew for every call (the class's own
    `step` underneath), the pipeline's call lock keeping calls apart; a call that wants no reports
    removes the last call's, which would otherwise report to a finished step."""
    scheduler = getattr(pipeline, "scheduler", None)
    if scheduler is None or not hasattr(type(scheduler), "step"):
        return
    vars(scheduler).pop("step", None)
    if on_step_end is None:
        return
    own_step = type(scheduler).step.__get__(scheduler)
    taken = 0

    def step(*args: Any, **kwargs: Any) -> Any:
        nonlocal taken
        result = own_step(*args, **kwargs)
        on_step_end(pipeline, taken, None, {})
        taken += 1
        return result

    scheduler.step = step


def latte(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """LattePipeline: `generic`, with the frame count passed as `video_length` (it has no `num_frames`).

    Latte-1 has a fixed table of 16 temporal positions, so its entry's frame rule
    is exactly 16; any other count fails inside the transformer.
    """
    kwargs = generic(pipeline, offered, spec)
    if offered.get("num_frames") is not None and "video_length" not in spec.call:
        kwargs["video_length"] = offered["num_frames"]
    return kwargs


def wan(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """The Wan pipelines: `generic`, once their prompt cleaning works without `ftfy`.

    diffusers 0.42's WanImageToVideoPipeline and WanVideoToVideoPipeline call
    `ftfy.fix_text` on every prompt but import `ftfy` only when it is installed,
    so without it they fail with `NameError: name 'ftfy' is not defined`
    (WanPipeline checks first). Where `ftfy` is missing, the pipeline's module
    gets a stand-in whose `fix_text` returns the text unchanged -- what
    WanPipeline itself does then. Installing `ftfy` makes this a no-op.
    """
    module = sys.modules.get(type(pipeline).__module__)
    if module is not None and "ftfy" not in vars(module):
        try:
            import ftfy
        except ImportError:
            ftfy = types.SimpleNamespace(fix_text=lambda text: text)
        module.ftfy = ftfy
    return generic(pipeline, offered, spec)


def _named_parameters(function: Callable[..., Any]) -> set[str]:
    """Parameter names a function takes by name (not a `**kwargs` catch-all)."""
    return {
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }


def ledits_pp(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """The LEdits++ pipelines: invert the input image, then edit with the prompt.

    `pipeline.invert(image=...)` runs the inversion (`num_inference_steps`
    inversion steps, of which the first `skip` fraction is skipped) and keeps
    its latents on the pipeline; the returned arguments then make the edit,
    with the request's prompt as the single `editing_prompt`. The edit's
    length follows from the inversion, so the call takes no step count.

    Entries of `call` go to whichever of the two takes them (`skip`,
    `source_prompt`, `source_guidance_scale` to `invert`; `edit_guidance_scale`,
    `edit_threshold`, ... to the edit; both for names both take). The inverted
    latents live on the pipeline object until the edit runs, so two requests
    must not share one pipeline concurrently.
    """
    if offered.get("image") is None:
        raise ValueError("LEdits++ edits an image: the request has none.")
    invert_takes = _named_parameters(pipeline.invert)
    call_takes = _named_parameters(pipeline.__call__)

    inversion = {"image": offered["image"]}
    for name in ("height", "width", "generator"):
        if offered.get(name) is not None:
            inversion[name] = offered[name]
    if offered.get("num_inference_steps") is not None:
        inversion["num_inversion_steps"] = offered["num_inference_steps"]
    inversion.update({k: v for k, v in spec.call.items() if k in invert_takes})
    pipeline.invert(**inversion)

    kwargs = {k: v for k, v in offered.items() if k in call_takes and v is not None}
    if offered.get("prompt"):
        kwargs["editing_prompt"] = [offered["prompt"]]
    kwargs.update({k: v for k, v in spec.call.items() if k in call_takes or k not in invert_takes})
    return kwargs




def sana_video(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """The SANA-Video pipelines: `generic`, with the frame count passed as `frames` and the motion score
    in the prompt.

    SanaVideoPipeline and SanaImageToVideoPipeline take `frames` (they have no `num_frames`). The model card
    ends every prompt with " motion score: N." (N from 0 to 100, 30 in its examples); an entry's
    `call: {motion_score: N}` is appended so rather than passed to the pipeline, which has no such argument.
    """
    kwargs = generic(pipeline, offered, spec)
    if offered.get("num_frames") is not None and "frames" not in spec.call:
        kwargs["frames"] = offered["num_frames"]
    motion_score = kwargs.pop("motion_score", None)
    if motion_score is not None and kwargs.get("prompt"):
        kwargs["prompt"] = f"{kwargs['prompt']} motion score: {motion_score}."
    return kwargs


def ltx2_condition(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """LTX2ConditionPipeline as video-to-video: `generic`, with the input video passed as one condition.

    The pipeline has no `video` argument; it takes `conditions`, LTX2VideoCondition items placed at latent
    indices. The fitted input video (already resampled to the entry's frame count and size) becomes one
    condition over the whole clip, at latent index 0, with the entry's `call: {condition_strength: s}`
    (default 1.0), which is taken out rather than passed on. Every step blends the model's denoised estimate
    toward the input's latents by `s` and starts those tokens at noise level `1 - s`: 1.0 gives back the
    input, lower values leave more to the prompt.
    """
    from diffusers.pipelines.ltx2 import LTX2VideoCondition

    if not offered.get("video"):
        raise ValueError("LTX-2 video-to-video conditions on an input video: the request has none.")
    kwargs = generic(pipeline, offered, spec)
    strength = kwargs.pop("condition_strength", 1.0)
    kwargs["conditions"] = [LTX2VideoCondition(frames=list(offered["video"]), index=0, strength=strength)]
    return kwargs


def flux_kontext(pipeline: Any, offered: dict[str, Any], spec: ToolSpec) -> dict[str, Any]:
    """FluxKontextPipeline: `generic`, with `max_area` set to the area of the fitted height and width.

    Kontext rescales the height and width it is given to the area `max_area` (default 1024 x 1024) at the
    same aspect ratio, so a fitted 512x512 request would come back 1024x1024. Its own area keeps the size.
    The input image is still resized to Kontext's nearest preferred resolution (about a megapixel), as it
    was trained. An entry's `call: {max_area: N}` wins.
    """
    kwargs = generic(pipeline, offered, spec)
    if offered.get("height") and offered.get("width") and "max_area" not in spec.call:
        kwargs["max_area"] = offered["height"] * offered["width"]
    return kwargs


CALL_STYLES: dict[str, CallStyle] = {
    "generic": generic, "latte": latte, "ledits_pp": ledits_pp, "wan": wan,
    "sana_video": sana_video, "ltx2_condition": ltx2_condition, "flux_kontext": flux_kontext,
}
