"""Intent recognition: the input types, the subject, and text-visual alignment.

The types are read from the files (they are facts, not opinions). What the
MLLM is asked depends on the run's planner (`Context.planner_mode`):

- `single` (the default): one question, the subject, with alignment when
  there are both text and a visual input. Nothing the files or the route
  rules already settle is asked.
- `paper`: the paper's decoupled recognition, two questions asked at the
  same time: types and subject (the MLLM's reading of the types is kept,
  and any disagreement with the files noted), and alignment.

Alignment is "No" by definition unless both text and a visual input are
there. Without an MLLM, or when it fails, the MLLM-free planner decides and
the intent says so.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from langgraph.runtime import Runtime

from spagent_graph.answers import AlignmentAnswer, IntentAnswer, SubjectAnswer, TypesAnswer
from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.errors import MLLMError
from spagent_graph.fallback import text_matches_visual, text_type_of, visual_type_of
from spagent_graph.mllm import Visual
from spagent_graph.prompts import ALIGNMENT, SUBJECT, SUBJECT_AND_ALIGNMENT, SYSTEM, TYPES_AND_SUBJECT
from spagent_graph.state import UNKNOWN_SUBJECT, Decision, Intent, State, Subject


def recognize_intent(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    request, visual = state["request"], state.get("visual")
    text_type, visual_type = text_type_of(request.text), visual_type_of(visual)
    both_present = text_type != "None" and visual is not None
    visuals = [Visual(path=visual.path, kind=visual.kind)] if visual else []
    if context.ablated("no_intent"):
        # The ablation: nothing is asked or checked; text and visual input are taken to agree.
        notes = ["ablation no_intent: no intent recognition; text and visual input taken to agree."]
        subject, confidence = _read_subject(services, context, request.text, notes)
        return {"intent": Intent(
            text_type=text_type, visual_type=visual_type, subject=subject, subject_confidence=confidence,
            aligned=both_present, types_decided_by="ablation", alignment_decided_by="ablation", notes=notes,
        )}
    mllm = services.mllm(context)
    notes: list[str] = []
    heard = Heard()
    if mllm is not None:
        ask = _ask_as_the_paper if context.planner_mode == "paper" else _ask_once
        heard = ask(mllm, request.text, text_type, visual_type, visuals, both_present, notes, context)
    decisions = [
        Decision.asked(stage, prompt, visuals, answer.raw, system=SYSTEM, max_frames=mllm.max_frames)
        for stage, prompt, answer in heard.asked if answer is not None
    ]
    subject, aligned, confidence = heard.subject, heard.aligned, None
    types_by = "mllm" if subject is not None else "fallback"
    if subject is None:
        subject, confidence = _read_subject(services, context, request.text, notes)
    if not both_present:
        aligned, alignment_by = False, "principles"
    elif aligned is not None:
        alignment_by = "mllm"
    else:
        aligned, reason = text_matches_visual(request.text, visual)
        alignment_by = "fallback"
        notes.append(f"alignment heuristic: {reason}.")

    intent = Intent(
        text_type=text_type,
        visual_type=visual_type,
        subject=subject,
        subject_confidence=confidence,
        aligned=aligned,
        types_decided_by=types_by,
        alignment_decided_by=alignment_by,
        raw_types_answer=heard.raw_types,
        raw_alignment_answer=heard.raw_alignment,
        notes=notes,
    )
    return {"intent": intent, "decisions": decisions}


def _read_subject(services: Services, context: Context, text: str | None, notes: list[str]):
    reading = services.classifier(context).read(text, min_confidence=context.subject_min_confidence)
    if reading.subject == UNKNOWN_SUBJECT:
        why = ("there is no text to read it from" if not (text and text.strip()) else
               f"the classifier's confidence, {reading.confidence:.2f}, is below subject_min_confidence "
               f"({context.subject_min_confidence:.2f})")
        notes.append(f"subject unknown: {why}.")
    return reading.subject, round(reading.confidence, 4)


@dataclass
class Heard:
    """What the MLLM's answers settled (None: left to the fallback), and the questions as asked."""

    subject: Subject | None = None
    aligned: bool | None = None
    raw_types: str | None = None
    raw_alignment: str | None = None
    asked: tuple = ()


def _ask_once(mllm, text, text_type, visual_type, visuals, both_present, notes, context) -> Heard:
    """The default: one question, the subject (and alignment when both inputs are there)."""
    prompt, schema = (SUBJECT_AND_ALIGNMENT, IntentAnswer) if both_present else (SUBJECT, SubjectAnswer)
    prompt = prompt.format(text=text or "(none)", visual=visual_type)
    answer = _answer_or_note(lambda: mllm.ask(prompt, schema, visuals, system=SYSTEM), "intent", notes, context)
    if answer is None:
        return Heard(asked=(("intent", prompt, None),))
    aligned = answer.parsed.aligned == "Yes" if both_present else None
    return Heard(subject=answer.parsed.subject, aligned=aligned, raw_types=answer.raw,
                 raw_alignment=answer.raw if both_present else None, asked=(("intent", prompt, answer),))


def _ask_as_the_paper(mllm, text, text_type, visual_type, visuals, both_present, notes, context) -> Heard:
    """Decoupled recognition: types and subject, and alignment, as two questions at once."""
    types_prompt = TYPES_AND_SUBJECT.format(text=text or "(none)", visual=visual_type)
    alignment_prompt = ALIGNMENT.format(text=text)
    with ThreadPoolExecutor(max_workers=2) as pool:
        types_call = pool.submit(mllm.ask, types_prompt, TypesAnswer, visuals, system=SYSTEM)
        alignment_call = (pool.submit(mllm.ask, alignment_prompt, AlignmentAnswer, visuals, system=SYSTEM)
                          if both_present else None)
        types_answer = _answer_or_note(types_call.result, "types and subject", notes, context)
        alignment_answer = (_answer_or_note(alignment_call.result, "alignment", notes, context)
                            if alignment_call else None)
    heard = Heard(asked=(("types_and_subject", types_prompt, types_answer),
                         ("alignment", alignment_prompt, alignment_answer)))
    if types_answer is not None:
        heard.subject, heard.raw_types = types_answer.parsed.subject, types_answer.raw
        for field, ours in (("text_type", text_type), ("visual_type", visual_type)):
            theirs = getattr(types_answer.parsed, field)
            if theirs != ours:
                notes.append(f"the MLLM read {field} as {theirs!r}; the files say {ours!r}, which is kept.")
    if alignment_answer is not None:
        heard.aligned, heard.raw_alignment = alignment_answer.parsed.aligned == "Yes", alignment_answer.raw
    return heard


def _answer_or_note(get, what: str, notes: list[str], context: Context):
    try:
        return get()
    except MLLMError as exc:
        if not context.fallback_on_mllm_error:
            raise
        notes.append(f"MLLM failed on {what} ({exc}); the MLLM-free planner decided instead.")
        return None
