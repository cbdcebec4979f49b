"""SPAgent inside a node of a larger LangGraph graph: a film graph that writes a shot list
for a story, asks SPAgent for every shot (in parallel) and cuts the shots into one film.

    python examples/film.py "A fox wakes at dawn. It runs across the snow. It reaches the river."

    write_script -> make_shot (one branch per shot, each running the SPAgent graph) -> cut_film

State mapping, the only contract between the two graphs:

    parent Shot(index, text)        -> SPAgent input   {"request": Request(text=shot.text, options=...)}
    SPAgent output state["choice"]  -> parent ShotVideo(index, text, video, score, reason)

The SPAgent graph is invoked inside `make_shot`, so LangGraph runs it as a
subgraph: its stages stream with the parent's (`stream(..., subgraphs=True)`),
its checkpoints live under the parent's thread, and the run's `Context`
(MLLM, tools, store) is the parent's, handed down through the runtime.
"""

from __future__ import annotations

import argparse
import operator
import re
import sys
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import BaseModel

from spagent_graph import Context, GenerationOptions, Request, build_graph
from spagent_graph.media import read_frames, write_video

DEFAULT_STORY = "A red fox wakes at dawn in a snowy forest. It runs across a frozen lake. It stops at the river."


class Shot(BaseModel):
    index: int
    text: str
    options: GenerationOptions


class ShotVideo(BaseModel):
    index: int
    text: str
    video: Path | None
    score: float | None
    reason: str


class FilmState(TypedDict, total=False):
    story: str
    options: GenerationOptions
    out: str
    shots: list[Shot]
    videos: Annotated[list[ShotVideo], operator.add]  # written by parallel shots
    film: str


spagent = build_graph(name="spagent")


def write_script(state: FilmState) -> dict:
    """One shot per sentence; a real one would ask an LLM for a shot list."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", state["story"]) if s.strip()]
    if not sentences:
        raise ValueError("story: expected at least one sentence to film.")
    options = state.get("options") or GenerationOptions(num_frames=8, height=64, width=64)
    return {"shots": [Shot(index=i, text=text, options=options) for i, text in enumerate(sentences)]}


def dispatch_shots(state: FilmState) -> list[Send]:
    return [Send("make_shot", {"shot": shot}) for shot in state["shots"]]


def make_shot(state: dict, runtime: Runtime[Context]) -> dict:
    shot: Shot = state["shot"]
    result = spagent.invoke({"request": Request(text=shot.text, options=shot.options)}, context=runtime.context)
    choice = result["choice"]
    return {"videos": [ShotVideo(index=shot.index, text=shot.text, video=choice.video, score=choice.overall,
                                 reason=choice.reason)]}


def cut_film(state: FilmState) -> dict:
    shots = sorted(state["videos"], key=lambda v: v.index)
    missing = [v.text for v in shots if v.video is None]
    if missing:
        raise RuntimeError(f"no video for the shots {missing}; the made shots stay in their run folders.")
    first = read_frames(shots[0].video)
    size = first[0].size
    frames = [frame.resize(size) for shot in shots for frame in read_frames(shot.video)]
    film = Path(state.get("out") or "outputs/film") / "film.mp4"
    write_video(frames, film, fps=state["options"].fps if state.get("options") else 8)
    return {"film": str(film)}


def build_film_graph():
    builder = StateGraph(FilmState, context_schema=Context)
    builder.add_node("write_script", write_script)
    builder.add_node("make_shot", make_shot)
    builder.add_node("cut_film", cut_film)
    builder.add_edge(START, "write_script")
    builder.add_conditional_edges("write_script", dispatch_shots, ["make_shot"])
    builder.add_edge("make_shot", "cut_film")
    builder.add_edge("cut_film", END)
    return builder.compile(name="film")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("story", nargs="?", default=DEFAULT_STORY)
    parser.add_argument("--out", default="outputs/film")
    parser.add_argument("--registry", default="demo")
    parser.add_argument("--mllm-url", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    context = Context(registry=args.registry, artifacts_dir=str(Path(args.out) / "runs"), device=args.device,
                      **({"mllm_url": args.mllm_url} if args.mllm_url else {}))
    result = build_film_graph().invoke({"story": args.story, "out": args.out}, context=context)
    for shot in sorted(result["videos"], key=lambda v: v.index):
        print(f"shot {shot.index + 1}: {shot.text!r} -> {shot.video} ({shot.reason})")
    print(f"film: {result['film']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
