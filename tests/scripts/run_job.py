"""Runs (or resumes) one SPAgent job on a SQLite checkpoint; prints the outcome as JSON.

    python run_job.py REGISTRY ARTIFACTS CHECKPOINT_DB THREAD_ID [--resume]

The judge is the frame-statistics one; it logs "judge start" to $CALL_LOG and
waits while $JUDGE_HANG_FILE exists, so a test can kill the job while it judges.
"""

import json
import os
import sys
import time
from pathlib import Path

from spagent_graph import Context, Services, build_graph
from spagent_graph.judging import FrameStatisticsJudge
from spagent_graph.persistence import open_checkpointer


class HoldingJudge(FrameStatisticsJudge):
    def evaluate(self, candidate, request, visual):
        if os.environ.get("CALL_LOG"):
            with open(os.environ["CALL_LOG"], "a") as log:
                log.write("judge start\n")
        while Path(os.environ.get("JUDGE_HANG_FILE", "/nonexistent")).exists():
            time.sleep(0.1)
        return super().evaluate(candidate, request, visual)


registry, artifacts, database, thread = sys.argv[1:5]
resume = "--resume" in sys.argv
context = Context(registry=registry, artifacts_dir=artifacts, device="cpu")
with open_checkpointer(database) as saver:
    graph = build_graph(checkpointer=saver, services=Services(judge=HoldingJudge()))
    config = {"configurable": {"thread_id": thread}}
    inputs = None if resume else {"request": {"text": "a red fox running through snow",
                                              "options": {"num_frames": 8, "height": 64, "width": 64}}}
    result = graph.invoke(inputs, config, context=context)
print(json.dumps({
    "video": str(result["choice"].video),
    "candidates": {c.id: {"video": str(c.video), "error": c.error, "reused": [s.reused for s in c.steps]}
                   for c in result["candidates"]},
}))
