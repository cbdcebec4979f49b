"""Runs (or resumes) one SPAgent job on a SQLite checkpoint; prints the outcome as JSON.

    python run_job.py REGISTRY ARTIFACTS CHECKPOINT_DB THREAD_ID [--resume]
"""

import json
import sys

from spagent_graph import Context, build_graph
from spagent_graph.persistence import open_checkpointer

registry, artifacts, database, thread = sys.argv[1:5]
resume = "--resume" in sys.argv
context = Context(mllm_url=None, registry=registry, artifacts_dir=artifacts, device="cpu")
with open_checkpointer(database) as saver:
    graph = build_graph(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    inputs = None if resume else {"request": {"text": "a red fox running through snow",
                                              "options": {"num_frames": 8, "height": 64, "width": 64}}}
    result = graph.invoke(inputs, config, context=context)
print(json.dumps({
    "video": str(result["choice"].video),
    "candidates": {c.id: {"video": str(c.video), "error": c.error, "reused": [s.reused for s in c.steps]}
                   for c in result["candidates"]},
}))
