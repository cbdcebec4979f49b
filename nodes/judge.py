"""Video quality evaluation of every candidate, all at once, by the run's judge backend.

The backend comes from the graph's services (`Services.judge`, per the run's `judge` setting): the
served MLLM when there is one, else the frame statistics; each evaluation
names the judge that scored it and notes any fallback.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.judging import judge_all, judge_question
from spagent_graph.prompts import SYSTEM
from spagent_graph.state import Decision, State


def judge_candidates(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    finished = [c for c in state.get("candidates", []) if c.video is not None]
    if not finished:
        return {"evaluations": []}
    for candidate in finished:  # the stream writer belongs to this thread, not the judge's pool
        runtime.stream_writer({"stage": "judge", "candidate": candidate.id})
    judge = services.judge(context)
    evaluations = judge_all(judge, finished, state["request"], state.get("visual"))
    decisions = []
    for candidate, evaluation in zip(finished, evaluations, strict=True):
        if evaluation.raw_answer is not None:
            prompt, visuals = judge_question(candidate, state["request"], state.get("visual"))
            decisions.append(Decision.asked("judge", prompt, visuals, evaluation.raw_answer, system=SYSTEM,
                                            max_frames=getattr(judge, "frames", None), candidate_id=candidate.id))
    return {"evaluations": evaluations, "decisions": decisions}
