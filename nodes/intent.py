"""Decoupled intent recognition: two separate questions, asked at the same time.

1. Types and subject. The types are read from the files (they are facts, not
   opinions); the MLLM's own reading is kept and any disagreement noted. The
   subject is the MLLM's answer.
2. Alignment. Only asked when there are both text and a visual input; by the
   paper's definition it is "No" otherwise.

Without an MLLM, or when it fails, the MLLM-free planner decides and the
intent says so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from spagent_graph.answers import AlignmentAnswer, TypesAnswer
from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.errors import MLLMError
from spagent_graph.fallback import text_matches_visual, text_type_of, visual_type_of
from spagent_graph.mllm import Visual
from spagent_graph.prompts import ALIGNMENT, SYSTEM, TYPES_AND_SUBJECT
from spagent_graph.state import Decision, Intent, State


def recognize_intent(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    request, visual = state["request"], state.get("visual")
    text_type, visual_type = text_type_of(request.text), visual_type_of(visual)
    both_present = text_type != "None" and visual is not None
    visuals = [Visual(path=visual.path, kind=visual.kind)] if visual else []
    if context.ablated("no_intent"):
        # The ablation: nothing is asked or checked; text and visual input are taken to agree.
        return {"intent": Intent(
            text_type=text_type, visual_type=visual_type, subject=services.classifier().classify(request.text),
            aligned=both_present, types_decided_by="ablation", alignment_decided_by="ablation",
            notes=["ablation no_intent: no intent recognition; text and visual input taken to agree."],
        )}
    mllm = services.mllm(context)
    notes: list[str] = []

    types_answer = alignment_answer = None
    types_prompt = TYPES_AND_SUBJECT.format(text=request.text or "(none)", visual=visual_type)
    alignment_prompt = ALIGNMENT.format(text=request.text)
    if mllm is not None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            types_call = pool.submit(mllm.ask, types_prompt, TypesAnswer, visuals, system=SYSTEM)
            alignment_call = (
                pool.submit(mllm.ask, alignment_prompt, AlignmentAnswer, visuals, system=SYSTEM)
                if both_present else None
            )
            types_answer = _result_or_note(types_call, "types and subject", notes, context)
            alignment_answer = _result_or_note(alignment_call, "alignment", notes, context) if alignment_call else None

    if types_answer is not None:
        subject, types_by = types_answer.parsed.subject, "mllm"
        for field, ours in (("text_type", text_type), ("visual_type", visual_type)):
            theirs = getattr(types_answer.parsed, field)
            if theirs != ours:
                notes.append(f"the MLLM read {field} as {theirs!r}; the files say {ours!r}, which is kept.")
    else:
        subject, types_by = services.classifier().classify(request.text), "fallback"

    if not both_present:
        aligned, alignment_by = False, "principles"
    elif alignment_answer is not None:
        aligned, alignment_by = alignment_answer.parsed.aligned == "Yes", "mllm"
    else:
        aligned, reason = text_matches_visual(request.text, visual)
        alignment_by = "fallback"
        notes.append(f"alignment heuristic: {reason}.")

    intent = Intent(
        text_type=text_type,
        visual_type=visual_type,
        subject=subject,
        aligned=aligned,
        types_decided_by=types_by,
        alignment_decided_by=alignment_by,
        raw_types_answer=types_answer.raw if types_answer else None,
        raw_alignment_answer=alignment_answer.raw if alignment_answer else None,
        notes=notes,
    )
    decisions = [
        Decision.asked(stage, prompt, visuals, answer.raw, system=SYSTEM, max_frames=mllm.max_frames)
        for stage, prompt, answer in (("types_and_subject", types_prompt, types_answer),
                                      ("alignment", alignment_prompt, alignment_answer))
        if answer is not None
    ]
    return {"intent": intent, "decisions": decisions}


def _result_or_note(call, what: str, notes: list[str], context: Context):
    try:
        return call.result()
    except MLLMError as exc:
        if not context.fallback_on_mllm_error:
            raise
        notes.append(f"MLLM failed on {what} ({exc}); the MLLM-free planner decided instead.")
        return None
