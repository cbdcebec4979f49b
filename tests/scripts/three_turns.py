"""A conversation of three turns on one thread, with a checkpointer made the way a user makes one.

    python three_turns.py memory|sqlite FILE|postgres URL  ARTIFACTS CACHE IMAGE

Turn 1 asks in words; turn 2 is a follow-up with no visual, which refines turn 1's
video; turn 3 brings a new image (base64, as chat clients send it). Run in a process
of its own because LangGraph reads LANGGRAPH_STRICT_MSGPACK when it is imported.
Prints one JSON object: what each turn used and answered, and every serializer warning.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from spagent_graph import Context, build_graph
from tests.scripts.savers import saver

kind, target, artifacts, cache, image = sys.argv[1:6]
warnings: list[str] = []


class Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warnings.append(record.getMessage())


logging.getLogger("langgraph").addHandler(Collect(level=logging.WARNING))

picture = base64.b64encode(Path(image).read_bytes()).decode()
TURNS = [
    HumanMessage("a red fox running through snow"),
    HumanMessage("make the sky darker, at dusk"),
    HumanMessage([{"type": "text", "text": "make this parrot fly"},
                  {"type": "image", "base64": picture, "mime_type": "image/png"}]),
]

graph = build_graph(checkpointer=saver(kind, target))
context = Context(registry="demo", device="cpu", artifacts_dir=artifacts, cache_dir=cache)
config = {"configurable": {"thread_id": "three-turns"}}
turns = []
started = time.perf_counter()
for message in TURNS:
    result = graph.invoke({"messages": [message], "options": {"num_frames": 4, "height": 64, "width": 64}}, config,
                          context=context)
    answer = result["messages"][-1]
    assert isinstance(answer, AIMessage)
    turns.append({
        "run_id": result["run_id"], "visual_type": result["intent"].visual_type,
        "video_input": str(result["request"].video) if result["request"].video else None,
        "image_input": str(result["request"].image) if result["request"].image else None,
        "input": answer.response_metadata["spagent"]["input"], "text": answer.text,
        "video": answer.response_metadata["spagent"]["video"], "winner": str(result["choice"].video),
        "blocks": [block["type"] for block in answer.content],
    })
seconds = time.perf_counter() - started
messages = graph.get_state(config).values["messages"]
print(json.dumps({"turns": turns, "messages": [m.type for m in messages], "seconds": seconds, "warnings": warnings}))
