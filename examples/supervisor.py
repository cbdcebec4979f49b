"""SPAgent as one agent of a team: a supervisor (`langgraph-supervisor`) that hands video
requests to it by name and answers the user from its reply.

    pip install "spagent-graph[agents]"
    python examples/supervisor.py --llm-url http://localhost:8000/v1 --llm-model Qwen/Qwen2.5-VL-7B-Instruct \\
        "Make me a short video of a red fox running through snow at dawn."

The supervisor's model is any chat model with tool calling; here one served behind an
OpenAI-compatible endpoint (vLLM with `--enable-auto-tool-choice`). The video maker is
the SPAgent graph itself: it reads the conversation's last human message and answers
with an AI message that carries the video, so no state mapping is written by hand.
"""

from __future__ import annotations

import argparse
import sys

from langgraph_supervisor import create_supervisor

from spagent_graph import Context, build_graph

PROMPT = ("You lead a small team. For any request to make or change a video, hand the conversation to "
          "video_maker, then tell the user in one sentence what was made and where the video is.")


def build_team(model):
    """A supervisor with SPAgent as its `video_maker`; `model` is the supervisor's chat model."""
    return create_supervisor([build_graph(name="video_maker")], model=model, prompt=PROMPT).compile(name="team")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("request", nargs="?", default="Make me a short video of a red fox running through snow.")
    parser.add_argument("--llm-url", required=True, help="the supervisor's OpenAI-compatible endpoint")
    parser.add_argument("--llm-model", required=True, help="the model served there")
    parser.add_argument("--registry", default="demo", help="SPAgent's tools (default: the demo tools)")
    parser.add_argument("--mllm-url", default=None, help="SPAgent's own MLLM (default: its MLLM-free planner)")
    args = parser.parse_args(argv)

    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(base_url=args.llm_url, model=args.llm_model, api_key="not-needed")
    context = Context(registry=args.registry, **({"mllm_url": args.mllm_url} if args.mllm_url else {}))
    final = build_team(model).invoke({"messages": [("user", args.request)]}, context=context)
    for message in final["messages"]:
        if "spagent" in message.response_metadata:
            print(f"video: {message.response_metadata['spagent']['video']}")
    print(final["messages"][-1].text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
