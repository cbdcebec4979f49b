"""Run the SPAgent graph once and write the candidates and a report.

    python examples/run_graph.py                         # demo tools, no MLLM, CPU
    python examples/run_graph.py --text "a dog surfing" --image dog.png
    python examples/run_graph.py --mllm-url http://localhost:8000/v1 --registry paper

With no arguments it uses the built-in demo tools (tiny random-weight
pipelines, so the videos are noise) and the MLLM-free planner, and writes
outputs/run_graph/report.html. It is `spagent run` with that output folder;
`spagent run --help` lists every option.
"""

from __future__ import annotations

import sys

from spagent_graph.apps.cli import main

DEFAULTS = ["--artifacts-dir", "outputs/run_graph", "--out", "outputs/run_graph"]


def run(argv: list[str] | None = None) -> int:
    """`spagent run` with this example's output folder; later options override it."""
    return main(["run", *DEFAULTS, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(run())
