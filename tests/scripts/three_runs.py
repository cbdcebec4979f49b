"""Three requests on one thread, with a checkpointer made the way a user makes one.

    python three_runs.py memory|sqlite FILE|postgres URL  ARTIFACTS CACHE

Run in a process of its own because LangGraph reads LANGGRAPH_STRICT_MSGPACK when
it is imported. Prints one JSON object: each run's id, candidates, evaluations and
winner, the thread's history, and every serializer warning logged.
"""

from __future__ import annotations

import json
import logging
import sys

from spagent_graph import Context, build_graph
from tests.scripts.savers import saver

kind, target, artifacts, cache = sys.argv[1:5]
warnings: list[str] = []


class Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warnings.append(record.getMessage())


logging.getLogger("langgraph").addHandler(Collect(level=logging.WARNING))

REQUESTS = ["a red fox running through snow", "a sailboat crossing a bay at dawn", "a cyclist racing downhill"]


graph = build_graph(checkpointer=saver(kind, target))
context = Context(registry="demo", device="cpu", artifacts_dir=artifacts, cache_dir=cache)
config = {"configurable": {"thread_id": "three-runs"}}
runs = []
for seed, text in enumerate(REQUESTS):
    request = {"request": {"text": text, "options": {"num_frames": 4, "height": 64, "width": 64, "seed": seed}}}
    result = graph.invoke(request, config, context=context)
    winner = next(c for c in result["candidates"] if c.id == result["choice"].candidate_id)
    score = next(e for e in result["evaluations"] if e.candidate_id == winner.id)
    runs.append({
        "run_id": result["run_id"], "text": result["request"].text,
        "candidates": [c.id for c in result["candidates"]],
        "videos_in_run_folder": all(f"/{result['run_id']}/" in str(c.video) for c in result["candidates"]),
        "evaluations": [e.candidate_id for e in result["evaluations"]],
        "choice": {"video": str(result["choice"].video), "overall": result["choice"].overall},
        "winner": {"video": str(winner.video), "overall": score.overall},
        "decisions": len(result["decisions"]),
    })
history = [snapshot.values.get("run_id") for snapshot in graph.get_state_history(config)]
print(json.dumps({"runs": runs, "history_run_ids": sorted({r for r in history if r}), "warnings": warnings}))
