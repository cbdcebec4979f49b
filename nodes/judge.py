"""Video quality evaluation of every candidate, all at once.

The served MLLM judges when there is one (and `judge` is not `classical`);
otherwise, or when the MLLM fails, the classical frame-statistics score does,
and the evaluation says which.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from spagent_graph.context import Context, context_of
from spagent_graph.errors import MLLMError
from spagent_graph.judging import classical_evaluation, mllm_evaluation
from spagent_graph.state import Candidate, Evaluation, State


def judge_candidates(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    finished = [c for c in state.get("candidates", []) if c.video is not None]
    if not finished:
        return {"evaluations": []}
    mllm = context.mllm_client() if context.judge != "classical" else None

    def evaluate(candidate: Candidate) -> Evaluation:
        if mllm is None:
            return classical_evaluation(candidate, state.get("visual"))
        try:
            return mllm_evaluation(mllm, candidate, state["request"], state.get("visual"))
        except MLLMError as exc:
            if not context.fallback_on_mllm_error:
                raise
            fallback = classical_evaluation(candidate, state.get("visual"))
            return fallback.model_copy(update={"notes": [*fallback.notes, f"MLLM judge failed ({exc})."]})

    for candidate in finished:  # the stream writer belongs to this thread, not the pool's
        runtime.stream_writer({"stage": "judge", "candidate": candidate.id})
    with ThreadPoolExecutor(max_workers=len(finished)) as pool:
        evaluations = list(pool.map(evaluate, finished))
    return {"evaluations": evaluations}
